"""The contract MONAS and DPP-Net share as Ray Tune searchers (DESIGN sections 3 and 7).

:class:`MultiObjectiveSearcher` holds what both do the same way:

* ``metric`` / ``mode`` are aligned lists (Tune's ``TuneConfig`` metric/mode stay None: Tune
  rejects lists there), validated once by :func:`as_lists`;
* a result becomes the objective values in one place (:meth:`metric_values`,
  :meth:`objective_vector`): nested dicts flatten to ``latency/<device>`` as Tune writes them,
  and only finite numbers count;
* the rule for a result whose ``final`` is false (:func:`is_final`): a scheduler stopped the
  trial early, so its metrics are low-fidelity, not the architecture's value; a result without
  ``final`` comes from a trainable that does not use the convention and counts as final;
* equivalent architectures (:meth:`arch_key`): a user ``arch_key(config)`` callable, the
  canonical encoding of a dppnas space (:class:`SpaceArchKey`), or the config itself, so that
  neither searcher suggests an architecture it has already evaluated;
* one checkpoint format: :meth:`save` pickles ``{"searcher", "format", "state"}`` with the
  subclass's :meth:`get_state`, and :meth:`restore` hands the state to :meth:`set_state`.

User errors (bad arguments, a param_space a searcher cannot search) raise
:class:`~dppnas.errors.DppnasError`.
"""

from __future__ import annotations

import json
import math
import numbers
import pickle
from abc import abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ray.tune.search import Searcher

from dppnas.errors import DppnasError
from dppnas.pareto.archive import flatten_metrics

#: ``arch_key(config) -> key``: equal keys for configs of the same network
ArchKey = Callable[[Mapping[str, Any]], Hashable]


