"""Random search drawing every distinct architecture of a dppnas space with equal probability."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from dppnas.errors import DppnasError
from dppnas.spaces import arch_key


class UniformArchitectureSearch(Searcher):
    """Random search in which every distinct architecture of ``space`` is equally likely.

    Rejection sampling: a uniform draw of the decisions is accepted with probability
    ``1 / m``, where ``m`` is the number of decision vectors that encode the same architecture
    (the product, over the decisions, of the choices that leave the architecture unchanged);
    so each architecture is accepted with the same probability. Draws are independent (an
    architecture may come again, as in any random search); the acceptance rate is the number
    of architectures over the number of decision vectors (53 % for ``dpp`` with ``max_depth``
    2). Feedback is ignored. ``seed`` makes the sequence reproducible; :meth:`save` /
    :meth:`restore` continue it exactly.

    Args:
        space: a dppnas :class:`~dppnas.spaces.SearchSpace`; trials get ``{"arch": {...}}``.
        seed: numpy seed (None: fresh entropy).
    """

    def __init__(self, space: Any, seed: int | None = None) -> None:
        super().__init__()
        self.space = space
        self._rng = np.random.default_rng(seed)
        self._encodings: dict[str, int] = {}

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        """Accept Tune's param_space when its ``arch`` domains are the space's decisions."""
        arch = config.get("arch") if isinstance(config, Mapping) else None
        names = [d.name for d in self.space.decisions]
        if arch is not None and sorted(arch) != sorted(names):
            raise DppnasError(
                f"random (sampling: architectures): param_space 'arch' has {sorted(arch)}, "
                f"but space {self.space.name} decides {names}; build it with that space"
            )
        return True

    def encodings(self, arch: Mapping[str, Any]) -> int:
        """How many decision vectors encode the architecture ``arch`` stands for."""
        canonical = self.space.encode(self.space.decode(arch))
        key = arch_key(canonical)
        if key not in self._encodings:
            count = 1
            for d in self.space.decisions:
                count *= sum(
                    self.space.encode(self.space.decode({**canonical, d.name: c})) == canonical
                    for c in d.choices
                )
            self._encodings[key] = count
        return self._encodings[key]

    def sample(self) -> dict[str, Any]:
        """One architecture (a decision dict), every architecture equally likely."""
        while True:
            arch = {
                d.name: d.choices[int(self._rng.integers(len(d.choices)))]
                for d in self.space.decisions
            }
            if self._rng.random() * self.encodings(arch) < 1.0:
                return arch

    def suggest(self, trial_id: str) -> dict[str, Any]:
        return {"arch": self.sample()}

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        """Random search learns nothing from results."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump({"rng": self._rng.bit_generator.state}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            state = json.load(f)
        self._rng.bit_generator.state = state["rng"]
