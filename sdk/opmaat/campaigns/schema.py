"""Validation of a parsed campaign file into compiled, frozen campaigns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from opmaat.adaptive import DEFAULT_FLOOR
from opmaat.campaigns import preference_section, recommendations, sections, site_data
from opmaat.campaigns.checker import Checker, describe, field_name, hint, is_int, is_number
from opmaat.campaigns.model import (
    ALLOCATIONS,
    CHANNELS,
    CONSENT_TIERS,
    Campaign,
    CampaignSet,
    Frequency,
    Matcher,
    Schedule,
    Variant,
)
from opmaat.campaigns.yamlines import Parsed
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.conditions import compile_condition
from opmaat.errors import ConditionError, ConfigError, Problem
from opmaat.files import data_mtimes
from opmaat.purl import Recipient
from opmaat.reasons import compile_reason
from opmaat.templates import TemplateRenderer

TOP_KEYS = ("site", "slots", "segments", "campaigns", "recommendations", "preferences")
CAMPAIGN_KEYS = (
    "id",
    "name",
    "label",
    "slot",
    "slots",
    "priority",
    "audience",
    "schedule",
    "frequency",
    "holdout",
    "consent",
    "allocation",
    "goal",
    "channels",
    "variants",
    "exploration",
    "purl",
    "raw_utm",
)
VARIANT_KEYS = ("key", "weight", "html", "template")
SCHEDULE_KEYS = ("start", "end", "timezone")
FREQUENCY_KEYS = ("max", "per")
# The edge keeps this many recent impression times per campaign and visitor.
MAX_FREQUENCY = 100
CAMPAIGN_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_HOLDOUT = 0.5
MAX_LABEL = 80
_WINDOW = re.compile(r"\s*([0-9]+)\s*([mhd])\s*")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def build(
    parsed: Parsed,
    *,
    filename: str,
    base_dir: Path,
    version: str,
    load_data: bool = True,
    shown_dir: Path | None = None,
) -> tuple[CampaignSet | None, list[Problem]]:
    """The campaign set, or None with every problem found (never just the first). Without
    ``load_data`` the data files it names (customers, PURL recipients, the product feed) are
    not read. ``shown_dir``: the folder as messages name it (default ``base_dir``)."""
    check = Checker(filename, parsed.lines)
    for issue in parsed.issues:
        field = field_name(issue.path) if issue.path else "yaml"
        check.report(issue.path, issue.message, field=field, line=issue.line)
    data = parsed.data
    if data is None:
        if not parsed.issues:
            check.report((), "the file is empty; it needs at least 'slots' and 'campaigns'")
        return None, check.problems
    top = check.mapping(data, (), TOP_KEYS)
    if top is None:
        return None, sorted(check.problems, key=lambda problem: problem.line)
    renderer = TemplateRenderer()
    site = sections.site_settings(check, top.get("site"), base_dir)
    recommending = recommendations.section(check, top.get("recommendations"), base_dir)
    preferences = preference_section.section(check, top.get("preferences"), base_dir)
    slots = sections.slots(check, top.get("slots"), base_dir, renderer)
    groups = sections.segments(check, top.get("segments"))
    declared = _declared_slots(top.get("slots"))
    context = _Context(check, declared, groups, base_dir, renderer, site.landing_hosts)
    campaigns = _campaigns(context, top.get("campaigns"))
    calls = recommendations.Calls(check)
    known = recommendations.strategy_names(top.get("recommendations"))
    calls.check_templates(data, known, shown_dir or base_dir, base_dir)
    if check.problems:
        return None, sorted(check.problems, key=lambda problem: problem.line)
    purls = [(c.id, c.purl) for c in campaigns if c.purl is not None]
    feed_file = recommending.feed if recommending is not None else None
    named = (site.customers, *(p.recipients for _, p in purls), feed_file, preferences.offers_file)
    data_files = tuple(path for path in named if path is not None)
    # Stamped before reading: a file written meanwhile is seen as changed at the next check.
    stamps = data_mtimes(data_files)
    customers: Mapping[str, Mapping[str, Any]] = {}
    recipients: Mapping[str, tuple[str, Recipient]] = {}
    feed = None
    if load_data:
        try:
            customers = site_data.load_customers(site.customers)
            recipients = site_data.load_purl_recipients(purls)
            feed = site_data.load_feed(feed_file) if feed_file is not None else None
            preferences = preference_section.load_offers(preferences)
        except ConfigError as exc:
            return None, list(exc.problems)
        if feed is not None:
            calls.check_products(feed)
            if check.problems:
                return None, sorted(check.problems, key=lambda problem: problem.line)
    return CampaignSet(
        site=site,
        slots=slots,
        campaigns=campaigns,
        saved_groups=groups,
        source=filename,
        version=version,
        templates=renderer,
        recommendations=recommending,
        customers=customers,
        recipients=recipients,
        feed=feed,
        preferences=preferences,
        data_files=data_files,
        data_mtimes=stamps,
    ), []


def _declared_slots(value: Any) -> list[str]:
    # Slot names count as declared even when their default has a problem, so one mistake in
    # a default does not also flag every campaign that uses the slot.
    return [name for name in value if isinstance(name, str)] if isinstance(value, dict) else []


@dataclass(frozen=True, slots=True)
class _Context:
    check: Checker
    declared: list[str]
    groups: dict[str, list[Any]]
    base_dir: Path
    renderer: TemplateRenderer
    landing_hosts: tuple[str, ...]


def _campaigns(context: _Context, value: Any) -> tuple[Campaign, ...]:
    check = context.check
    if value is None:
        return ()
    if not isinstance(value, list):
        check.report(("campaigns",), f"expected a list of campaigns, got {describe(value)}")
        return ()
    first_line: dict[str, int] = {}
    out = []
    for index, spec in enumerate(value):
        path: YPath = ("campaigns", index)
        raw_id = spec.get("id") if isinstance(spec, dict) else None
        if isinstance(raw_id, str) and raw_id in first_line:
            check.report(
                (*path, "id"),
                f"duplicate campaign id '{raw_id}' (first used on line {first_line[raw_id]})",
            )
        elif isinstance(raw_id, str):
            first_line[raw_id] = check.line((*path, "id"))
        campaign = _campaign(context, spec, path)
        if campaign is not None:
            out.append(campaign)
    return tuple(out)


def _campaign(context: _Context, value: Any, path: YPath) -> Campaign | None:
    check = context.check
    spec = check.mapping(value, path, CAMPAIGN_KEYS)
    if spec is None:
        return None
    before = len(check.problems)
    campaign_id = None
    if "id" not in spec:
        check.report(path, "a campaign needs an 'id'")
    else:
        campaign_id = check.text(spec["id"], (*path, "id"))
        if campaign_id is not None and not CAMPAIGN_ID.fullmatch(campaign_id):
            check.report(
                (*path, "id"),
                f"'{campaign_id}' is not a campaign id: use lower-case "
                "letters, digits, '-' and '_' (at most 64)",
            )
    name = check.text(spec.get("name", ""), (*path, "name"), empty_ok=True)
    label = _label(check, spec.get("label", ""), (*path, "label"))
    slot_names = _slot_names(check, spec, path, context.declared)
    priority = spec.get("priority", 0)
    if not is_int(priority):
        check.report((*path, "priority"), f"expected a whole number, got {describe(priority)}")
    audience, matches = _audience(check, spec.get("audience"), (*path, "audience"), context.groups)
    schedule = _schedule(check, spec.get("schedule"), (*path, "schedule"))
    frequency = _frequency(check, spec.get("frequency"), (*path, "frequency"))
    holdout = spec.get("holdout", 0)
    if not is_number(holdout) or not 0 <= holdout <= MAX_HOLDOUT:
        check.report(
            (*path, "holdout"),
            f"expected a share from 0 to {MAX_HOLDOUT} (0.1 is 10%), got {describe(holdout)}",
        )
    consent = check.choice(spec.get("consent", "none"), (*path, "consent"), CONSENT_TIERS)
    allocation = check.choice(spec.get("allocation", "fixed"), (*path, "allocation"), ALLOCATIONS)
    exploration = spec.get("exploration", DEFAULT_FLOOR)
    if not is_number(exploration) or not 0 <= exploration <= 1:
        check.report(
            (*path, "exploration"),
            f"expected a share from 0 to 1 (0.1 is 10%), got {describe(exploration)}",
        )
    elif "exploration" in spec and allocation != "adaptive":
        check.report((*path, "exploration"), "only an adaptive campaign explores")
    goal = check.text(spec.get("goal", "click"), (*path, "goal"))
    if goal is not None and not site_data.EVENT_NAME.fullmatch(goal):
        check.report((*path, "goal"), f"'{goal[:40]}' is not an event name: use a-z, 0-9 and '_'")
    purl = site_data.purl(
        check, spec.get("purl"), (*path, "purl"), context.base_dir, context.landing_hosts
    )
    channels = _channels(check, spec.get("channels", ["web"]), (*path, "channels"))
    raw_utm = spec.get("raw_utm", False)
    if not isinstance(raw_utm, bool):
        check.report((*path, "raw_utm"), f"expected true or false, got {describe(raw_utm)}")
    variants = _variants(context, spec.get("variants"), (*path, "variants"), raw_utm is True)
    if len(check.problems) > before or campaign_id is None:
        return None
    return Campaign(
        id=campaign_id,
        name=name or "",
        slots=slot_names,
        priority=priority,
        audience=audience,
        matches=matches,
        reason=compile_reason(audience, context.groups),
        schedule=schedule,
        frequency=frequency,
        holdout=float(holdout),
        consent=consent or "none",
        allocation=allocation or "fixed",
        goal=goal or "click",
        channels=channels,
        variants=variants,
        line=check.line(path),
        exploration=float(exploration) if is_number(exploration) else DEFAULT_FLOOR,
        purl=purl,
        label=label or "",
    )


def _label(check: Checker, value: Any, path: YPath) -> str | None:
    text = check.text(value, path, empty_ok=True)
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_LABEL or not text.isprintable():
        check.report(path, f"a label is one line of at most {MAX_LABEL} characters")
        return None
    return text


def _slot_names(
    check: Checker, spec: Mapping[str, Any], path: YPath, declared: list[str]
) -> tuple[str, ...]:
    if "slot" in spec and "slots" in spec:
        check.report(path, "use either 'slot' or 'slots', not both")
        return ()
    if "slot" in spec:
        named = [((*path, "slot"), spec["slot"])]
    elif "slots" in spec:
        value = spec["slots"]
        if not isinstance(value, list) or not value:
            check.report((*path, "slots"), f"expected a list of slot names, got {describe(value)}")
            return ()
        named = [((*path, "slots", i), item) for i, item in enumerate(value)]
    else:
        check.report(path, "a campaign needs a 'slot' (or a list of 'slots')")
        return ()
    out = []
    for item_path, item in named:
        name = check.text(item, item_path)
        if name is None:
            continue
        if name not in declared:
            check.report(
                item_path, f"slot '{name}' is not declared under 'slots'{hint(name, declared)}"
            )
        elif name not in out:
            out.append(name)
    return tuple(out)


def _audience(
    check: Checker, value: Any, path: YPath, groups: dict[str, list[Any]]
) -> tuple[Mapping[str, Any] | None, Matcher | None]:
    if value is None or value == {}:
        return None, None
    if not isinstance(value, dict):
        check.report(path, f"expected a condition (a mapping), got {describe(value)}")
        return None, None
    try:
        return value, compile_condition(value, groups, strict=True)
    except ConditionError as exc:
        where = (*path, *exc.path)
        check.report(where, exc.message)
    return None, None


def _zone(check: Checker, value: Any, path: YPath) -> tzinfo | None:
    if not isinstance(value, str) or not value:
        check.report(
            path, f"expected a time zone name like 'Europe/Amsterdam', got {describe(value)}"
        )
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        check.report(path, f"unknown time zone '{value}'{hint(value, available_timezones())}")
    return None


def _schedule(check: Checker, value: Any, path: YPath) -> Schedule | None:
    if value is None:
        return None
    spec = check.mapping(value, path, SCHEDULE_KEYS)
    if spec is None:
        return None
    zone_name = spec.get("timezone", "UTC")
    zone = _zone(check, zone_name, (*path, "timezone"))
    start = _instant(check, spec.get("start"), (*path, "start"), zone or UTC, end=False)
    end = _instant(check, spec.get("end"), (*path, "end"), zone or UTC, end=True)
    if start is not None and end is not None and end <= start:
        check.report(
            (*path, "end"), f"the schedule ends ({spec['end']}) before it starts ({spec['start']})"
        )
        return None
    if zone is None:
        return None
    return Schedule(start=start, end=end, timezone=str(zone_name))


def _instant(
    check: Checker, value: Any, path: YPath, zone: tzinfo, *, end: bool
) -> datetime | None:
    # A date alone means the start of that day, or for ``end`` its end, which is what someone
    # who writes "end: 2026-12-31" expects.
    if value is None:
        return None
    written = value.strip() if isinstance(value, str) else None
    try:
        if written is None:
            raise ValueError
        moment = datetime.fromisoformat(written)
    except ValueError:
        check.report(
            path,
            f"cannot read {describe(value)} as a date and time; write it like "
            "'2026-11-01 09:00' (optionally with an offset such as +01:00)",
        )
        return None
    try:
        if end and _DATE_ONLY.fullmatch(written):
            moment += timedelta(days=1)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    except OverflowError:
        check.report(path, f"{describe(value)} is outside the years a schedule can use")
        return None


def _frequency(check: Checker, value: Any, path: YPath) -> Frequency | None:
    if value is None:
        return None
    spec = check.mapping(value, path, FREQUENCY_KEYS)
    if spec is None:
        return None
    most = None
    if "max" not in spec:
        check.report(path, "a frequency cap needs 'max' (impressions) and 'per' (a window)")
    else:
        most = check.integer(spec["max"], (*path, "max"), low=1, high=MAX_FREQUENCY)
    window = None
    per = spec.get("per")
    matched = _WINDOW.fullmatch(per) if isinstance(per, str) else None
    if matched is None or int(matched.group(1)) < 1:
        check.report(
            (*path, "per"), f"expected a window like '30m', '12h' or '7d', got {describe(per)}"
        )
    else:
        window = int(matched.group(1)) * _UNIT_SECONDS[matched.group(2)]
    if most is None or window is None:
        return None
    return Frequency(max=most, per_seconds=window)


def _channels(check: Checker, value: Any, path: YPath) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        check.report(
            path, f"expected a list of channels ({', '.join(CHANNELS)}), got {describe(value)}"
        )
        return frozenset()
    found = [check.choice(item, (*path, i), CHANNELS) for i, item in enumerate(value)]
    return frozenset(c for c in found if c is not None)


def _variants(context: _Context, value: Any, path: YPath, raw_utm: bool) -> tuple[Variant, ...]:
    check = context.check
    if not isinstance(value, list) or not value:
        check.report(path, "a campaign needs at least one variant (a list under 'variants')")
        return ()
    first_line: dict[str, int] = {}
    out = []
    for index, spec in enumerate(value):
        raw_key = spec.get("key") if isinstance(spec, dict) else None
        if is_int(raw_key) or isinstance(raw_key, str):
            key = str(raw_key)
            if key in first_line:
                check.report(
                    (*path, index, "key"),
                    f"duplicate variant key '{key}' (first used on line {first_line[key]})",
                )
            else:
                first_line[key] = check.line((*path, index, "key"))
        variant = _variant(context, spec, (*path, index), raw_utm)
        if variant is not None:
            out.append(variant)
    return tuple(out)


def _variant(context: _Context, value: Any, path: YPath, raw_utm: bool) -> Variant | None:
    check = context.check
    spec = check.mapping(value, path, VARIANT_KEYS)
    if spec is None:
        return None
    key = spec.get("key")
    if is_int(key):
        key = str(key)
    if key is None:
        check.report(path, "a variant needs a 'key'")
    else:
        key = check.text(key, (*path, "key"))
    weight = spec.get("weight", 1)
    if not is_number(weight) or weight <= 0:
        check.report((*path, "weight"), f"expected a number above 0, got {describe(weight)}")
    if ("html" in spec) == ("template" in spec):
        check.report(path, "a variant needs either 'html' or 'template' (one of the two)")
        return None
    if "template" in spec:
        source_path = (*path, "template")
        source = sections.read_template(check, spec["template"], source_path, context.base_dir)
    else:
        source_path = (*path, "html")
        source = check.text(spec["html"], source_path, empty_ok=True)
    template = sections.compile_template(
        check, context.renderer, source, source_path, raw_utm=raw_utm
    )
    if key is None or source is None or template is None or not is_number(weight) or weight <= 0:
        return None
    return Variant(key=key, weight=float(weight), source=source, template=template)
