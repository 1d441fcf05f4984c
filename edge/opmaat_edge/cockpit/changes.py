"""What changed between two states of the campaign file, readably: per campaign, the fields
with their value before and after (an audience in words), in a line for lists, and as a
unified diff of the file for whoever wants every character."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from opmaat.campaigns.schema import CAMPAIGN_KEYS
from opmaat_edge.cockpit.audience import describe_audience
from opmaat_edge.cockpit.yaml_edit import file_data, same

SHOWN = 300  # characters of a value shown in a change
MAX_DIFF_LINES = 2000


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _said(key: str, value: Any) -> str:
    if key == "audience":
        return describe_audience(value if isinstance(value, dict) else None)
    return _short(value)


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[dict[str, str]]:
    """The fields of a campaign that differ, in the file's key order: field, before, after."""
    before, after = before or {}, after or {}
    keys = [k for k in CAMPAIGN_KEYS if k in before or k in after]
    keys += [k for k in (*before, *after) if k not in keys]
    out: list[dict[str, str]] = []
    for key in dict.fromkeys(keys):
        old, new = before.get(key), after.get(key)
        if key in before and key in after and same(old, new):
            continue
        if key == "variants" and isinstance(old, list) and isinstance(new, list):
            out.extend(_variant_changes(old, new))
            continue
        out.append({"field": key, "before": _said(key, old), "after": _said(key, new)})
    return out


def _variant_changes(old: list[Any], new: list[Any]) -> list[dict[str, str]]:
    def keyed(items: list[Any]) -> dict[str, Any]:
        return {str(v.get("key")): v for v in items if isinstance(v, dict)}

    was, now = keyed(old), keyed(new)
    out = []
    for key in dict.fromkeys([*was, *now]):
        a, b = was.get(key), now.get(key)
        if a is not None and b is not None and same(a, b):
            continue
        for part in ("weight", "html", "template"):
            x, y = (a or {}).get(part), (b or {}).get(part)
            if not same(x, y) or a is None or b is None:
                if x is None and y is None:
                    continue
                out.append(
                    {"field": f"variant {key} {part}", "before": _short(x), "after": _short(y)}
                )
    if not out and not same(old, new):
        out.append({"field": "variants", "before": "(order)", "after": "(order changed)"})
    return out


def file_changes(before: str, after: str, filename: str = "") -> list[dict[str, Any]]:
    """Per campaign added, taken out or changed (with its fields), and the other sections of
    the file that changed; empty when nothing did."""
    old, new = file_data(before, filename), file_data(after, filename)
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if before == after else [{"campaign": None, "what": "text", "fields": []}]

    def campaigns(data: Mapping[str, Any]) -> dict[str, Any]:
        found = data.get("campaigns")
        items = found if isinstance(found, list) else []
        return {str(c.get("id")): c for c in items if isinstance(c, dict)}

    was, now = campaigns(old), campaigns(new)
    out: list[dict[str, Any]] = []
    for campaign in dict.fromkeys([*was, *now]):
        a, b = was.get(campaign), now.get(campaign)
        if a is not None and b is not None and same(a, b):
            continue
        what = "added" if a is None else "removed" if b is None else "changed"
        out.append({"campaign": campaign, "what": what, "fields": field_changes(a, b)})
    for section in dict.fromkeys([*old, *new]):
        if section != "campaigns" and not same(old.get(section), new.get(section)):
            out.append({"campaign": None, "what": f"{section} changed", "fields": []})
    if not out and before != after:
        out.append({"campaign": None, "what": "layout or comments changed", "fields": []})
    return out


def summary(changes: list[dict[str, Any]]) -> str:
    """The changes in a line: "changed de-phone (audience, variant a html); added x"."""
    parts = []
    for change in changes:
        if change["campaign"] is None:
            parts.append(change["what"])
            continue
        fields = ", ".join(dict.fromkeys(f["field"] for f in change["fields"]))
        shown = f" ({fields})" if change["what"] == "changed" and fields else ""
        parts.append(f"{change['what']} {change['campaign']}{shown}")
    return "; ".join(parts) or "no change"


def unified(before: str, after: str, name: str) -> str:
    """A unified diff of the two texts (at most `MAX_DIFF_LINES` lines). Lines that repeat
    often (``variants:``) are matched too, which difflib's own unified_diff skips in long
    files, so only what changed is marked."""
    a, b = before.splitlines(), after.splitlines()
    out = [f"--- {name} (before)", f"+++ {name} (after)"]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(3):
        first, last = group[0], group[-1]
        out.append(
            f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@"
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(f" {line}" for line in a[i1:i2])
                continue
            out.extend(f"-{line}" for line in a[i1:i2])
            out.extend(f"+{line}" for line in b[j1:j2])
    if len(out) == 2:
        return ""
    if len(out) > MAX_DIFF_LINES:
        out = [*out[:MAX_DIFF_LINES], f"… {len(out) - MAX_DIFF_LINES} more lines"]
    return "\n".join(out) + "\n"
