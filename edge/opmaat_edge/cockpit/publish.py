"""Publishing: a draft (or an earlier version) becomes the campaign file.

One publish at a time on every node (the ledger's lock). It first brings this node up to date
(the file on disk, and on Redis the file other nodes shared) and records the running file as a
version if it changed outside the cockpit, so no edit is ever lost from the history. A draft is
then merged field by field into the campaign as the file has it now: a field both the draft and
someone else changed since the draft began is a conflict, shown to the marketer, never an
overwrite. The candidate file is checked exactly as `opmaat check` checks (errors refuse it),
written atomically, reloaded (the previous file goes back if it does not load), kept as a new
version, shared with the other nodes through the store as any reload is, and written to the
audit log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opmaat.files import write_atomic
from opmaat_edge.cockpit.audit import record_or_log
from opmaat_edge.cockpit.changes import file_changes, summary
from opmaat_edge.cockpit.ledger import Draft, Ledger, Version, text_hash
from opmaat_edge.cockpit.review import Checked, check_text
from opmaat_edge.cockpit.users import Identity
from opmaat_edge.cockpit.yaml_edit import EditError, find_spec, rewrite, same
from opmaat_edge.state import EdgeState

log = logging.getLogger("opmaat.cockpit")
OUTSIDE = "(the file)"


@dataclass
class Outcome:
    """How a publish went: the new ``version``, or why not (``problem``, the ``conflicts`` by
    field, or what `opmaat check` found in ``checked``) with the HTTP status to answer."""

    version: Version | None = None
    problem: str = ""
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    checked: Checked | None = None
    status: int = 200

    @property
    def ok(self) -> bool:
        return self.version is not None


class Refused(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.problem)
        self.outcome = outcome


def _config(state: EdgeState) -> Path:
    return Path(state.settings.config)


async def refresh(state: EdgeState) -> None:
    """Run the newest campaign file this node can: its own file if it changed, or the one
    another node shared (what the reload loop does, done now)."""
    runtime = state.runtime
    await asyncio.to_thread(runtime.reload_if_changed)
    await runtime.share(state.personalizer.store)


async def behind(state: EdgeState) -> str | None:
    """Why this node runs an older file than another node shared, or None."""
    remote = await state.personalizer.store.shared_config()
    current = state.runtime.current
    if remote is None or remote.version == current.campaigns.version:
        return None
    if remote.at <= current.stamp:
        return None
    why = state.runtime.last_error or "it has not loaded it yet"
    return (
        f"this node runs an older campaign file than the one another node shared "
        f"(version {remote.version}): {why}"
    )


async def sync(state: EdgeState, ledger: Ledger) -> tuple[int, str]:
    """The newest version: the running file is kept as one first when it is not (it changed
    outside the cockpit, or this is the first time the cockpit looks)."""
    if await behind(state) is not None:
        head = await ledger.head()
        return head if head is not None else (0, "")
    text = state.runtime.current.text
    digest = text_hash(text)
    for _ in range(3):  # another node may record it at the same moment
        head = await ledger.head()
        if head is not None and head[1] == digest:
            return head
        number = (head[0] if head is not None else 0) + 1
        before = await ledger.version(head[0]) if head is not None else None
        changes = file_changes(before.text, text) if before is not None else []
        said = (
            f"changed outside the cockpit: {summary(changes)}"
            if before is not None
            else "the campaign file as the cockpit first found it"
        )
        action = "outside" if before is not None else "start"
        version = Version(number, time.time(), OUTSIDE, action, said, text, digest, changes)
        if await ledger.add_version(version):
            if before is not None:
                await record_or_log(
                    ledger,
                    OUTSIDE,
                    "outside",
                    f"version {number}",
                    said,
                    {"version": number, "changes": changes},
                )
            return number, digest
    head = await ledger.head()
    return head if head is not None else (0, "")


def _disk_problem(state: EdgeState) -> str | None:
    """Why the file on disk must not be overwritten: it holds what does not run."""
    current = state.runtime.current
    path = _config(state)
    try:
        on_disk = path.read_bytes().decode("utf-8")
        mtime = path.stat().st_mtime
    except (OSError, UnicodeDecodeError) as exc:
        return f"the campaign file cannot be read ({exc})"
    if on_disk == current.text:
        return None
    if current.shared and mtime == current.mtime:
        return None  # older than the file another node shared, which runs here
    why = state.runtime.last_error or "it was changed a moment ago"
    return (
        "the campaign file on disk was changed and is not what runs: it would be overwritten. "
        f"Fix it first ({why})"
    )


def merge(
    draft: Draft, current: dict[str, Any] | None, *, keep_mine: bool = False
) -> dict[str, Any] | None:
    """The campaign to write: the draft's changes on the campaign as the file has it now.
    Raises Refused listing the fields changed on both sides (unless ``keep_mine``)."""
    base = draft.base_spec
    if draft.spec is None:
        if current is None:
            raise Refused(
                Outcome(problem=f"{draft.campaign} is not in the file any more", status=409)
            )
        if base is not None and not same(current, base) and not keep_mine:
            raise Refused(Outcome(conflicts=_both(base, current, None), status=409))
        return None
    if base is None:
        if current is not None:
            raise Refused(
                Outcome(problem=f"the file has a campaign {draft.campaign} now", status=409)
            )
        return draft.spec
    if current is None:
        raise Refused(
            Outcome(problem=f"{draft.campaign} was taken out of the file meanwhile", status=409)
        )
    if same(current, base):
        return draft.spec
    mine = _changed(base, draft.spec)
    theirs = _changed(base, current)
    both = [
        key for key in mine if key in theirs and not same(draft.spec.get(key), current.get(key))
    ]
    if both and not keep_mine:
        raise Refused(Outcome(conflicts=_both(base, current, draft.spec, both), status=409))
    merged = dict(current)
    for key in mine:
        if key in draft.spec:
            merged[key] = draft.spec[key]
        else:
            merged.pop(key, None)
    return merged


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = dict.fromkeys([*before, *after])
    return [k for k in keys if k not in before or k not in after or not same(before[k], after[k])]


def _both(
    base: dict[str, Any],
    theirs: dict[str, Any],
    mine: dict[str, Any] | None,
    keys: list[str] | None = None,
) -> list[dict[str, Any]]:
    keys = keys if keys is not None else _changed(base, theirs)
    return [
        {
            "field": key,
            "base": base.get(key),
            "theirs": theirs.get(key),
            "mine": (mine or {}).get(key),
        }
        for key in keys
    ]


async def _write(state: EdgeState, text: str, previous: str) -> str | None:
    """Write ``text`` as the campaign file and run it; the previous file goes back (and the
    reason is returned) when it does not load."""
    path = _config(state)
    await asyncio.to_thread(write_atomic, path, text)
    if await asyncio.to_thread(state.runtime.reload):
        return None
    why = state.runtime.last_error or "it did not load"
    await asyncio.to_thread(write_atomic, path, previous)
    await asyncio.to_thread(state.runtime.reload)
    return why


async def _land(
    state: EdgeState,
    ledger: Ledger,
    head: tuple[int, str],
    text: str,
    who: Identity,
    action: str,
    restored: int | None = None,
) -> Outcome:
    """Check, write, run, keep as a version and share ``text``, the file's next state."""
    previous = state.runtime.current.text
    checked = await asyncio.to_thread(check_text, _config(state), text)
    if not checked.ok:
        return Outcome(checked=checked, problem="opmaat check finds problems", status=422)
    failed = await _write(state, text, previous)
    if failed is not None:
        return Outcome(problem=f"the new file did not load, nothing changed: {failed}", status=422)
    changes = file_changes(previous, text)
    said = summary(changes) if restored is None else f"restored version {restored}"
    version = Version(
        head[0] + 1, time.time(), who.shown, action, said, text, text_hash(text), changes, restored
    )
    if not await ledger.add_version(version):
        log.error("cockpit: version %d was taken by another publish", version.number)
    try:
        await state.runtime.share(state.personalizer.store)
    except Exception as exc:  # the reload loop shares it again
        log.error("cockpit: could not share the published file yet: %s", exc)
    return Outcome(version=version, checked=checked)


