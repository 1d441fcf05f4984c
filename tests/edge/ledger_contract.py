"""What every cockpit ledger promises (files beside the campaign file, Redis): scenarios run
against a fresh, empty ledger by tests/edge/test_cockpit_ledger.py and
tests/redis/test_cockpit_ledger.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from opmaat_edge.cockpit.ledger import (
    AuditEntry,
    Draft,
    Ledger,
    LedgerBusy,
    UserRecord,
    Version,
    text_hash,
)

Scenario = Callable[[Ledger], Awaitable[None]]


def version(number: int, text: str) -> Version:
    return Version(number, float(number), "tests", "publish", f"v{number}", text, text_hash(text))


async def versions_are_numbered_without_gaps(ledger: Ledger) -> None:
    assert await ledger.head() is None
    assert await ledger.add_version(version(1, "one"))
    assert not await ledger.add_version(version(1, "again"))  # taken
    assert not await ledger.add_version(version(3, "skips"))
    assert await ledger.add_version(version(2, "two"))
    assert await ledger.head() == (2, text_hash("two"))
    one = await ledger.version(1)
    assert one is not None
    assert one.text == "one"
    assert [v.number for v in await ledger.versions(2, 5)] == [2, 1]
    assert [v.number for v in await ledger.versions(1, 5)] == [1]
    assert await ledger.version(9) is None


async def racing_versions_one_wins(ledger: Ledger) -> None:
    won = await asyncio.gather(*(ledger.add_version(version(1, f"t{n}")) for n in range(8)))
    assert sum(won) == 1


async def drafts_are_saved_over_the_revision_they_began_from(ledger: Ledger) -> None:
    first = Draft("one", {"id": "one"}, None, "h", "anna", 1.0, 1)
    assert await ledger.save_draft(first, 0)
    assert not await ledger.save_draft(first, 0)  # someone saved since
    second = Draft("one", {"id": "one", "name": "x"}, None, "h", "ben", 2.0, 2)
    assert not await ledger.save_draft(second, 5)
    assert await ledger.save_draft(second, 1)
    kept = await ledger.draft("one")
    assert kept == second
    archive = Draft("two", None, {"id": "two"}, "h", "ben", 3.0, 1, after="one")
    assert await ledger.save_draft(archive, 0)
    assert [d.campaign for d in await ledger.drafts()] == ["one", "two"]
    assert (await ledger.draft("two")) == archive
    assert await ledger.drop_draft("one")
    assert not await ledger.drop_draft("one")
    assert await ledger.draft("one") is None


async def archived_campaigns_are_kept(ledger: Ledger) -> None:
    assert await ledger.archived() == {}
    await ledger.put_archived("old", {"spec": {"id": "old"}, "at": 1.0, "by": "a", "version": 3})
    assert (await ledger.archived())["old"]["version"] == 3
    await ledger.drop_archived("old")
    assert await ledger.archived() == {}


async def the_audit_log_numbers_pages_and_lists_every_entry(ledger: Ledger) -> None:
    for n in range(1, 8):
        entry = AuditEntry(float(n), "anna", "publish", f"c{n}", f"#{n}", {"changes": []})
        assert await ledger.audit(entry) == n
    newest = await ledger.audit_entries(None, 3)
    assert [e.id for e in newest] == [7, 6, 5]
    assert [e.id for e in await ledger.audit_entries(5, 3)] == [4, 3, 2]
    assert [e.id for e in await ledger.audit_entries(2, 3)] == [1]
    found = await ledger.audit_entry(4)
    assert found is not None
    assert (found.target, found.details) == ("c4", {"changes": []})
    assert await ledger.audit_entry(99) is None
    lines = [line async for line in ledger.audit_lines()]
    assert len(lines) == 7
    assert all(line.endswith("\n") for line in lines)
    assert '"id":1' in lines[0].replace(" ", "")


async def users_are_kept_with_their_hashes(ledger: Ledger) -> None:
    user = UserRecord("anna", "editor", "scrypt$...", "stamp", 1.0, "tests")
    await ledger.put_user(user)
    await ledger.put_user(UserRecord("ben", "viewer", "scrypt$...", "s", 2.0, "tests"))
    assert set(await ledger.users()) == {"anna", "ben"}
    assert (await ledger.users())["anna"] == user
    assert await ledger.drop_user("anna")
    assert not await ledger.drop_user("anna")
    assert set(await ledger.users()) == {"ben"}


async def one_publish_at_a_time(ledger: Ledger, wait: float = 0.05) -> None:
    order: list[str] = []

    async def publish(name: str) -> None:
        async with ledger.publishing():
            order.append(f"{name} in")
            await asyncio.sleep(wait)
            order.append(f"{name} out")

    await asyncio.gather(publish("a"), publish("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


SCENARIOS: list[Scenario] = [
    versions_are_numbered_without_gaps,
    racing_versions_one_wins,
    drafts_are_saved_over_the_revision_they_began_from,
    archived_campaigns_are_kept,
    the_audit_log_numbers_pages_and_lists_every_entry,
    users_are_kept_with_their_hashes,
    one_publish_at_a_time,
]


async def a_held_publish_lock_times_out(ledger: Ledger, other: Ledger) -> None:
    """While ``ledger`` holds the lock, ``other`` (another node) waits and then gives up."""
    async with ledger.publishing():
        with pytest.raises(LedgerBusy):
            async with other.publishing():
                raise AssertionError("two publishes at once")
