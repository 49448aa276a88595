"""Components chosen by name: one registry per kind (distance, norm, optimiser, ...).

A component is one decorated function or class:

    DISTANCES = Registry("distance", binding="LossSpec.distance")

    @DISTANCES.register("cauchy")
    def cauchy(x, y, c, reduction="sum"): ...

and a row selects it with one gin binding (`LossSpec.distance = 'cauchy'`). `DISTANCES['cauchy']`
returns the object itself. repro/specs.py keeps the valid names torch-free (CHOICES) so a row is
checked before anything is built; tests/test_specs_validate.py checks both lists agree.

Plain Python on purpose: the torch-free modules (curricula) use it too.
"""
from __future__ import annotations

from repro.io import ReproError


class UnknownName(ReproError, ValueError):
    """A name no component of this kind is registered under (printed as one line by the CLI)."""


class Registry:
    def __init__(self, kind: str, binding: str | None = None):
        self.kind = kind                       # what the components are, for messages
        self.binding = binding or kind         # the setting that names one, e.g. 'LossSpec.distance'
        self._items: dict = {}

    def register(self, name: str):
        """Decorator: file the function or class under `name` and return it unchanged."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} registry: a name is a non-empty string, not {name!r}")

        def deco(obj):
            if name in self._items:
                raise ValueError(f"{self.kind} registry: {name!r} is registered twice")
            self._items[name] = obj
            return obj
        return deco

    def __getitem__(self, name):
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownName(f"{self.binding}={name!r}: unknown {self.kind}; use one of "
                              f"{', '.join(map(repr, self._items))}") from None

    def __contains__(self, name) -> bool:
        try:
            return name in self._items
        except TypeError:
            return False

    def __iter__(self):
        return iter(tuple(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"
