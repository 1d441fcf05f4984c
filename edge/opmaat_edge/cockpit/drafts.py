"""Keeping drafts: one per campaign, shared by everyone (and every node), saved only over the
revision its editor started from, so two editors saving the same campaign get a conflict
instead of one losing the other's work."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from opmaat_edge.cockpit.audit import record_or_log
from opmaat_edge.cockpit.changes import field_changes
from opmaat_edge.cockpit.ledger import Draft, Ledger, text_hash
from opmaat_edge.cockpit.users import Identity
from opmaat_edge.cockpit.yaml_edit import find_spec, same

MAX_DRAFTS = 500


class DraftConflict(Exception):
    """Someone saved the draft since the editor opened it; ``kept`` is theirs."""

    def __init__(self, kept: Draft | None) -> None:
        super().__init__("the draft was saved by someone else meanwhile")
        self.kept = kept


async def save(
    ledger: Ledger,
    campaign: str,
    spec: dict[str, Any] | None,
    *,
    revision: int,
    who: Identity,
    file_text: str,
    after: str | None = None,
) -> Draft:
    """Keep ``spec`` as the draft of ``campaign``, over ``revision`` (0: a new draft, begun
    from ``file_text``, the running campaign file). Raises DraftConflict."""
    kept = await ledger.draft(campaign)
    if kept is not None and kept.revision == revision:
        draft = replace(kept, spec=spec, author=who.shown, at=time.time(), revision=revision + 1)
    elif kept is None and revision == 0:
        if len(await ledger.drafts()) >= MAX_DRAFTS:
            raise DraftConflict(None)
        draft = Draft(
            campaign,
            spec,
            find_spec(file_text, campaign),
            text_hash(file_text),
            who.shown,
            time.time(),
            1,
            after,
        )
    else:
        raise DraftConflict(kept)
    if not await ledger.save_draft(draft, revision):
        raise DraftConflict(await ledger.draft(campaign))
    changes = field_changes(kept.spec if kept is not None else draft.base_spec, spec)
    await record_or_log(
        ledger,
        who.shown,
        "draft",
        campaign,
        f"saved the draft of {campaign} (revision {draft.revision})",
        {"revision": draft.revision, "fields": changes},
    )
    return draft


async def rebase(ledger: Ledger, draft: Draft, file_text: str, who: Identity) -> Draft:
    """The draft begun anew from the file as it is now: what changed there meanwhile is taken
    in, the fields changed on both sides as the file has them; the draft's other changes
    stay. Raises DraftConflict."""
    current = find_spec(file_text, draft.campaign)
    base = draft.base_spec or {}
    spec = draft.spec
    if spec is not None and current is not None:
        merged = dict(current)
        for key in dict.fromkeys([*base, *spec]):
            mine = key not in base or key not in spec or not same(base[key], spec[key])
            theirs = key not in base or key not in current or not same(base[key], current[key])
            if not mine or theirs:
                continue
            if key in spec:
                merged[key] = spec[key]
            else:
                merged.pop(key, None)
        spec = merged
    fresh = replace(
        draft,
        spec=spec,
        base_spec=current,
        base_hash=text_hash(file_text),
        author=who.shown,
        at=time.time(),
        revision=draft.revision + 1,
    )
    if not await ledger.save_draft(fresh, draft.revision):
        raise DraftConflict(await ledger.draft(draft.campaign))
    await record_or_log(
        ledger,
        who.shown,
        "draft",
        draft.campaign,
        f"began the draft of {draft.campaign} anew from the file as it is now",
        {"revision": fresh.revision},
    )
    return fresh


async def discard(ledger: Ledger, campaign: str, who: Identity) -> bool:
    if not await ledger.drop_draft(campaign):
        return False
    await record_or_log(
        ledger, who.shown, "discard", campaign, f"discarded the draft of {campaign}"
    )
    return True
