"""A campaign as the cockpit's form: every key a campaign has in the campaign file, shown as
fields and read back with a message beside each field that cannot be used.

A field left as it was shown keeps the file's value exactly (a key the file did not write
stays unwritten while it holds the default), so saving a campaign changes in the file only
what the marketer changed. The audience has its own builder (audience_form); the checks the
edge makes of the whole file (`opmaat check`) run on the draft afterwards (review).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from opmaat.adaptive import DEFAULT_FLOOR
from opmaat.campaigns.model import ALLOCATIONS, CHANNELS, CONSENT_TIERS
from opmaat.campaigns.schema import CAMPAIGN_ID, MAX_FREQUENCY, MAX_HOLDOUT, MAX_LABEL
from opmaat.campaigns.site_data import EVENT_NAME

MAX_TEXT = 200
MAX_HTML = 100_000
MAX_VARIANTS = 20
_WINDOW = re.compile(r"[0-9]{1,6}[mhd]")
_INT = re.compile(r"[-+]?[0-9]{1,9}")
_VARIANT_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class Filled:
    """A form read back: the campaign (None when a field keeps it from being made), and the
    message for each field that cannot be used, by field name."""

    spec: dict[str, Any] | None
    errors: dict[str, str] = field(default_factory=dict)


def _percent(share: Any) -> str:
    if not isinstance(share, int | float) or isinstance(share, bool):
        return ""
    text = f"{round(share * 100, 6):.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return str(value) if isinstance(value, int) else repr(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _section(spec: Mapping[str, Any], key: str) -> dict[str, Any]:
    found = spec.get(key)
    return found if isinstance(found, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def shown(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the form shows of ``spec`` (a new campaign when None)."""
    spec = spec or {}
    schedule, frequency = _section(spec, "schedule"), _section(spec, "frequency")
    purl = _section(spec, "purl")
    slots = _items(spec["slots"]) if "slots" in spec else [spec["slot"]] if "slot" in spec else []
    variants = _items(spec.get("variants"))
    return {
        "id": _text(spec.get("id", "")),
        "name": _text(spec.get("name", "")),
        "label": _text(spec.get("label", "")),
        "slots": [s for s in slots if isinstance(s, str)],
        "priority": _number(spec.get("priority", 0)),
        "channels": [c for c in _items(spec.get("channels", ["web"])) if isinstance(c, str)],
        "consent": _text(spec.get("consent", "none")),
        "schedule_start": _text(schedule.get("start", "")),
        "schedule_end": _text(schedule.get("end", "")),
        "schedule_timezone": _text(schedule.get("timezone", "UTC")),
        "frequency_max": _number(frequency.get("max", "")),
        "frequency_per": _text(frequency.get("per", "")),
        "holdout": _percent(spec.get("holdout", 0)),
        "allocation": _text(spec.get("allocation", "fixed")),
        "exploration": _percent(spec.get("exploration", DEFAULT_FLOOR)),
        "goal": _text(spec.get("goal", "click")),
        "raw_utm": spec.get("raw_utm") is True,
        "purl": "purl" in spec,
        "purl_recipients": _text(purl.get("recipients", "")),
        "purl_landing": _text(purl.get("landing", "/")),
        "purl_expires_days": _number(purl.get("expires_days", 90)),
        "purl_expose": ", ".join(c for c in _items(purl.get("expose")) if isinstance(c, str)),
        "variants": [
            {
                "key": _text(v.get("key", "")),
                "weight": _number(v.get("weight", 1)),
                "source": "template" if "template" in v else "html",
                "html": _text(v.get("html", "")),
                "template": _text(v.get("template", "")),
            }
            for v in variants
            if isinstance(v, dict)
        ],
    }


@dataclass(frozen=True)
class FormContext:
    """What the form's choices come from: the file's slots, the known events."""

    slots: Sequence[str]
    events: Sequence[str]
    new: bool
    taken_ids: frozenset[str] = frozenset()


