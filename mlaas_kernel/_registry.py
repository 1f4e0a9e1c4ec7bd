"""One small generic registry for pluggable backends (data sources, trackers, ...).

Plugins come from the entry-point group named at construction and are loaded only when a
name is not found among the built-in entries, one at a time, so a broken plugin cannot
break ``import mlaas_kernel`` (papermill loads its engines eagerly: we avoid that).
"""

from __future__ import annotations

import warnings
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "UnknownNameError"]


class UnknownNameError(LookupError):
    """A name that is not registered; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, valid
        choices = ", ".join(valid) if valid else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; valid names: {choices}")

    def __str__(self) -> str:  # LookupError would repr() the message
        return self.args[0]


class Registry(Generic[T]):
    """Maps names to objects of one kind.

    Parameters
    ----------
    kind:
        What the entries are, used in error messages ("data source").
    entry_point_group:
        Optional entry-point group from which third-party entries are loaded lazily.
    """

    def __init__(self, kind: str, *, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T] = {}
        self._plugins_scanned = False

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def _add(o: T) -> T:
            if name in self._entries and self._entries[name] is not o:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = o
            return o

        return _add if obj is None else _add(obj)

    def get(self, name: str) -> T:
        """Return the entry called ``name``, loading plugins if needed."""
        if name in self._entries:
            return self._entries[name]
        self._load_plugin(name)
        if name in self._entries:
            return self._entries[name]
        raise UnknownNameError(self.kind, name, self.names())

    def names(self) -> list[str]:
        """Sorted names of the built-in entries and of the installed plugins."""
        return sorted(set(self._entries) | set(self._plugin_names()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._entries or name in self._plugin_names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _entry_points(self):
        if not self.entry_point_group:
            return []
        from importlib.metadata import entry_points

        return list(entry_points(group=self.entry_point_group))

    def _plugin_names(self) -> list[str]:
        return [ep.name for ep in self._entry_points()]

    def _load_plugin(self, name: str) -> None:
        for ep in self._entry_points():
            if ep.name != name:
                continue
            try:
                self.register(name, ep.load())
            except Exception as exc:  # a third-party plugin may fail in any way
                warnings.warn(
                    f"{self.kind} plugin {name!r} ({ep.value}) failed to load: {exc}",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return
