"""Changing one campaign of the campaign file's text and nothing else.

The file is read with ruamel.yaml's round-trip mode and only the values that changed are
replaced, so comments, key order, quoting and flow style stay where nothing changed: a diff of
the file shows the changed lines only. The indentation ruamel writes with is the one under
which the untouched file reads back byte for byte. The result is read again with the loader's
own parser: it must hold exactly the intended campaigns and nothing else changed (anchors or
merge keys a campaign shares with others can defeat a minimal edit: then it is refused, and
the marketer is told to change that campaign in the file). A JSON campaign file is rewritten as
indented JSON (it has no comments to keep).
"""

from __future__ import annotations

import difflib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from opmaat.campaigns.schema import CAMPAIGN_KEYS
from opmaat.campaigns.yamlines import parse

FLOW_CHARS = 72  # a new mapping or list shorter than this is written on one line


class EditError(ValueError):
    """The change cannot be written into this file; the message says why."""


def json_like(filename: str, text: str) -> bool:
    """Whether the loader reads ``text`` as JSON (what the loader decides, the same way)."""
    return filename.lower().endswith(".json") or text.lstrip()[:1] in ("{", "[")


def file_data(text: str, filename: str = "") -> Any:
    """The file's data as the loader's parser reads it (None when it cannot)."""
    parsed = parse(text, json_like=json_like(filename, text))
    return parsed.data if not parsed.issues else None


def campaign_specs(text: str, filename: str = "") -> list[dict[str, Any]]:
    """The campaigns of the file as plain data, in file order (those that are mappings)."""
    data = file_data(text, filename)
    found = data.get("campaigns") if isinstance(data, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def find_spec(text: str, campaign: str, filename: str = "") -> dict[str, Any] | None:
    return next((c for c in campaign_specs(text, filename) if c.get("id") == campaign), None)


def same(a: Any, b: Any) -> bool:
    """Equal values of equal JSON types (``1`` is not ``1.0`` nor ``true``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(_kind(a)) is type(_kind(b)) and a == b


def _kind(value: Any) -> Any:
    # ruamel's scalar types are subclasses of the plain ones.
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain()
    return value


def rewrite(
    text: str,
    campaign: str,
    spec: dict[str, Any] | None,
    *,
    filename: str = "",
    after: str | None = None,
) -> str:
    """``text`` with campaign ``campaign`` changed to ``spec``, taken out (``spec`` None) or,
    when the file has no such campaign, added after campaign ``after`` (else at the end)."""
    if spec is not None and _has_control(spec):
        raise EditError("a value holds a control character (a NUL, an escape…): take it out")
    data = file_data(text, filename)
    if not isinstance(data, dict):
        raise EditError("the campaign file does not parse: fix it in the file first")
    old = data.get("campaigns") or []
    if not isinstance(old, list):
        raise EditError("the file's 'campaigns' is not a list: fix it in the file first")
    index = next(
        (i for i, c in enumerate(old) if isinstance(c, dict) and c.get("id") == campaign), None
    )
    wanted = list(old)
    if index is None:
        if spec is None:
            raise EditError(f"the file has no campaign '{campaign}'")
        where = next(
            (i + 1 for i, c in enumerate(old) if isinstance(c, dict) and c.get("id") == after),
            len(old),
        )
        wanted.insert(where, spec)
    elif spec is None:
        del wanted[index]
    else:
        wanted[index] = spec
    if json_like(filename, text):
        made = [json.dumps({**data, "campaigns": wanted}, indent=2, ensure_ascii=False) + "\n"]
    else:
        made = _rewrite_yaml(text, old, wanted)
    expected = {**data, "campaigns": wanted}
    for out in made:
        if same(file_data(out, filename), expected):
            return out
    raise EditError(
        f"campaign '{campaign}' shares parts of the file with others (YAML merge keys): change "
        "it in the file, or write those parts out in full"
    )


def _has_control(value: Any) -> bool:
    # What no campaign value means, and what a YAML file cannot hold as it was typed.
    if isinstance(value, str):
        return any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in value)
    if isinstance(value, dict):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control(v) for v in value)
    return False


# --- YAML ------------------------------------------------------------------------------------


def _yaml(mapping: int, sequence: int, offset: int, start: bool) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # lines are never wrapped anew
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = start
    return yaml


def _dump(yaml: YAML, document: Any) -> str:
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


@lru_cache(maxsize=8)
def _layout(text: str) -> tuple[int, int, int, bool]:
    """The indentation under which ``text`` reads back unchanged (or the most common one)."""
    start = text.lstrip().startswith("---")
    tried = [(2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (3, 5, 3), (2, 3, 1)]
    for layout in tried:
        try:
            if _dump(_yaml(*layout, start), _yaml(*layout, start).load(text)) == text:
                return (*layout, start)
        except YAMLError:
            break
    return (*tried[0], start)


def _rewrite_yaml(text: str, old: list[Any], wanted: list[Any]) -> list[str]:
    """The new text: the file's own lines with the changed campaigns spliced in, else (an
    anchor moved to a campaign that did not change) the whole file as ruamel writes it."""
    layout = _layout(text)
    yaml = _yaml(*layout)
    try:
        document = yaml.load(text)
    except YAMLError as exc:
        raise EditError(f"the campaign file does not parse: {exc}") from None
    if document is None:
        document = CommentedMap()
    if not isinstance(document, CommentedMap):
        raise EditError("the campaign file is not a mapping")
    campaigns = document.get("campaigns")
    if not isinstance(campaigns, CommentedSeq) or not old or campaigns.fa.flow_style():
        if not isinstance(campaigns, CommentedSeq):
            campaigns = CommentedSeq()
            document["campaigns"] = campaigns
        _update_list(campaigns, old, wanted)
        return [_dump(yaml, document)]
    for item in campaigns:
        _drop_tail(item)  # what follows a campaign is taken from the file as it is
    _update_list(campaigns, old, wanted)
    dumped = _dump(yaml, document)
    return [_splice(text, dumped, old, wanted), dumped]


def _splice(text: str, dumped: str, old: list[Any], wanted: list[Any]) -> str:
    """``text`` with the campaigns whose data changed taken from ``dumped``, line for line:
    whatever lies outside a changed campaign (comments, blank lines, the other campaigns) is
    the file's own text, even where ruamel would write it otherwise."""
    lines, made = text.splitlines(keepends=True), dumped.splitlines(keepends=True)
    mine, theirs = _items(lines, text, len(old)), _items(made, dumped, len(wanted))
    matcher = difflib.SequenceMatcher(
        None, [_token(i) for i in old], [_token(i) for i in wanted], autojunk=False
    )
    out = list(lines)
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag in ("equal", "replace") and i2 - i1 == j2 - j1:
            for offset in reversed(range(i2 - i1)):
                if same(old[i1 + offset], wanted[j1 + offset]):
                    continue
                was, new = mine[i1 + offset], theirs[j1 + offset]
                out[was.start : was.tail] = made[new.start : new.tail]
            continue
        if i1 < i2:  # taken out, with their own comments; the next campaign keeps its own
            if i2 < len(mine):
                del out[mine[i1].lead : mine[i2].lead]
            else:
                del out[mine[i1 - 1].tail if i1 else mine[i1].lead : mine[-1].tail]
        if j1 < j2:  # added where they go, with the blank line the file puts between
            gap = ["\n"] if i1 and _blank_after(lines, mine[i1 - 1]) else []
            bodies = [made[theirs[j].start : theirs[j].tail] for j in range(j1, j2)]
            if i2 < len(mine):
                block = [line for body in bodies for line in [*body, *gap]]
                out[mine[i2].lead : mine[i2].lead] = block
            else:
                block = [line for body in bodies for line in [*gap, *body]]
                at = mine[i1 - 1].tail if i1 else mine[0].lead
                out[at:at] = block
    return "".join(out)


