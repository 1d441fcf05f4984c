"""The memory store's profile table: least recently used out past its size, entries past their
deadline gone for every reader and swept as writes come, a replaced entry's old deadline never
taking the new one with it, and the heap of deadlines kept bounded."""

from __future__ import annotations

from opmaat.expiring_lru import ExpiringLRU


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_goes_first() -> None:
    table: ExpiringLRU[str] = ExpiringLRU(2, Clock())
    table["a"] = ("A", 2000.0)
    table["b"] = ("B", 2000.0)
    assert table.get("a") == ("A", 2000.0)  # a is now the most recently used
    assert table.peek("b") == ("B", 2000.0)  # a peek does not count as a use
    table["c"] = ("C", 2000.0)
    assert sorted(table.keys()) == ["a", "c"]
    assert len(table) == 2


def test_past_its_deadline_an_entry_is_gone_for_every_reader() -> None:
    clock = Clock()
    table: ExpiringLRU[str] = ExpiringLRU(10, clock)
    table["a"] = ("A", 1010.0)
    table["b"] = ("B", 1100.0)
    clock.now = 1010.0
    assert table.get("a") is None
    assert table.peek("b") == ("B", 1100.0)
    assert "b" in table
    clock.now = 1100.0
    assert "b" not in table
    assert table.peek("b") is None
    assert table.pop("b") is None
    assert list(table.values()) == []
    assert len(table) == 0


def test_writes_sweep_what_expired_and_a_replaced_deadline_keeps_the_new_entry() -> None:
    clock = Clock()
    table: ExpiringLRU[str] = ExpiringLRU(10, clock)
    table["a"] = ("A", 1010.0)
    table["a"] = ("A2", 1200.0)  # a longer life: the first deadline must not take it
    table["b"] = ("B", 1020.0)
    clock.now = 1050.0
    table["c"] = ("C", 1300.0)  # this write sweeps b
    assert dict(table.items()) == {"a": ("A2", 1200.0), "c": ("C", 1300.0)}
    assert len(table._items) == 2  # b is really gone, not only hidden


def test_the_heap_of_deadlines_stays_bounded_under_rewrites() -> None:
    table: ExpiringLRU[int] = ExpiringLRU(100, Clock())
    for n in range(10_000):
        table["same"] = (n, 5000.0 + n)
    assert len(table._deadlines) <= 2 * len(table) + 65
    assert table["same"] == (9_999, 14_999.0)
    table.clear()
    assert len(table) == 0
