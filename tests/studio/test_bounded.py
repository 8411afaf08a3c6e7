"""The studio's one bounded cache (studio/bounded.py): at most `capacity` entries, least recently used dropped."""

from ganforge.studio.bounded import Bounded


def test_the_least_recently_used_entry_is_dropped_first():
    cache = Bounded(2)
    assert cache.remember("a", 1) == 1 and cache.remember("b", 2) == 2
    assert cache.recall("a") == 1  # "a" is now the most recently used
    cache.remember("c", 3)
    assert list(cache) == ["a", "c"] and cache.recall("b") is None
    cache.remember("a", 4)  # storing again refreshes it too
    cache.remember("d", 5)
    assert dict(cache) == {"a": 4, "d": 5}