def _blank_after(lines: list[str], item: _Item) -> bool:
    return item.tail < len(lines) and not lines[item.tail].strip()


@dataclass(frozen=True, slots=True)
class _Item:
    """A campaign's lines (0-based): its comments from ``lead``, its "-" line at ``start``,
    and from ``tail`` the blank lines and comments that follow it."""

    lead: int
    start: int
    tail: int


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _items(lines: list[str], text: str, count: int) -> list[_Item]:
    by_path = parse(text).lines.by_path
    starts = [by_path[("campaigns", i)] - 1 for i in range(count)]
    keys = [line - 1 for path, line in by_path.items() if len(path) == 1]
    later = [line for line in keys if starts and line > starts[-1]]
    ends = [*starts[1:], min(later, default=len(lines))]
    out = []
    floor = max((line for line in keys if starts and line < starts[0]), default=-1) + 1
    for start, end in zip(starts, ends, strict=True):
        lead = start
        while lead > floor and _comment(lines[lead - 1]):
            lead -= 1
        own_end = end
        while own_end - 1 > start and _comment(lines[own_end - 1]):
            own_end -= 1
        tail = own_end
        while tail - 1 > start and (not lines[tail - 1].strip() or _comment(lines[tail - 1])):
            tail -= 1
        out.append(_Item(lead, start, tail))
        floor = tail
    return out


def _drop_tail(node: Any) -> None:
    """Forget the comment ruamel keeps after a campaign's last value (blank lines, and the
    comments above the next campaign): the file's own lines are kept for it."""
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        key: Any = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        slot = 2 if isinstance(node, CommentedMap) else 0
        entry = node.ca.items.get(key)
        if entry is not None and len(entry) > slot:
            entry[slot] = _inline(entry[slot])
        value = node[key]
        if isinstance(value, CommentedMap | CommentedSeq) and value.fa.flow_style():
            comment = value.ca.comment
            if isinstance(comment, list) and comment:
                comment[0] = _inline(comment[0])
            return
        node = value


