"""Reading campaign files: load (raise on any problem) and check (list every problem)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from opmaat.campaigns.model import CampaignSet
from opmaat.campaigns.schema import build
from opmaat.campaigns.yamlines import parse
from opmaat.errors import ConfigError, Problem


def load_campaigns(path: str | Path, *, load_data: bool = True) -> CampaignSet:
    """Load, validate and compile a campaign file (YAML, or JSON); without ``load_data`` the
    data files it names are not read (the commands that write them).

    Raises ``ConfigError`` listing every problem in the file, each with its line and field.
    """
    campaigns, problems = _build(_read(path), str(path), Path(path).parent, load_data)
    if campaigns is None:
        raise ConfigError(problems)
    return campaigns


def load_campaigns_text(
    text: str, filename: str = "<string>", base_dir: Path | None = None
) -> CampaignSet:
    """Like ``load_campaigns`` for text in hand; template files resolve against ``base_dir``
    (default: the current directory)."""
    data = text.encode("utf-8")
    campaigns, problems = _build(data, filename, base_dir or Path.cwd())
    if campaigns is None:
        raise ConfigError(problems)
    return campaigns


def check_file(path: str | Path) -> list[Problem]:
    """Every problem in a campaign file; an empty list when the file is good."""
    try:
        data = _read(path)
    except ConfigError as exc:
        return list(exc.problems)
    return _build(data, str(path), Path(path).parent)[1]


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        problem = Problem(str(path), 1, "file", f"cannot read the file: {exc.strerror or exc}")
        raise ConfigError([problem]) from None


def _build(
    data: bytes, filename: str, base_dir: Path, load_data: bool = True
) -> tuple[CampaignSet | None, list[Problem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(filename, line, "file", "the file is not UTF-8 text")]
    json_like = filename.lower().endswith(".json") or text.lstrip()[:1] in ("{", "[")
    try:
        return build(
            parse(text, json_like=json_like),
            filename=filename,
            base_dir=base_dir,
            version=hashlib.sha256(data).hexdigest()[:12],
            load_data=load_data,
        )
    except RecursionError:
        # An alias inside its own anchor, or nesting hundreds deep: no campaign file is that.
        problem = Problem(filename, 1, "file", "nested too deeply (or an alias refers to itself)")
        return None, [problem]