async def _ready(state: EdgeState, ledger: Ledger) -> tuple[int, str]:
    await refresh(state)
    lagging = await behind(state)
    if lagging is not None:
        raise Refused(Outcome(problem=lagging, status=409))
    head = await sync(state, ledger)
    disk = await asyncio.to_thread(_disk_problem, state)
    if disk is not None:
        raise Refused(Outcome(problem=disk, status=409))
    return head


async def publish(
    state: EdgeState,
    ledger: Ledger,
    campaign: str,
    revision: int,
    who: Identity,
    *,
    keep_mine: bool = False,
) -> Outcome:
    """Publish the draft of ``campaign``, as reviewed at ``revision``."""
    try:
        async with ledger.publishing():
            head = await _ready(state, ledger)
            draft = await ledger.draft(campaign)
            if draft is None or draft.revision != revision:
                return Outcome(
                    problem="the draft was changed or published meanwhile: look at it again",
                    status=409,
                )
            current_text = state.runtime.current.text
            current = find_spec(current_text, campaign)
            spec = merge(draft, current, keep_mine=keep_mine)
            try:
                text = rewrite(current_text, campaign, spec, after=draft.after)
            except EditError as exc:
                return Outcome(problem=str(exc), status=422)
            action = "archive" if spec is None else "publish"
            outcome = await _land(state, ledger, head, text, who, action)
            if not outcome.ok:
                return outcome
            await _finish(ledger, draft, current, outcome, who)
            return outcome
    except Refused as exc:
        return exc.outcome


async def _finish(
    ledger: Ledger, draft: Draft, before: dict[str, Any] | None, outcome: Outcome, who: Identity
) -> None:
    version = outcome.version
    assert version is not None
    await ledger.drop_draft(draft.campaign)
    if draft.spec is None and before is not None:
        record = {"spec": before, "at": version.at, "by": who.shown, "version": version.number}
        await ledger.put_archived(draft.campaign, record)
    elif draft.base_spec is None:
        await ledger.drop_archived(draft.campaign)
    await record_or_log(
        ledger,
        who.shown,
        version.action,
        draft.campaign,
        f"version {version.number}: {version.summary}",
        {"version": version.number, "changes": version.changes},
    )


async def restore(
    state: EdgeState, ledger: Ledger, number: int, seen_head: int, who: Identity
) -> Outcome:
    """Make version ``number`` the campaign file again (a new version, the same text), if
    the newest version is still ``seen_head`` (what the marketer saw the diff against)."""
    try:
        async with ledger.publishing():
            head = await _ready(state, ledger)
            if head[0] != seen_head:
                return Outcome(
                    problem="the campaign file changed since you looked: look at the diff again",
                    status=409,
                )
            target = await ledger.version(number)
            if target is None:
                return Outcome(problem=f"there is no version {number}", status=404)
            if target.hash == head[1]:
                return Outcome(problem=f"version {number} is what runs already", status=409)
            outcome = await _land(state, ledger, head, target.text, who, "restore", number)
            if outcome.version is not None:
                await record_or_log(
                    ledger,
                    who.shown,
                    "restore",
                    f"version {number}",
                    f"version {outcome.version.number}: {outcome.version.summary}",
                    {"version": outcome.version.number, "changes": outcome.version.changes},
                )
            return outcome
    except Refused as exc:
        return exc.outcome
