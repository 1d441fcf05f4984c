"""Reading campaign files: load (raise on any problem), check (list every problem) and review
(the problems, and the warnings about what the file reads of the profile)."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

from opmaat.campaigns import file_checks
from opmaat.campaigns.checker import Checker
from opmaat.campaigns.model import CampaignSet
from opmaat.campaigns.profile_checks import FileFacts, ProfileChecks
from opmaat.campaigns.schema import build
from opmaat.campaigns.yamlines import Parsed, parse
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.errors import ConfigError, Problem


@dataclass(frozen=True, slots=True)
class Review:
    """What `opmaat check` says of a file: ``errors`` keep it from running; ``warnings`` do
    not, but name what can never work as meant (``--strict`` counts them as errors); ``notes``
    say what is not there yet (a data file a command writes later) and never fail."""

    errors: list[Problem]
    warnings: list[Problem]
    notes: list[Problem]


def load_campaigns(path: str | Path, *, load_data: bool = True) -> CampaignSet:
    """Load, validate and compile a campaign file (YAML, or JSON); without ``load_data`` the
    data files it names are not read (the commands that write them).

    Raises ``ConfigError`` listing every problem in the file, each with its line and field.
    """
    campaigns, problems, _ = _build(
        read_campaign_file(path), str(path), Path(path).parent, load_data
    )
    if campaigns is None:
        raise ConfigError(problems)
    return campaigns


def load_campaigns_text(
    text: str, filename: str = "<string>", base_dir: Path | None = None
) -> CampaignSet:
    """Like ``load_campaigns`` for text in hand; template files resolve against ``base_dir``
    (default: the current directory)."""
    data = text.encode("utf-8")
    campaigns, problems, _ = _build(data, filename, base_dir or Path.cwd())
    if campaigns is None:
        raise ConfigError(problems)
    return campaigns


def check_file(path: str | Path) -> list[Problem]:
    """Every problem in a campaign file, the geo database included (what keeps an edge from
    running it); an empty list when the file is good."""
    return _checked(path)[0]


def review_file(path: str | Path) -> Review:
    """Every problem in a campaign file, and every warning about what it reads of the profile
    (unknown attributes, values and operators that never match, sources it does not set)."""
    errors, parsed = _checked(path)
    if parsed is None:
        return Review(errors, [], [])
    filename, shown_dir = str(path), Path(path).parent
    check, notes = Checker(filename, parsed.lines), Checker(filename, parsed.lines)
    file_checks.data_files(check, notes, parsed.data, shown_dir.absolute())
    profile = ProfileChecks(check, FileFacts.of(parsed.data))
    with contextlib.suppress(RecursionError):  # nested that deep, it is a problem already
        profile.campaign_file(parsed.data, shown_dir)
    warnings = sorted(check.problems, key=lambda p: (p.file != filename, p.file, p.line))
    return Review(errors, warnings, notes.problems)


def _checked(path: str | Path) -> tuple[list[Problem], Parsed | None]:
    try:
        data = read_campaign_file(path)
    except ConfigError as exc:
        return list(exc.problems), None
    _, problems, parsed = _build(data, str(path), Path(path).parent, geo=True)
    return problems, parsed


def line_of(text: str, path: YPath) -> int:
    """The line of ``path`` (such as ``("site", "geo_database")``) in a campaign file's text;
    1 when the text does not have it."""
    return parse(text, json_like=_json_like("", text)).lines.line(path)


def read_campaign_file(path: str | Path) -> bytes:
    """The bytes of a campaign file; raises ``ConfigError`` saying why it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise unreadable(path, exc) from None


def unreadable(path: str | Path, exc: OSError) -> ConfigError:
    """What is said of a campaign file that cannot be read (no errno, no bytes)."""
    message = f"cannot read the file: {exc.strerror or exc}"
    return ConfigError([Problem(str(path), 1, "file", message)])


def _json_like(filename: str, text: str) -> bool:
    return filename.lower().endswith(".json") or text.lstrip()[:1] in ("{", "[")


def _build(
    data: bytes, filename: str, shown_dir: Path, load_data: bool = True, *, geo: bool = False
) -> tuple[CampaignSet | None, list[Problem], Parsed | None]:
    # Files the campaign file names are found in its folder, made absolute so that a message
    # says where they were looked for; ``shown_dir`` is the folder as the caller named it.
    # ``geo``: the geo database must open too (what `opmaat check` asks; the edge opens it).
    base_dir = shown_dir.absolute()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(filename, line, "file", "the file is not UTF-8 text")], None
    try:
        parsed = parse(text, json_like=_json_like(filename, text))
        campaigns, problems = build(
            parsed,
            filename=filename,
            base_dir=base_dir,
            version=hashlib.sha256(data).hexdigest()[:12],
            load_data=load_data,
            shown_dir=shown_dir,
        )
    except RecursionError:
        # An alias inside its own anchor, or nesting hundreds deep: no campaign file is that.
        problem = Problem(filename, 1, "file", "nested too deeply (or an alias refers to itself)")
        return None, [problem], None
    if geo:
        check = Checker(filename, parsed.lines)
        file_checks.geo_database(check, parsed.data, base_dir)
        if check.problems:
            campaigns = None
            problems = sorted([*problems, *check.problems], key=lambda p: p.line)
    if campaigns is None:
        problems = file_checks.in_template_files(problems, parsed, filename, shown_dir, base_dir)
    return campaigns, problems, parsed
