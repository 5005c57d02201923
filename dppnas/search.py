"""``dppnas search``: load data, start (or join) Ray, run the Tuner, print the Pareto front."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from dppnas.config import Experiment
from dppnas.data import load_dataset
from dppnas.errors import DppnasError, short_repr
from dppnas.paths import check_output_folder

#: exit code of a search stopped by Ctrl-C (128 + SIGINT)
EXIT_INTERRUPTED = 130
#: seconds to wait for a Ray cluster's address to answer before giving up
CONNECT_TIMEOUT_S = 10.0
#: the experiment as it was started, in the run folder; ``--resume`` compares against it
EXPERIMENT_FILE = "experiment.json"


def check_address(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse a ``HOST:PORT`` (or ``ray://HOST:PORT``) where nothing answers within ``timeout``
    seconds: Ray itself retries such an address forever. ``auto`` is left to Ray (it fails
    at once when no cluster runs here)."""
    if not address or address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise DppnasError(f"--address {address}: expected 'auto' or HOST:PORT, e.g. 10.0.0.1:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise DppnasError(
            f"--address {address}: nothing answers there within {timeout:g} s "
            f"({err.strerror or err}); start a cluster with `ray start --head` or `ray up "
            f"cluster.yaml`, or check the address"
        ) from None


def init_ray(address: str | None, verbose: bool = False) -> bool:
    """Join the cluster at ``address`` ('auto', HOST:PORT; default ``$RAY_ADDRESS``, which
    ``ray job submit`` sets) or start a Ray of our own; returns whether a cluster was joined.

    Worker logs reach the terminal only with ``verbose``; errors still surface through Tune.
    """
    import ray

    # Cheap trials checkpoint often; Tune's snapshot-frequency warning is noise for us.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    address = address or os.environ.get("RAY_ADDRESS") or None
    if ray.is_initialized():
        return address is not None
    check_address(address)
    hide_token_notice()
    try:
        ray.init(
            # without an address a Ray of our own: Ray would otherwise join any cluster it
            # finds running on this machine, another user's included
            address=address or "local",
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=verbose,
        )
    except ConnectionError as err:
        raise DppnasError(
            f"--address {address}: cannot connect to a Ray cluster ({err}); "
            f"start one with `ray start --head` or `ray up cluster.yaml`"
        ) from None
    return address is not None


def _drop_token_enabled_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Token authentication is enabled")


def hide_token_notice() -> None:
    """Drop Ray's notice, on every start, that token authentication is on (the safe default,
    which we keep); its warning that authentication is *off* still shows."""
    logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if _drop_token_enabled_notice not in logger.filters:
        logger.addFilter(_drop_token_enabled_notice)


