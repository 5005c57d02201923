"""The :class:`Registry` type: named components, after timm's. Each registry lives beside
the base type of what it names, below :mod:`dppnas.config` (which reads them; none imports it):

* ``SPACES`` (search spaces): :mod:`dppnas.spaces.base`;
* ``DATASETS``: :mod:`dppnas.data.splits`;
* ``DEVICE_KINDS`` (device models): :mod:`dppnas.devices`;
* ``SCHEDULERS``: :mod:`dppnas.tuning.schedulers`;
* ``SEARCHERS``: :mod:`search_algos.registry`;
* ``OPS`` and ``NORMS`` (the networks' layers): :mod:`dppnas.nn.ops`;
* ``SIGNATURE_COVERS`` (networks that cover a space's layer signatures):
  :mod:`dppnas.profiling.coverage`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from dppnas.errors import ConfigError, short_repr

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a name to a component; ``kind`` names the component in error messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``."""

        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str, where: str = "") -> T:
        """The component called ``name``; a :class:`ConfigError` listing the known names otherwise."""
        prefix = f"{where}: " if where else ""
        available = ", ".join(self.names())
        if not isinstance(name, str):  # e.g. `kind: [roofline]` in YAML
            raise ConfigError(
                f"{prefix}expected a {self.kind} name, got {short_repr(name)}; "
                f"available: {available}"
            )
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"{prefix}unknown {self.kind} {short_repr(name)}; available: {available}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