def _inline(token: Any) -> Any:
    """A comment token cut to the comment on the value's own line (None when it has none)."""
    text = getattr(token, "value", None)
    if not isinstance(text, str) or not text.lstrip(" ").startswith("#"):
        return None
    token.value = text.split("\n", 1)[0] + "\n"
    return token


def _token(item: Any) -> str:
    # Campaigns and variants are matched by their id or key; anything else by its content.
    if isinstance(item, dict):
        for name in ("id", "key"):
            if isinstance(item.get(name), str | int) and not isinstance(item.get(name), bool):
                return f"{name}={item[name]}"
    return json.dumps(item, sort_keys=True, default=str)


def _shared(node: Any) -> bool:
    anchor = getattr(node, "anchor", None)
    return bool(getattr(anchor, "value", None)) or bool(getattr(node, "merge", None))


def _update_list(node: CommentedSeq, old: list[Any], new: list[Any]) -> None:
    flow = bool(node.fa.flow_style())
    # New mappings look like the ones beside them (variants written out, or on one line).
    maps = [item for item in node if isinstance(item, CommentedMap)]
    block = bool(maps) and not maps[0].fa.flow_style()
    matcher = difflib.SequenceMatcher(None, [_token(i) for i in old], [_token(i) for i in new])
    # From the end, so the indexes of what is still to do stay right.
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag in ("equal", "replace") and i2 - i1 == j2 - j1:
            for offset in range(i2 - i1):
                _update_item(node, i1 + offset, old[i1 + offset], new[j1 + offset], flow)
            continue
        for index in range(i2 - 1, i1 - 1, -1):
            del node[index]
        for offset, item in enumerate(new[j1:j2]):
            node.insert(i1 + offset, _node(item, flow, block=block))


def _update_item(node: CommentedSeq, index: int, old: Any, new: Any, flow: bool) -> None:
    if same(old, new):
        return
    current = node[index]
    maps = isinstance(current, CommentedMap) and isinstance(old, dict) and isinstance(new, dict)
    if maps and not _shared(current):
        _update_map(current, old, new, CAMPAIGN_KEYS if "id" in new else ())
        return
    lists = isinstance(current, CommentedSeq) and isinstance(old, list) and isinstance(new, list)
    if lists and not _shared(current):
        _update_list(current, old, new)
        return
    node[index] = _node(new, flow, block=isinstance(current, CommentedMap) and not flow)


def _update_map(
    node: CommentedMap, old: dict[str, Any], new: dict[str, Any], order: Sequence[str]
) -> None:
    flow = bool(node.fa.flow_style())
    for key in old:
        if key not in new and key in node:
            del node[key]
    for key, value in new.items():
        if key in old and same(old[key], value):
            continue
        current = node.get(key) if key in old else None
        if key in old and not _shared(current):
            if isinstance(current, CommentedMap) and isinstance(value, dict):
                _update_map(current, old[key], value, ())
                continue
            if isinstance(current, CommentedSeq) and isinstance(value, list):
                _update_list(current, old[key], value)
                continue
        if key in node:
            node[key] = _node(value, flow)
        else:
            node.insert(_position(node, key, order), key, _node(value, flow))


def _position(node: CommentedMap, key: str, order: Sequence[str]) -> int:
    """Where a new key goes: after the keys that come before it in ``order`` (else last)."""
    if key not in order:
        return len(node)
    rank = order.index(key)
    keys = list(node)
    before = [i for i, k in enumerate(keys) if k in order and order.index(k) < rank]
    return before[-1] + 1 if before else 0


def _node(value: Any, in_flow: bool, *, block: bool = False) -> Any:
    """A new value for the file: short mappings and lists on one line (unless ``block``),
    text with line breaks as a literal block (inside a one-line collection YAML cannot have
    one)."""
    if isinstance(value, dict | list):
        flow = in_flow or (not block and _short(value))
        made: CommentedMap | CommentedSeq
        if isinstance(value, dict):
            made = CommentedMap()
            for key, item in value.items():
                made[key] = _node(item, flow)
        else:
            # The mappings of a written-out list (variants) are written out too.
            made = CommentedSeq(
                _node(item, flow, block=not flow and isinstance(item, dict)) for item in value
            )
        made.fa.set_flow_style() if flow else made.fa.set_block_style()
        return made
    if isinstance(value, str) and "\n" in value and not in_flow:
        return LiteralScalarString(value)
    if isinstance(value, str) and in_flow and not _plain_in_flow(value):
        return DoubleQuotedScalarString(value)
    return value


_READER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1024)
def _plain_in_flow(text: str) -> bool:
    # Whether ``text`` written plain inside a one-line list reads back as itself: ruamel writes
    # some that do not (":0" in "[:0]"), which no YAML reader takes back.
    try:
        return bool(yaml.load(f"[{text}]", Loader=_READER) == [text])
    except yaml.YAMLError:
        return False


def _short(value: Any) -> bool:
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return False  # a list of mappings (variants) is written out
    try:
        flat = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    return len(flat) <= FLOW_CHARS and "\\n" not in flat