def as_lists(
    metric: str | Sequence[str] | None, mode: str | Sequence[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """``metric`` / ``mode`` as aligned lists; one mode string applies to every metric."""
    if metric is None:
        if mode is not None:
            raise DppnasError("mode was given without metric: pass metric=[...] as well")
        return None, None
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if mode is None:
        raise DppnasError("metric was given without mode: pass mode=['max' | 'min', ...]")
    modes = [mode] * len(metrics) if isinstance(mode, str) else list(mode)
    if len(modes) != len(metrics):
        raise DppnasError(
            f"mode needs one entry per metric ({len(metrics)}: {metrics}), got {len(modes)}"
        )
    bad = [m for m in modes if m not in ("min", "max")]
    if bad:
        raise DppnasError(f"mode entries must be 'min' or 'max', got {bad}")
    if len(set(metrics)) != len(metrics):
        raise DppnasError(f"metric lists a metric twice: {metrics}")
    return metrics, modes


def accuracy_metric_of(
    metrics: Sequence[str], modes: Sequence[str], given: str | None = None
) -> str:
    """The accuracy a surrogate predicts: ``given``, or the one metric whose mode is ``max``;
    a :class:`DppnasError` naming the candidates when none or several are maximised."""
    maximised = [m for m, o in zip(metrics, modes, strict=True) if o == "max"]
    if given is not None:
        if given not in metrics:
            raise DppnasError(f"accuracy_metric {given!r} is not among the metrics {list(metrics)}")
        if given not in maximised:
            raise DppnasError(f"accuracy_metric {given!r} must be maximised (mode 'max')")
        return given
    if len(maximised) == 1:
        return maximised[0]
    if not maximised:
        raise DppnasError(
            f"the accuracy to predict is the metric whose mode is 'max'; none of "
            f"{list(metrics)} is maximised"
        )
    raise DppnasError(
        f"one accuracy is predicted, but {', '.join(maximised)} are all maximised: name the "
        f"one to predict with accuracy_metric=... (the others count as costs)"
    )


def is_final(result: Mapping[str, Any]) -> bool:
    """Whether ``result`` is the architecture's value: ``final`` true, or absent (a trainable
    that does not use the convention reports its value once). A scheduler-stopped trial's
    last result has ``final`` false: low-fidelity."""
    return bool(result.get("final", True))


def config_key(config: Mapping[str, Any]) -> str:
    """A config as sorted JSON (non-JSON values by ``repr``): one key per distinct config."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=repr)


@dataclass(frozen=True)
class SpaceArchKey:
    """The key of a config's ``"arch"`` in a dppnas space's canonical encoding
    (``encode(decode(arch))``: unused decisions reset, equivalent encodings merged), as sorted
    JSON. A dataclass, not a closure: Tune pickles searchers."""

    space: Any

    def __call__(self, config: Mapping[str, Any]) -> str:
        return config_key(self.space.encode(self.space.decode(config["arch"])))


class MultiObjectiveSearcher(Searcher):
    """A Tune ``Searcher`` over several objectives; see the module docstring.

    Subclasses implement :meth:`get_state` / :meth:`set_state` (plain picklable data) and the
    Tune methods; they call :meth:`take_tune_metric` from ``set_search_properties``.
    """

    #: the version of the subclass's state layout, checked on restore
    STATE_FORMAT: ClassVar[int] = 1

    def __init__(
        self,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        arch_key: ArchKey | None = None,
    ) -> None:
        metrics, modes = as_lists(metric, mode)
        super().__init__(metric=metrics, mode=modes)
        if arch_key is not None and not callable(arch_key):
            raise DppnasError(f"arch_key must be a callable config -> key, got {arch_key!r}")
        self._user_arch_key = arch_key
        self._space_arch_key: ArchKey | None = None

    # --- metrics ------------------------------------------------------------------------------

    @property
    def metrics(self) -> list[str]:
        """The objectives' metrics, in order (empty until known)."""
        return list(self._metric or [])

    @property
    def modes(self) -> list[str]:
        """``"max"`` / ``"min"`` per metric."""
        return list(self._mode or [])

    def take_tune_metric(self, metric: str | None, mode: str | None) -> bool:
        """Tune's metric/mode when the searcher has none; False when they conflict with its
        own (Tune's convention for ``set_search_properties``)."""
        if metric is None and mode is None:
            return True
        metrics, modes = as_lists(metric or self._metric, mode or self._mode)
        if self._metric is not None and metrics != self._metric:
            return False
        if self._mode is not None and modes != self._mode:
            return False
        self._metric, self._mode = metrics, modes
        return True

    def metric_values(self, result: Mapping[str, Any]) -> dict[str, float]:
        """The objectives' finite values found in ``result`` (nested dicts flattened)."""
        flat = flatten_metrics(result)
        values = {}
        for name in self.metrics:
            value = flat.get(name)
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if real and math.isfinite(value):
                values[name] = float(value)
        return values

    def objective_vector(self, result: Mapping[str, Any]) -> list[float] | None:
        """Every objective's value in order, or None when one is missing or not finite."""
        values = self.metric_values(result)
        if len(values) < len(self.metrics):
            return None
        return [values[m] for m in self.metrics]

    # --- equivalent architectures ---------------------------------------------------------------

    def use_space_arch_key(self, space: Any) -> None:
        """Key architectures by ``space``'s canonical encoding (unless the user gave one)."""
        self._space_arch_key = None if space is None else SpaceArchKey(space)

    def arch_key(self, config: Mapping[str, Any]) -> Hashable:
        """The key of the architecture ``config`` (a suggestion: the searched decisions)."""
        if self._user_arch_key is not None:
            return self._user_arch_key(config)
        if self._space_arch_key is not None and "arch" in config:
            return self._space_arch_key(config)
        return config_key(config)

    # --- checkpoints ----------------------------------------------------------------------------

    @abstractmethod
    def get_state(self) -> dict[str, Any]:
        """Everything a restored searcher needs to continue identically (picklable)."""

    @abstractmethod
    def set_state(self, state: dict[str, Any]) -> None:
        """Load what :meth:`get_state` returned."""

    def save(self, checkpoint_path: str) -> None:
        """The searcher's state, pickled (the one format of every dppnas searcher)."""
        payload = {
            "searcher": type(self).__name__,
            "format": self.STATE_FORMAT,
            "state": self.get_state(),
        }
        with open(checkpoint_path, "wb") as f:
            pickle.dump(payload, f)

    def restore(self, checkpoint_path: str) -> None:
        """Load a :meth:`save` checkpoint; with the same results fed, the suggestions that
        follow are exactly the saved searcher's."""
        with open(checkpoint_path, "rb") as f:
            payload = pickle.load(f)
        if not isinstance(payload, dict) or "state" not in payload:
            raise DppnasError(f"{checkpoint_path} is not a dppnas searcher checkpoint")
        if payload.get("format") != self.STATE_FORMAT:
            raise DppnasError(
                f"{checkpoint_path}: {payload.get('searcher')} checkpoint format "
                f"{payload.get('format')!r}, this {type(self).__name__} reads "
                f"{self.STATE_FORMAT}"
            )
        self.set_state(payload["state"])
