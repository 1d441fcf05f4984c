"""Logs a record keeps for the privacy page (the recent decisions, each channel's last ones):
one text of JSON lines, oldest first, not a list of objects.

Every decision appends to them and only the privacy page and ``/v1/me`` read them. As objects
they were more than half of a returning visitor's record, decoded and encoded again on every
request; as one text the decide path reads them as one string and appends its entries' lines
without parsing the others. A record written before keeps its list until the next append turns
it into lines; the readers take both, and leave out whatever is not a JSON object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson


def appended(stored: Any, entries: Iterable[Mapping[str, Any]], most: int) -> str:
    """``stored`` (lines, or an older record's list) with ``entries`` after it, the last
    ``most`` kept (all of them when ``most`` is not positive)."""
    # orjson escapes a newline inside a text, so an entry is always one line.
    new = [orjson.dumps(e).decode() for e in entries]
    text: str
    if isinstance(stored, list):
        text = "\n".join(orjson.dumps(e).decode() for e in stored if isinstance(e, dict))
    else:
        text = stored if isinstance(stored, str) else ""
    kept = text.count("\n") + 1 if text else 0
    if most <= 0:
        most = kept + len(new)
    if len(new) >= most:
        return "\n".join(new[-most:])
    # Only the oldest lines past ``most`` are cut off: the others are neither split apart nor
    # joined again on every decision.
    over = kept + len(new) - most
    if over > 0:
        cut = -1
        for _ in range(over):
            cut = text.find("\n", cut + 1)
        text = text[cut + 1 :]
    if not new:
        return text
    added = "\n".join(new)
    return text + "\n" + added if text or kept else added


def entries(stored: Any) -> list[dict[str, Any]]:
    """The JSON objects of a log (lines, or an older record's list), oldest first."""
    if isinstance(stored, list):
        return [e for e in stored if isinstance(e, dict)]
    if not isinstance(stored, str) or not stored:
        return []
    out = []
    for line in stored.split("\n"):
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def without_oldest(stored: Any) -> tuple[Any, int]:
    """The log without its oldest entry, and about how many bytes of the record's JSON that
    frees (0: nothing to drop)."""
    if isinstance(stored, list) and stored:
        return stored[1:], len(orjson.dumps(stored[0])) + 1
    if isinstance(stored, str) and stored:
        oldest, newline, rest = stored.partition("\n")
        # Its escaped text (without the quotes), and the newline's two characters.
        return rest, len(orjson.dumps(oldest)) - 2 + (2 if newline else 0)
    return stored, 0


def readable(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` as a visitor downloads it: its logs as lists of objects (a shallow copy)."""
    out = dict(record)
    if "decisions" in out:
        out["decisions"] = entries(out["decisions"])
    contacts = out.get("contacts")
    if isinstance(contacts, dict):
        out["contacts"] = {
            channel: {**kept, "lately": entries(kept["lately"])}
            if isinstance(kept, dict) and "lately" in kept
            else kept
            for channel, kept in contacts.items()
        }
    return out
