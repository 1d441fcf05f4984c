"""The campaign editor: a form with every field of a campaign, the audience builder, variants
with a live preview as sample visitors, and the checks of `opmaat check` beside the fields.
Saving keeps a draft (editors and up); publishing is the drafts' room (draft_views).

Every button posts the whole form and gets the page back: the builder's buttons change the
audience, "Check and preview" runs the checks and the preview, "Save draft" keeps it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from opmaat.campaigns.model import ALLOCATIONS, CHANNELS, CONSENT_TIERS
from opmaat.campaigns.schema import CAMPAIGN_ID, CAMPAIGN_KEYS
from opmaat.conditions import TYPE_NAMES
from opmaat.profile_reference import ATTRIBUTES
from opmaat_edge.cockpit import audience_form as af
from opmaat_edge.cockpit import pages
from opmaat_edge.cockpit.access import Caller, cockpit_access, guarded
from opmaat_edge.cockpit.audience_tree import Cond, from_condition
from opmaat_edge.cockpit.audience_values import CHOICES, OTHER
from opmaat_edge.cockpit.campaign_form import FormContext, read_campaign, shown, zone_names
from opmaat_edge.cockpit.draft_preview import SAMPLE_VISITORS, preview_draft, visitor_from
from opmaat_edge.cockpit.drafts import DraftConflict, save
from opmaat_edge.cockpit.preview import (
    DEVICES,
    PreviewVisitor,
)
from opmaat_edge.cockpit.publish import refresh, sync
from opmaat_edge.cockpit.reach import (
    ENUM_IDS,
    NAME_LISTS,
    estimate,
    suggestions,
    value_list,
)
from opmaat_edge.cockpit.review import check_text
from opmaat_edge.cockpit.yaml_edit import EditError, campaign_specs, find_spec, rewrite, same
from opmaat_edge.http import ApiError
from opmaat_edge.state import EdgeState, edge_state

log = logging.getLogger("opmaat.cockpit")


def _form_context(state: EdgeState, new: bool, taken: frozenset[str]) -> FormContext:
    current = state.runtime.current
    return FormContext(
        slots=list(current.campaigns.slots),
        events=sorted(current.sources.known_events),
        new=new,
        taken_ids=taken,
    )


def _values(form: Mapping[str, list[str]]) -> dict[str, Any]:
    """What the marketer typed, to show again (even what cannot be used yet)."""

    def get(name: str, default: str = "") -> str:
        values = form.get(name)
        return values[0].replace("\r\n", "\n") if values else default

    numbers = sorted(
        {
            int(k.split(".")[1])
            for k in form
            if k.startswith("variant.") and k.count(".") == 2 and k.split(".")[1].isdigit()
        }
    )
    return {
        **{
            name: get(name)
            for name in (
                "id",
                "name",
                "label",
                "priority",
                "consent",
                "schedule_start",
                "schedule_end",
                "schedule_timezone",
                "frequency_max",
                "frequency_per",
                "holdout",
                "allocation",
                "exploration",
                "goal",
                "purl_recipients",
                "purl_landing",
                "purl_expires_days",
                "purl_expose",
            )
        },
        "slots": form.get("slots", []),
        "channels": form.get("channels", []),
        "raw_utm": bool(get("raw_utm")),
        "purl": bool(get("purl")),
        "variants": [
            {
                part: get(f"variant.{n}.{part}")
                for part in ("key", "weight", "source", "html", "template")
            }
            for n in numbers
        ],
    }


def _ordered(spec: dict[str, Any], base: Mapping[str, Any] | None) -> dict[str, Any]:
    order = [k for k in (base or {}) if k in spec]
    order += [k for k in CAMPAIGN_KEYS if k in spec and k not in order]
    return {k: spec[k] for k in [*order, *(k for k in spec if k not in order)]}


def _with_audience(
    spec: dict[str, Any], cond: Cond, base: Mapping[str, Any] | None
) -> dict[str, Any]:
    audience = af.audience_of(cond)
    base = base or {}
    if "audience" in base and same(audience or {}, base["audience"] or {}):
        spec["audience"] = base["audience"]
    elif audience is not None:
        spec["audience"] = audience
    return _ordered(spec, base)


class Editing:
    """One editor page: the campaign, where it comes from, and what the form says."""

    def __init__(self, request: Request, caller: Caller, campaign: str, new: bool) -> None:
        self.request = request
        self.caller = caller
        self.state = edge_state(request)
        self.campaign = campaign
        self.new = new
        self.text = self.state.runtime.current.text
        self.config = Path(self.state.settings.config)

    async def start(self) -> None:
        # The newest file this node can run, and a version of it for the draft's history.
        await refresh(self.state)
        await sync(self.state, self.caller.ledger)
        self.text = self.state.runtime.current.text
        ledger = self.caller.ledger
        self.draft = await ledger.draft(self.campaign) if self.campaign else None
        self.current = find_spec(self.text, self.campaign) if self.campaign else None
        drafts = await ledger.drafts()
        ids = {c.get("id") for c in campaign_specs(self.text)}
        self.taken = frozenset(i for i in ids if isinstance(i, str)) | {d.campaign for d in drafts}

    @property
    def base(self) -> dict[str, Any] | None:
        """What the form was drawn from: the draft, else the campaign in the file."""
        if self.draft is not None and self.draft.spec is not None:
            return self.draft.spec
        return self.current

    async def page(
        self,
        values: dict[str, Any],
        cond: Cond,
        *,
        errors: Mapping[str, str] | None = None,
        audience_errors: Mapping[str, str] | None = None,
        quiet: bool = False,
        spec: dict[str, Any] | None = None,
        revision: int = 0,
        after: str = "",
        preview: PreviewVisitor | None = None,
        preview_text: Mapping[str, str] | None = None,
        note: str = "",
        conflict: Any = None,
        status: int = 200,
    ) -> Response:
        errors = dict(errors or {})
        checked, candidate, results = None, None, None
        preview_error = ""
        if spec is not None:
            try:
                candidate = rewrite(self.text, spec["id"], spec, after=after or None)
            except EditError as exc:
                errors["campaign"] = str(exc)
        if candidate is not None:
            checked = await asyncio.to_thread(check_text, self.config, candidate)
            if preview is not None:
                if checked.ok:
                    results = await preview_draft(
                        self.state, candidate, preview, self.campaign, str(self.request.base_url)
                    )
                else:
                    preview_error = "Fix the problems the check finds to preview."
        index = None
        if candidate is not None:
            ids = [c.get("id") for c in campaign_specs(candidate)]
            index = ids.index(spec["id"]) if spec is not None and spec["id"] in ids else None
        problems = checked.for_campaign(index) if checked is not None else {}
        sampler = cockpit_access(self.request).sampler
        sample = await sampler.sample(self.state.personalizer.store, self.state.runtime.current)
        groups = self.state.runtime.current.campaigns.saved_groups
        reach = estimate(af.filled_in(cond), sample, groups)
        current = self.state.runtime.current
        return pages.page(
            self.request,
            "edit.html",
            {
                "csrf": self.caller.csrf,
                "who": self.caller.who,
                "campaign": self.campaign,
                "new": self.new,
                "id_editable": self.new and self.draft is None,
                "revision": revision,
                "after": after,
                "v": values,
                "errors": errors,
                "problems": problems,
                "checked": checked,
                "audience": af.view(cond, {} if quiet else audience_errors or {}),
                "audience_words": af.words(cond),
                "audience_errors": {} if quiet else audience_errors or {},
                "reach": reach,
                "choices": CHOICES,
                "other": OTHER,
                "group_words": af.GROUP_WORDS,
                "lists": suggestions(sample, current).lists,
                "name_lists": NAME_LISTS,
                "slots": list(current.campaigns.slots),
                "channels": CHANNELS,
                "tiers": CONSENT_TIERS,
                "allocations": ALLOCATIONS,
                "zones": zone_names(),
                "events": ["click", *sorted(current.sources.known_events)],
                "samples": SAMPLE_VISITORS,
                "value_list": value_list,
                "type_names": TYPE_NAMES,
                "enums": {ENUM_IDS[a.path]: a.values for a in ATTRIBUTES if a.values},
                "p": preview_text or {"device": "desktop"},
                "devices": DEVICES,
                "results": results,
                "preview_error": preview_error,
                "note": note,
                "conflict": conflict,
                "draft": self.draft,
            },
            status=status,
        )


async def _get(request: Request, caller: Caller) -> Response:
    campaign = request.path_params.get("campaign_id", "")
    edit = Editing(request, caller, campaign, new=False)
    await edit.start()
    if edit.current is None and edit.draft is None:
        raise ApiError(404, "no such campaign")
    if edit.draft is not None and edit.draft.spec is None:
        return RedirectResponse(f"/cockpit/drafts/{quote(campaign)}", status_code=303)
    edit.new = edit.current is None
    spec = edit.base
    cond = from_condition((spec or {}).get("audience"))
    revision = edit.draft.revision if edit.draft is not None else 0
    after = (edit.draft.after or "") if edit.draft is not None else ""
    checked_spec = spec if edit.draft is not None else None
    return await edit.page(shown(spec), cond, spec=checked_spec, revision=revision, after=after)


async def _new(request: Request, caller: Caller) -> Response:
    """A new campaign: empty, a copy of one (``?from=ID``), or one archived (``?archived=ID``)."""
    edit = Editing(request, caller, "", new=True)
    await edit.start()
    copy_of = request.query_params.get("from", "")
    archived = request.query_params.get("archived", "")
    spec: dict[str, Any] = {"variants": [{"key": "a", "html": ""}]}
    after = ""
    if copy_of:
        found = find_spec(edit.text, copy_of)
        draft = await caller.ledger.draft(copy_of)
        source = draft.spec if draft is not None and draft.spec is not None else found
        if source is None:
            raise ApiError(404, "no such campaign")
        spec = {**source, "id": _free_id(f"{copy_of}-copy", edit.taken)}
        spec["name"] = f"Copy of {source.get('name') or copy_of}"
        after = copy_of if found is not None else ""
    elif archived:
        kept = (await caller.ledger.archived()).get(archived)
        if kept is None or not isinstance(kept.get("spec"), dict):
            raise ApiError(404, "no such archived campaign")
        spec = dict(kept["spec"])
    cond = from_condition(spec.get("audience"))
    return await edit.page(shown(spec), cond, after=after)


def _free_id(wanted: str, taken: frozenset[str]) -> str:
    wanted = wanted[:60]
    if wanted not in taken:
        return wanted
    number = 2
    while f"{wanted}-{number}" in taken:
        number += 1
    return f"{wanted}-{number}"


async def _post(request: Request, caller: Caller) -> Response:
    campaign = request.path_params.get("campaign_id", "")
    edit = Editing(request, caller, campaign, new=not campaign)
    await edit.start()
    if campaign and edit.current is None and edit.draft is None:
        raise ApiError(404, "no such campaign")
    if campaign:
        edit.new = edit.current is None
    form = caller.form
    act = caller.field("act")
    values = _values(form)
    try:
        revision = int(caller.field("revision", "0"))
    except ValueError:
        raise ApiError(400, "revision: a whole number") from None
    after = caller.field("after")
    if after and not CAMPAIGN_ID.fullmatch(after):
        after = ""
    cond, audience_errors = af.read(form)
    if act.startswith(("add-", "remove", "raw:")) and not act.startswith("remove-variant"):
        cond = af.act(cond, act)
    if act == "add-variant":
        values["variants"].append(
            {
                "key": _next_key(values["variants"]),
                "weight": "1",
                "source": "html",
                "html": "",
                "template": "",
            }
        )
    elif act.startswith("remove-variant:") and act.split(":")[1].isdigit():
        index = int(act.split(":")[1])
        if 0 <= index < len(values["variants"]) and len(values["variants"]) > 1:
            del values["variants"][index]
    preview_text, visitor, preview_problem = visitor_from(form)
    base = edit.base if not edit.new or edit.draft is not None else None
    context = _form_context(edit.state, edit.new and edit.draft is None, edit.taken)
    filled = read_campaign(_variant_form(form, values), base, context)
    errors = dict(filled.errors)
    if preview_problem:
        errors["preview"] = preview_problem
    spec = _with_audience(filled.spec, cond, base) if filled.spec is not None else None
    if act == "save":
        if spec is None or audience_errors:
            return await edit.page(
                values,
                cond,
                errors=errors,
                audience_errors=audience_errors,
                revision=revision,
                after=after,
                preview_text=preview_text,
                note="Not saved: see the fields marked.",
                status=400,
            )
        return await _save(edit, spec, values, cond, revision, after, preview_text)
    if spec is not None and audience_errors:
        spec = None
    checking = act in ("preview", "sample", "check")
    return await edit.page(
        values,
        cond,
        errors=errors if checking else {},
        audience_errors=audience_errors,
        quiet=not checking,
        spec=spec if checking else None,
        revision=revision,
        after=after,
        preview=visitor if act in ("preview", "sample") else None,
        preview_text=preview_text,
    )


def _variant_form(form: Mapping[str, list[str]], values: dict[str, Any]) -> dict[str, list[str]]:
    """The form with its variants as ``values`` has them (after adding or removing one)."""
    out = {k: v for k, v in form.items() if not k.startswith("variant.")}
    for n, variant in enumerate(values["variants"]):
        for part, text in variant.items():
            out[f"variant.{n}.{part}"] = [text]
    return out


def _next_key(variants: list[dict[str, str]]) -> str:
    taken = {v.get("key") for v in variants}
    return next(chr(c) for c in range(ord("a"), ord("z") + 1) if chr(c) not in taken)


async def _save(
    edit: Editing,
    spec: dict[str, Any],
    values: dict[str, Any],
    cond: Cond,
    revision: int,
    after: str,
    preview_text: Mapping[str, str],
) -> Response:
    campaign = spec["id"]
    try:
        await save(
            edit.caller.ledger,
            campaign,
            spec,
            revision=revision,
            who=edit.caller.who,
            file_text=edit.text,
            after=after or None,
        )
    except DraftConflict as exc:
        kept = exc.kept
        note = (
            f"Not saved: {kept.author} saved this draft meanwhile (revision {kept.revision}). "
            "Their draft is below the form; save again to put yours over it."
            if kept is not None
            else "Not saved: there are too many drafts; publish or discard some first."
        )
        edit.draft = kept
        return await edit.page(
            values,
            cond,
            spec=spec,
            revision=kept.revision if kept is not None else revision,
            after=after,
            preview_text=preview_text,
            note=note,
            conflict=kept,
            status=409,
        )
    return RedirectResponse(f"/cockpit/drafts/{quote(campaign)}?saved=1", status_code=303)


async def _archive(request: Request, caller: Caller) -> Response:
    state = edge_state(request)
    campaign = request.path_params["campaign_id"]
    if find_spec(state.runtime.current.text, campaign) is None:
        raise ApiError(404, "no such campaign in the file")
    try:
        revision = int(caller.field("revision", "0"))
    except ValueError:
        raise ApiError(400, "revision: a whole number") from None
    try:
        await save(
            caller.ledger,
            campaign,
            None,
            revision=revision,
            who=caller.who,
            file_text=state.runtime.current.text,
        )
    except DraftConflict:
        return pages.refused(
            request,
            {"problem": f"{campaign} has a draft already: open it, then archive from there."},
            409,
        )
    return RedirectResponse(f"/cockpit/drafts/{quote(campaign)}?saved=1", status_code=303)


routes: list[BaseRoute] = [
    Route("/cockpit/campaigns/new", guarded(_new, "editor"), methods=["GET"]),
    Route("/cockpit/campaigns/new", guarded(_post, "editor"), methods=["POST"]),
    Route("/cockpit/campaigns/{campaign_id}/edit", guarded(_get, "editor"), methods=["GET"]),
    Route("/cockpit/campaigns/{campaign_id}/edit", guarded(_post, "editor"), methods=["POST"]),
    Route(
        "/cockpit/campaigns/{campaign_id}/archive", guarded(_archive, "editor"), methods=["POST"]
    ),
]
