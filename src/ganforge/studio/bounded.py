"""The studio's bounded caches (models, datasets, direction sets, projections, game rounds, stream tickets): at most
`capacity` entries, the least recently used dropped first. Not locked: each owner holds its own lock around it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TypeVar

V = TypeVar("V")


class Bounded(OrderedDict):
    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity  # entries kept

    def remember(self, key: Hashable, value: V) -> V:
        """Store `value` as the most recently used entry, dropping the oldest beyond `capacity`; returns `value`."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value

    def recall(self, key: Hashable) -> V | None:
        """The entry of `key` (now the most recently used), or None."""
        if key not in self:
            return None
        self.move_to_end(key)
        return self[key]