def _drop_tune_resume_hint(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Experiment has been interrupted")


class SigintWatch:
    """Within a ``with`` block, notes whether SIGINT (Ctrl-C) arrived, whatever Python
    handler ran for it: Tune installs its own, which ends the run and returns normally.

    Uses :func:`signal.set_wakeup_fd` (the signal's number is written to a socket as it
    arrives); off the main thread, where that is not possible, it never reports one.
    """

    def __init__(self) -> None:
        self.seen = False
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._previous = -1

    def __enter__(self) -> SigintWatch:
        if threading.current_thread() is threading.main_thread():
            read, write = socket.socketpair()
            read.setblocking(False)
            write.setblocking(False)
            self._previous = signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
            self._sockets = (read, write)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sockets is None:
            return
        read, write = self._sockets
        try:
            while data := read.recv(512):
                self.seen |= signal.SIGINT in data
        except BlockingIOError:
            pass
        finally:
            signal.set_wakeup_fd(self._previous)
            read.close()
            write.close()


def fit_quietly(tuner: Any, verbose: bool) -> Any:
    """``tuner.fit()``; without ``verbose``, Tune's own output is off entirely: its new output
    engine prints a boxed configuration and a ``tensorboard --logdir /tmp/ray/session_...``
    hint even at ``verbose=0`` (our progress line and the run folder's TensorBoard logs
    replace them). The legacy engine, which honours ``verbose=0``, is used for the fit."""
    if verbose:
        return tuner.fit()
    previous = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # after Ctrl-C, Tune's "Resume experiment with: Tuner.restore(...)": ours names --resume
    tune_log = logging.getLogger("ray.tune.tune")
    tune_log.addFilter(_drop_tune_resume_hint)
    try:
        return tuner.fit()
    finally:
        tune_log.removeFilter(_drop_tune_resume_hint)
        if previous is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = previous


def check_resources(experiment: Experiment, joined: bool, stream: TextIO) -> None:
    """Refuse per-trial resources that no node of the Ray cluster has: Tune would wait for
    them forever, warning every minute. On a joined cluster (``--address``) an autoscaler
    may still add such a node, so there it is only a warning line."""
    import ray

    need = {"CPU": experiment.resources.cpu, "GPU": experiment.resources.gpu}
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(node.get(k, 0.0) >= v for k, v in need.items()) for node in nodes):
        return
    largest = max(nodes, key=lambda n: (n.get("CPU", 0.0), n.get("GPU", 0.0)), default={})
    message = (
        f"resources: a trial asks for {need['CPU']:g} CPU and {need['GPU']:g} GPU, but no "
        f"node of the Ray cluster has that much (largest: {largest.get('CPU', 0.0):g} CPU, "
        f"{largest.get('GPU', 0.0):g} GPU)"
    )
    if not joined:
        raise DppnasError(f"{message}; lower resources.cpu / resources.gpu")
    print(f"warning: {message}; trials wait until the autoscaler adds such a node", file=stream)


def check_devices(experiment: Experiment, input_shape: tuple[int, int, int]) -> None:
    """Refuse devices that cannot cost a network of this dataset (a latency table profiled
    at another input size), before any trial fails on it."""
    from dppnas.devices import make_device

    for name, options in experiment.device_options.items():
        check = getattr(make_device(name, options), "check_input_shape", None)
        if check is not None:
            try:
                check(tuple(input_shape))
            except DppnasError as err:
                raise DppnasError(f"devices.{name}: {err}") from None


def _experiment_record(experiment: Experiment) -> dict[str, Any]:
    """What must stay the same for a run to be resumed (where it is stored may change)."""
    return experiment.model_dump(mode="json", exclude={"name", "storage_path"})


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            inner = f"{where}.{key}" if where else str(key)
            found += _differences(old.get(key), new.get(key), inner)
        return found
    if old != new:
        return [f"{where}: {short_repr(old, 30)} -> {short_repr(new, 30)}"]
    return []