class _Form:
    def __init__(self, form: Mapping[str, list[str]], base: Mapping[str, Any] | None) -> None:
        self.form = form
        self.base = dict(base or {})
        self.was = shown(base)
        self.errors: dict[str, str] = {}
        self.spec: dict[str, Any] = {}

    def get(self, name: str) -> str:
        values = self.form.get(name)
        return values[0].replace("\r\n", "\n") if values else ""

    def all(self, name: str) -> list[str]:
        return [v for v in self.form.get(name, []) if v]

    def unchanged(self, name: str) -> bool:
        return self.get(name).strip() == str(self.was[name]).strip()

    def put(self, key: str, value: Any, default: Any) -> None:
        """Write ``key`` unless the file did not and ``value`` is the default."""
        if key in self.base or value != default or type(value) is not type(default):
            self.spec[key] = value

    def line(self, name: str, most: int = MAX_TEXT) -> str | None:
        text = self.get(name).strip()
        if len(text) > most or not text.isprintable():
            self.errors[name] = f"one line of at most {most} characters"
            return None
        return text

    def whole(self, name: str, low: int, high: int, what: str) -> int | None:
        text = self.get(name).strip()
        if not _INT.fullmatch(text) or not low <= int(text) <= high:
            self.errors[name] = f"{what}: a whole number from {low} to {high}"
            return None
        return int(text)

    def share(self, name: str, high: float, what: str) -> float | None:
        text = self.get(name).strip().rstrip("%").strip()
        try:
            percent = float(text)
        except ValueError:
            percent = math.nan
        if not (0 <= percent <= high * 100):
            self.errors[name] = f"{what}: a percentage from 0 to {high * 100:g}"
            return None
        return percent / 100


def read_campaign(
    form: Mapping[str, list[str]], base: Mapping[str, Any] | None, context: FormContext
) -> Filled:
    """The campaign the form says, written over ``base`` (the campaign as the file has it; None
    for a new one). The audience is not in the form's fields: the caller adds it."""
    f = _Form(form, base)
    _identity(f, context)
    _targeting(f, context)
    _timing(f)
    _allocation(f, context)
    _purl(f)
    _variants(f)
    return Filled(None if f.errors else f.spec, f.errors)


def _identity(f: _Form, context: FormContext) -> None:
    if context.new:
        campaign_id = f.get("id").strip()
        if not CAMPAIGN_ID.fullmatch(campaign_id):
            f.errors["id"] = "lower-case letters, digits, '-' and '_' (at most 64)"
        elif campaign_id in context.taken_ids:
            f.errors["id"] = f"there is a campaign '{campaign_id}' already"
        f.spec["id"] = campaign_id
    else:
        f.spec["id"] = f.base.get("id")
    name = f.line("name")
    if name is not None:
        f.put("name", f.base["name"] if f.unchanged("name") and "name" in f.base else name, "")
    label = f.line("label", MAX_LABEL)
    if label is not None:
        f.put("label", f.base["label"] if f.unchanged("label") and "label" in f.base else label, "")


def _targeting(f: _Form, context: FormContext) -> None:
    slots = f.all("slots")
    unknown = [s for s in slots if s not in context.slots]
    if not slots:
        f.errors["slots"] = "choose at least one slot"
    elif unknown:
        f.errors["slots"] = f"the file declares no slot '{unknown[0][:40]}'"
    elif slots == f.was["slots"] and ("slot" in f.base or "slots" in f.base):
        key = "slot" if "slot" in f.base else "slots"
        f.spec[key] = f.base[key]
    elif len(slots) == 1 and "slots" not in f.base:
        f.spec["slot"] = slots[0]
    else:
        f.spec["slots"] = slots
    if not f.unchanged("priority"):
        priority = f.whole("priority", -1_000_000, 1_000_000, "priority")
        if priority is not None:
            f.put("priority", priority, 0)
    elif "priority" in f.base:
        f.spec["priority"] = f.base["priority"]
    channels = f.all("channels")
    if not channels or any(c not in CHANNELS for c in channels):
        f.errors["channels"] = "choose at least one channel"
    elif channels == f.was["channels"] and "channels" in f.base:
        f.spec["channels"] = f.base["channels"]
    else:
        f.put("channels", [c for c in CHANNELS if c in channels], ["web"])
    consent = f.get("consent")
    if consent not in CONSENT_TIERS:
        f.errors["consent"] = f"one of {', '.join(CONSENT_TIERS)}"
    elif consent == f.was["consent"] and "consent" in f.base:
        f.spec["consent"] = f.base["consent"]
    else:
        f.put("consent", consent, "none")


