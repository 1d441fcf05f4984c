"""Collects every problem in a campaign file, each with its file, line and field."""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable
from pathlib import Path as FilePath
from typing import Any

from opmaat.campaigns.yamlines import Lines, Path
from opmaat.errors import Problem

MAX_FILE_NAME = 255


def field_name(path: Path) -> str:
    """``("campaigns", 2, "variants", 0, "template")`` -> ``campaigns[2].variants[0].template``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "file"


def hint(word: Any, choices: Iterable[str]) -> str:
    """ "; did you mean 'x'?" when ``word`` is a near miss of one of ``choices``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (an int too large for a float is not one)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"'{value[:40]}'"
    return repr(value)


class Checker:
    """Problem collection for one file; every check reports and carries on."""

    def __init__(self, filename: str, lines: Lines) -> None:
        self.filename = filename
        self.lines = lines
        self.problems: list[Problem] = []

    def report(
        self, path: Path, message: str, *, field: str | None = None, line: int | None = None
    ) -> None:
        where = self.lines.line(path) if line is None else line
        self.problems.append(Problem(self.filename, where, field or field_name(path), message))

    def line(self, path: Path) -> int:
        return self.lines.line(path)

    def mapping(self, value: Any, path: Path, keys: Collection[str]) -> dict[str, Any] | None:
        """``value`` as a mapping with only ``keys``; unknown keys are reported with a hint."""
        if not isinstance(value, dict):
            self.report(
                path, f"expected a mapping with keys such as {_some(keys)}, got {describe(value)}"
            )
            return None
        for key in value:
            if key not in keys:
                self.report((*path, key), f"unknown key '{key}'{hint(key, keys)}")
        return value

    def text(self, value: Any, path: Path, *, empty_ok: bool = False) -> str | None:
        if not isinstance(value, str):
            self.report(path, f"expected text, got {describe(value)}")
            return None
        if not empty_ok and not value.strip():
            self.report(path, "must not be empty")
            return None
        return value

    def choice(self, value: Any, path: Path, choices: Collection[str]) -> str | None:
        if value in choices:
            return str(value)
        options = ", ".join(choices)
        self.report(path, f"must be one of {options}, got {describe(value)}{hint(value, choices)}")
        return None

    def integer(self, value: Any, path: Path, *, low: int, high: int | None = None) -> int | None:
        if not is_int(value) or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            self.report(path, f"expected a whole number {span}, got {describe(value)}")
            return None
        return int(value)

    def file_in(self, name: str, path: Path, base_dir: FilePath, what: str) -> FilePath | None:
        """``name`` resolved against the campaign file's folder, or None (reported) when it
        cannot be a file name there or leads out of the folder: a campaign file (perhaps
        shared by another node) must not read the rest of the disk."""
        if "\x00" in name or len(name) > MAX_FILE_NAME:
            self.report(path, f"'{name[:40]}' cannot be a {what} name")
            return None
        try:
            file = (base_dir / name).resolve()
            inside = file.is_relative_to(base_dir.resolve())
        except (OSError, ValueError, RuntimeError) as exc:
            self.report(path, f"'{name[:40]}' cannot be a {what} name: {exc}")
            return None
        if not inside:
            self.report(path, f"{what} '{name}' is outside the campaign file's folder")
            return None
        return file

    def text_list(self, value: Any, path: Path) -> list[tuple[Path, str]]:
        """The text items of a list with their paths; a bare string is not taken as a list."""
        if not isinstance(value, list):
            self.report(path, f"expected a list, got {describe(value)}")
            return []
        out = []
        for index, item in enumerate(value):
            checked = self.text(item, (*path, index))
            if checked is not None:
                out.append(((*path, index), checked))
        return out


def _some(keys: Collection[str]) -> str:
    names = [f"'{k}'" for k in list(keys)[:3]]
    return ", ".join(names)