def check_resumable(experiment: Experiment, run_dir: Path) -> None:
    """Refuse to ``--resume`` a run with an experiment other than the one it started with
    (Tune would resume the old one, ignore the new ``num_samples``, or fail later). Runs
    started before this record existed are resumed as they are."""
    record = run_dir / EXPERIMENT_FILE
    if not record.is_file():
        return
    try:
        started = json.loads(record.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return
    changed = _differences(started, _experiment_record(experiment))
    if changed:
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        raise DppnasError(
            f"--resume: the experiment differs from the one {run_dir} started with: "
            f"{'; '.join(changed[:3])}{more}; resume with the same experiment and options, or "
            f"start a new run without --resume"
        )


def save_experiment_record(experiment: Experiment, run_dir: Path) -> None:
    from dppnas.atomic import atomic_writer

    with atomic_writer(run_dir / EXPERIMENT_FILE) as handle:
        json.dump(_experiment_record(experiment), handle, indent=1)


def run_search(
    experiment: Experiment,
    address: str | None = None,
    resume: bool = False,
    verbose: bool = False,
    stream: TextIO | None = None,
    trainable: Any = None,
    callbacks: Sequence[Any] = (),
) -> int:
    """Run the experiment end to end; returns the exit code: 0, 1 when no trial finished,
    130 when stopped by Ctrl-C (the run can be resumed).

    ``trainable`` replaces the experiment's (real training) trainable, e.g. a benchmark
    table's :class:`~dppnas.bench.replay.TabularTrainable`; a resumed run needs the same one.
    ``callbacks`` are Tune callbacks added after the progress line and the archive (a resumed
    run keeps the callbacks it started with: Tune restores them with the run).

    The run's Pareto archive (``pareto.json``, ``pareto.csv``, ``pareto.png`` and TensorBoard
    scalars under ``search/``) is kept by :class:`ParetoArchiveCallback`; on ``resume`` Tune
    restores that callback with the run, and it reloads the archive from ``pareto.json``.
    """
    from dppnas.tuning.archive_callback import ARCHIVE_FILE, ParetoArchiveCallback
    from dppnas.tuning.front import completed, format_table, load_run_archive
    from dppnas.tuning.progress import ProgressCallback
    from dppnas.tuning.tuner import build_tuner, next_free_run_name, restore_tuner

    out = stream or sys.stdout
    storage = experiment.storage_dir()
    remote = experiment.remote_storage
    check_output_folder(storage, "storage_path")
    if resume and not remote:
        check_resumable(experiment, experiment.run_dir())
    data = load_dataset(experiment.dataset)
    check_devices(experiment, data.input_shape)
    print(f"dataset: {data.describe()}", file=out)
    space = experiment.search_space
    print(f"space: {space.name} ({space.size()} architectures)", file=out)
    joined = init_ray(address, verbose)
    check_resources(experiment, joined=joined, stream=out)

    if resume:
        run_name = experiment.name
        tuner = restore_tuner(experiment, data, experiment.run_dir(), trainable=trainable)
    else:
        # remote storage (s3://...): Tune's own folder name; the archive is written to Tune's
        # driver staging folder, which Tune uploads with the run
        run_name = experiment.name if remote else next_free_run_name(storage, experiment.name)
        run_callbacks = [
            ProgressCallback(experiment.objectives, experiment.num_samples, stream=out),
            ParetoArchiveCallback(
                experiment.objectives, path=None if remote else storage / run_name
            ),
            *callbacks,
        ]
        tuner = build_tuner(
            experiment, data, run_name, run_callbacks, verbose=verbose, trainable=trainable
        )
        if not remote:
            save_experiment_record(experiment, storage / run_name)
    run_dir = storage / run_name
    print(
        f"results: {experiment.run_location(run_name) if remote else run_dir}", file=out, flush=True
    )
    with SigintWatch() as ctrl_c:
        results = fit_quietly(tuner, verbose)

    # with remote storage the archive is rebuilt here from Tune's results
    archive = load_run_archive(run_dir / ARCHIVE_FILE, experiment.objectives, results)
    front = archive.front()
    everything = archive.entries + archive.partial
    finished = sum(e.final for e in everything)
    stopped = len(everything) - finished
    errored = sum(1 for r in results if r.error is not None)
    # after Ctrl-C, the trials cut short (Ray marks them terminated all the same; their last
    # result is neither ``done`` nor ``final``): --resume continues them
    interrupted = (
        sum(1 for r in results if r.error is None and not completed(r.metrics or {}))
        if ctrl_c.seen
        else 0
    )
    early = f"{stopped} stopped early, " if stopped else ""
    cut = f"{interrupted} interrupted, " if ctrl_c.seen else ""
    print(
        f"\n{finished} trials finished, {early}{cut}{errored} errored; Pareto front "
        f"({len(front)} non-dominated, hypervolume {archive.hypervolume():.4g}) over "
        f"{', '.join(o.metric for o in experiment.objectives)}:",
        file=out,
    )
    print(format_table(front, experiment.objectives, describe=space.describe), file=out)
    where = experiment.run_location(run_name) if remote else run_dir
    print(f"\nresults: {where}   (tensorboard --logdir {where})", file=out, flush=True)
    if ctrl_c.seen:
        print(
            f"interrupted: continue with `dppnas search EXPERIMENT --resume --name {run_name}"
            f"{'' if remote else f' --storage {storage}'}`",
            file=out,
            flush=True,
        )
        return EXIT_INTERRUPTED
    return 0 if finished else 1