def _moment(f: _Form, name: str) -> str | None:
    text = f.get(name).strip()
    if not text:
        return ""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        f.errors[name] = "a date and time like 2026-11-01 09:00 (or a date, 2026-11-01)"
        return None
    return text


def _timing(f: _Form) -> None:
    start, end = _moment(f, "schedule_start"), _moment(f, "schedule_end")
    zone = f.get("schedule_timezone").strip() or "UTC"
    if zone not in _zones():
        f.errors["schedule_timezone"] = "a time zone name like Europe/Amsterdam"
    base = f.base.get("schedule") if isinstance(f.base.get("schedule"), dict) else None
    if start is not None and end is not None and zone in _zones():
        if all(f.unchanged(n) for n in ("schedule_start", "schedule_end", "schedule_timezone")):
            if "schedule" in f.base:
                f.spec["schedule"] = f.base["schedule"]
        elif start or end or (base is not None and "timezone" in base) or zone != "UTC":
            schedule: dict[str, Any] = {}
            if start:
                schedule["start"] = start
            if end:
                schedule["end"] = end
            if zone != "UTC" or (base is not None and "timezone" in base):
                schedule["timezone"] = zone
            f.spec["schedule"] = schedule
    most, per = f.get("frequency_max").strip(), f.get("frequency_per").strip()
    if f.unchanged("frequency_max") and f.unchanged("frequency_per"):
        if "frequency" in f.base:
            f.spec["frequency"] = f.base["frequency"]
    elif most or per:
        count = f.whole("frequency_max", 1, MAX_FREQUENCY, "at most")
        if not _WINDOW.fullmatch(per):
            f.errors["frequency_per"] = "a window like 30m, 12h or 7d"
        elif count is not None:
            f.spec["frequency"] = {"max": count, "per": per}


def _allocation(f: _Form, context: FormContext) -> None:
    if f.unchanged("holdout") and "holdout" in f.base:
        f.spec["holdout"] = f.base["holdout"]
    else:
        holdout = f.share("holdout", MAX_HOLDOUT, "holdout")
        if holdout is not None:
            f.put("holdout", holdout, 0.0)
    allocation = f.get("allocation")
    if allocation not in ALLOCATIONS:
        f.errors["allocation"] = f"one of {', '.join(ALLOCATIONS)}"
        return
    f.put("allocation", allocation, "fixed")
    if allocation == "adaptive":
        if f.unchanged("exploration") and "exploration" in f.base:
            f.spec["exploration"] = f.base["exploration"]
        else:
            exploration = f.share("exploration", 1.0, "exploration")
            if exploration is not None:
                f.put("exploration", exploration, DEFAULT_FLOOR)
    goal = f.get("goal").strip()
    if not EVENT_NAME.fullmatch(goal):
        f.errors["goal"] = "click, or an event name (a-z, 0-9 and '_')"
    else:
        f.put("goal", goal, "click")
    raw_utm = bool(f.get("raw_utm"))
    f.put("raw_utm", raw_utm, False)


def _purl(f: _Form) -> None:
    if not f.get("purl"):
        return
    names = ("purl_recipients", "purl_landing", "purl_expires_days", "purl_expose")
    if isinstance(f.base.get("purl"), dict) and all(f.unchanged(n) for n in names):
        f.spec["purl"] = f.base["purl"]
        return
    recipients = f.line("purl_recipients", 255)
    if not recipients:
        f.errors["purl_recipients"] = "the recipients file, beside the campaign file"
        return
    purl: dict[str, Any] = {"recipients": recipients}
    landing = f.line("purl_landing", 2000) or "/"
    if landing != "/":
        purl["landing"] = landing
    days = f.whole("purl_expires_days", 1, 3650, "days")
    if days is not None and days != 90:
        purl["expires_days"] = days
    expose = [c.strip() for c in f.get("purl_expose").split(",") if c.strip()]
    if expose:
        purl["expose"] = expose
    f.spec["purl"] = purl


