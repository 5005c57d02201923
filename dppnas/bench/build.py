"""``dppnas bench build``: train EVERY architecture of a reduced space once, into a table.

Resumable: progress lives in ``data/table_builds/NAME/`` (``spec.json``, ``latency.jsonl``,
``results.jsonl``, one JSON line per finished architecture, appended and fsynced), so a
stopped build continues where it left off and recomputes nothing. When every architecture
is done, the table is compiled to ``dppnas/bench/data/NAME.json.gz``.

Latency is measured in a separate pass in this one process (threads=1, batch 1), round-robin
over the architectures for several rounds, so that transient load hits many architectures
once rather than one architecture always; the median of the rounds is the table's value and
the spread of the rounds is recorded.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dppnas.atomic import atomic_writer
from dppnas.config import TrainOptions, folder_name
from dppnas.data import DataOptions, load_dataset
from dppnas.devices import make_device
from dppnas.errors import DppnasError
from dppnas.jsonl import append_line, read_lines
from dppnas.nn import deploy
from dppnas.paths import check_output_folder
from dppnas.spaces import arch_key, enumerate_architectures, make_space

DATA_DIR = Path(__file__).parent / "data"
BUILD_ROOT = Path("data/table_builds")
FORMAT_VERSION = 1


class TableSpec(BaseModel):
    """The recipe of one table: space, data, training, latency measurement."""

    model_config = ConfigDict(extra="forbid")
    name: str
    space: dict[str, Any]
    dataset: DataOptions
    train: TrainOptions
    seed: int = 0
    latency_rounds: int = Field(3, ge=1)
    latency_threads: int = Field(1, ge=1)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        return folder_name(value)  # the build folder and the table file are named after it


def machine_info() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class TableBuild:
    """One table's build folder and its progress."""

    def __init__(self, spec: TableSpec, root: Path = BUILD_ROOT) -> None:
        self.spec = spec
        self.dir = root / spec.name
        self.space = make_space(spec.space)
        self.archs = enumerate_architectures(self.space)
        self.keys = [arch_key(a) for a in self.archs]
        check_output_folder(self.dir, "bench build --name")
        self.data = load_dataset(spec.dataset)  # missing data fails here, before any write
        self.dir.mkdir(parents=True, exist_ok=True)
        spec_file = self.dir / "spec.json"
        current = spec.model_dump(mode="json")
        if spec_file.exists():
            try:
                previous = json.loads(spec_file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                raise DppnasError(
                    f"bench build {spec.name}: {spec_file} is unreadable; remove it to start "
                    f"the build's recipe again (finished architectures are kept)"
                ) from None
            if previous != current:
                raise DppnasError(
                    f"bench build {spec.name}: {spec_file} holds a different recipe; use another "
                    f"--name, or the same options as before to resume"
                )
        else:
            # whole or absent: a build killed while writing it must still resume
            with atomic_writer(spec_file) as handle:
                json.dump(current, handle, indent=1)

    @property
    def latency_file(self) -> Path:
        return self.dir / "latency.jsonl"

    @property
    def results_file(self) -> Path:
        return self.dir / "results.jsonl"

    def latencies(self) -> dict[str, list[float]]:
        rounds: dict[str, list[float]] = {}
        for r in read_lines(self.latency_file):
            rounds.setdefault(r["key"], []).append(r["latency_ms"])
        return rounds

    def results(self) -> dict[str, dict[str, Any]]:
        return {r["key"]: r for r in read_lines(self.results_file)}

    def measure_latency(self, log=print) -> None:
        """Round-robin latency rounds for every architecture still short of rounds."""
        import torch

        device = make_device(
            "local-cpu", {"kind": "measured", "threads": self.spec.latency_threads}
        )
        shape, classes = self.data.input_shape, self.data.num_classes
        done = self.latencies()
        for round_ in range(self.spec.latency_rounds):
            todo = [
                (a, k)
                for a, k in zip(self.archs, self.keys, strict=True)
                if len(done.get(k, [])) <= round_
            ]
            if not todo:
                continue
            log(f"latency round {round_ + 1}/{self.spec.latency_rounds}: {len(todo)} architectures")
            for arch, key in todo:
                torch.manual_seed(0)
                model = deploy(self.space.build(arch, shape, classes))
                ms = device.latency_ms(model, shape)
                append_line(self.latency_file, {"key": key, "round": round_, "latency_ms": ms})

    def train_all(self, workers: int, log=print) -> None:
        """Train every architecture without a result, ``workers`` at a time, through Ray."""
        import ray

        done = self.results()
        todo = [a for a, k in zip(self.archs, self.keys, strict=True) if k not in done]
        log(f"training: {len(done)} done, {len(todo)} to go, {workers} at a time")
        if not todo:
            return
        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        data_ref = ray.put(self.data)
        task = ray.remote(num_cpus=1, max_retries=2)(train_one)
        spec = self.spec.model_dump(mode="json")
        pending: dict[Any, dict[str, Any]] = {}
        queue = list(todo)
        start, finished = time.monotonic(), 0
        while queue or pending:
            while queue and len(pending) < workers:
                arch = queue.pop(0)
                pending[task.remote(arch, spec, data_ref)] = arch
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                arch = pending.pop(ref)
                record = ray.get(ref)
                append_line(self.results_file, {"key": arch_key(arch), **record})
                finished += 1
                rate = (time.monotonic() - start) / finished
                log(
                    f"[{len(done) + finished}/{len(self.archs)}] {self.space.describe(arch)}: "
                    f"val {record['val_accuracy'][-1]:.4f}  ({rate * (len(queue) + len(pending)) / 60:.0f} min left)"
                )

    def compile(self, out_dir: Path = DATA_DIR) -> Path:
        """Write ``OUT_DIR/NAME.json.gz`` (default: the package's data) once all are done."""
        results, latencies = self.results(), self.latencies()
        missing = [k for k in self.keys if k not in results]
        short = [k for k in self.keys if len(latencies.get(k, [])) < self.spec.latency_rounds]
        if missing or short:
            raise DppnasError(
                f"bench build {self.spec.name}: {len(missing)} architectures untrained and "
                f"{len(short)} without latency; run the build again to finish it"
            )
        entries = []
        spreads = []
        for arch, key in zip(self.archs, self.keys, strict=True):
            rounds = latencies[key][: self.spec.latency_rounds]
            median = statistics.median(rounds)
            spreads.append((max(rounds) - min(rounds)) / median)
            r = results[key]
            entries.append(
                {
                    "arch": arch,
                    "val_accuracy": r["val_accuracy"],
                    "test_accuracy": r["test_accuracy"],
                    "params": r["params"],
                    "flops": r["flops"],
                    "latency_ms": median,
                    "train_seconds": r["train_seconds"],
                }
            )
        final_acc = [e["val_accuracy"][-1] for e in entries]
        lat = [e["latency_ms"] for e in entries]
        table = {
            "format": FORMAT_VERSION,
            "name": self.spec.name,
            "recipe": self.spec.model_dump(mode="json"),
            "machine": machine_info(),
            "date": dt.date.today().isoformat(),
            "seed": self.spec.seed,
            "objectives": [
                {"metric": "accuracy", "mode": "max", "ref": round(min(final_acc), 4)},
                {"metric": "latency/local-cpu", "mode": "min", "ref": round(max(lat), 4)},
            ],
            "latency_spread_median": statistics.median(spreads),
            "entries": entries,
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{self.spec.name}.json.gz"
        # no time stamp or file name in the gzip header: the same build gives the same bytes
        with (
            atomic_writer(out, binary=True) as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as f,
        ):
            f.write(json.dumps(table, separators=(",", ":")).encode())
        return out


def train_one(arch: dict[str, Any], spec: dict[str, Any], data: Any) -> dict[str, Any]:
    """Train one architecture with the table's recipe (a Ray task; one CPU)."""
    import torch

    from dppnas.complexity import count_flops, count_params
    from dppnas.train import Trainer

    torch.set_num_threads(1)
    options = TrainOptions.model_validate(spec["train"])
    torch.manual_seed(spec["seed"])
    model = make_space(spec["space"]).build(arch, data.input_shape, data.num_classes)
    deployed = deploy(model)
    params, flops = count_params(deployed), count_flops(deployed, data.input_shape)
    trainer = Trainer(model, data, options, device=torch.device("cpu"), seed=spec["seed"])
    start = time.perf_counter()
    val = []
    for _ in range(options.epochs):
        trainer.train_epoch()
        val.append(trainer.evaluate("val"))
    return {
        "val_accuracy": val,
        "test_accuracy": trainer.evaluate("test"),
        "params": params,
        "flops": flops,
        "train_seconds": time.perf_counter() - start,
    }


def run_build(spec: TableSpec, workers: int = 2, compile_only: bool = False) -> Path:
    """Latency pass, training pass, then compile; returns the table path when complete."""
    build = TableBuild(spec)
    print(
        f"bench build {spec.name}: {len(build.archs)} architectures of space {build.space.name}",
        flush=True,
    )
    if not compile_only:
        build.measure_latency(log=lambda m: print(m, flush=True))
        build.train_all(workers, log=lambda m: print(m, flush=True))
    out = build.compile()
    print(f"table written: {out} ({out.stat().st_size / 1e6:.2f} MB)", flush=True)
    return out