def _variants(f: _Form) -> None:
    numbers = sorted(
        {
            int(k.split(".")[1])
            for k in f.form
            if k.startswith("variant.") and k.count(".") == 2 and k.split(".")[1].isdigit()
        }
    )[: MAX_VARIANTS + 1]
    if len(numbers) > MAX_VARIANTS:
        f.errors["variants"] = f"at most {MAX_VARIANTS} variants"
        return
    if not numbers:
        f.errors["variants"] = "a campaign needs at least one variant"
        return
    base = _items(f.base.get("variants"))
    was = f.was["variants"]
    out = []
    for position, n in enumerate(numbers):
        prefix = f"variant.{n}"
        before = base[position] if position < len(base) and isinstance(base[position], dict) else {}
        shown_before = was[position] if position < len(was) else None
        out.append(_variant(f, prefix, before, shown_before))
    keys = [v.get("key") for v in out]
    for position, key in enumerate(keys):
        if key is not None and key in keys[:position]:
            f.errors[f"variant.{numbers[position]}.key"] = f"the key '{key}' is used twice"
    if "variants" in f.base and out == base:
        f.spec["variants"] = f.base["variants"]
    else:
        f.spec["variants"] = out


def _variant(
    f: _Form, prefix: str, before: Mapping[str, Any], was: Mapping[str, Any] | None
) -> dict[str, Any]:
    def same(part: str) -> bool:
        return was is not None and f.get(f"{prefix}.{part}").strip() == str(was[part]).strip()

    variant: dict[str, Any] = {}
    key = f.get(f"{prefix}.key").strip()
    if same("key") and "key" in before:
        variant["key"] = before["key"]
    elif not _VARIANT_KEY.fullmatch(key):
        f.errors[f"{prefix}.key"] = "letters, digits, '-' and '_' (at most 64)"
    else:
        variant["key"] = key
    weight_text = f.get(f"{prefix}.weight").strip() or "1"
    if same("weight") and "weight" in before:
        variant["weight"] = before["weight"]
    else:
        try:
            weight = float(weight_text)
        except ValueError:
            weight = math.nan
        if not (0 < weight <= 1_000_000):
            f.errors[f"{prefix}.weight"] = "a number above 0"
        else:
            number: float | int = int(weight) if weight.is_integer() else weight
            if "weight" in before or number != 1:
                variant["weight"] = number
    if f.get(f"{prefix}.source") == "template":
        name = f.get(f"{prefix}.template").strip()
        if same("template") and "template" in before:
            variant["template"] = before["template"]
        elif not name or len(name) > 255:
            f.errors[f"{prefix}.template"] = "the template file's name, beside the campaign file"
        else:
            variant["template"] = name
    else:
        html = f.get(f"{prefix}.html")
        if was is not None and "html" in before and html == was["html"]:
            variant["html"] = before["html"]
        elif len(html) > MAX_HTML:
            f.errors[f"{prefix}.html"] = f"at most {MAX_HTML} characters"
        else:
            variant["html"] = html
    return variant


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def zone_names() -> list[str]:
    return sorted(_zones())


# Which form field a problem of ``campaigns[i].<field>`` from `opmaat check` is shown beside.
FIELDS = {
    "id": "id",
    "name": "name",
    "label": "label",
    "slot": "slots",
    "slots": "slots",
    "priority": "priority",
    "audience": "audience",
    "schedule.start": "schedule_start",
    "schedule.end": "schedule_end",
    "schedule.timezone": "schedule_timezone",
    "schedule": "schedule_start",
    "frequency.max": "frequency_max",
    "frequency.per": "frequency_per",
    "frequency": "frequency_max",
    "holdout": "holdout",
    "consent": "consent",
    "allocation": "allocation",
    "exploration": "exploration",
    "goal": "goal",
    "channels": "channels",
    "raw_utm": "raw_utm",
    "purl.recipients": "purl_recipients",
    "purl.landing": "purl_landing",
    "purl.expires_days": "purl_expires_days",
    "purl.expose": "purl_expose",
    "purl": "purl_recipients",
    "variants": "variants",
}
_VARIANT_FIELD = re.compile(r"variants\[([0-9]+)\]\.?(key|weight|html|template)?")


def field_for(subfield: str) -> str:
    """The form field for what follows ``campaigns[i].`` in a problem's field name."""
    found = _VARIANT_FIELD.match(subfield)
    if found is not None:
        part = found.group(2) or "html"
        return f"variant.{found.group(1)}.{part}"
    plain = re.sub(r"\[[0-9]+\]", "", subfield)
    for length in range(plain.count(".") + 1, 0, -1):
        head = ".".join(plain.split(".")[:length])
        if head in FIELDS:
            return FIELDS[head]
    return "audience" if plain.startswith("audience") else "campaign"
