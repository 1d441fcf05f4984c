"""The files a campaign file names, checked where the loader's sections do not: the geo
database (an error for `opmaat check`: the edge cannot start without it), template files (their
errors are put at the template file's own line), and the data files the opmaat commands (or the
shop, for the product feed) write (a note while they are missing, a warning when one looks
misspelt: the edge runs without them)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from opmaat.campaigns.checker import Checker, field_name
from opmaat.campaigns.template_sources import template_sources
from opmaat.campaigns.yamlines import Parsed
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.errors import Problem
from opmaat.templates import error_line

_GEO_HELP = (
    "download a GeoLite2 or GeoIP2 City database (docs/edge.md#geo-ip), or leave geo_database out"
)
_DATA_FILES = {
    "customers": (
        "`opmaat import customers` writes it",
        "no visitor has customer.*, rfm.* or segments from it",
    ),
    "recipients": (
        "`opmaat purl create` writes it",
        "the edge knows none of this campaign's personal links",
    ),
    "feed": (
        "the product feed: docs/recommendations.md#the-feed",
        "no product is recommended",
    ),
}


def geo_database(check: Checker, data: Any, base_dir: Path) -> None:
    """An error when ``site.geo_database`` does not open as a MaxMind DB: the edge would not
    start (`opmaat check` says so first)."""
    site = data.get("site") if isinstance(data, dict) else None
    name = site.get("geo_database") if isinstance(site, dict) else None
    if not isinstance(name, str) or not name.strip():
        return  # no geo lookups, or a value the sections report
    # Imported here: opmaat.context loads the User-Agent tables, which only the edge needs.
    from opmaat.context.geo import database_problem

    problem = database_problem(base_dir / name)
    if problem is not None:
        check.report(("site", "geo_database"), geo_message(problem))


def geo_message(problem: str) -> str:
    """What is said of a geo database that does not open (``problem`` says why)."""
    return f"{problem}: {_GEO_HELP}"


def in_template_files(
    problems: Iterable[Problem], parsed: Parsed, filename: str, shown_dir: Path, base_dir: Path
) -> list[Problem]:
    """``problems`` with each error of a template file moved to that file's line."""
    lines: dict[str, tuple[str, int]] = {}
    for source in template_sources(parsed.data, shown_dir, base_dir):
        line = error_line(source.text, raw_utm=source.raw_utm) if source.file else None
        if source.file is not None and line is not None:
            lines[field_name(source.path)] = (source.file, line)
    out = []
    for problem in problems:
        found = lines.get(problem.field) if problem.file == filename else None
        if found is None:
            out.append(problem)
            continue
        file, line = found
        message = problem.message.replace(f" on line {line} of the template", "")
        out.append(Problem(file, line, problem.field, message))
    return out


def data_files(warn: Checker, note: Checker, data: Any, base_dir: Path) -> None:
    """Notes on the customer table and the recipients files that do not exist yet (the
    commands that write them may run later), warnings when one looks misspelt; and a warning
    for locations without the geo database that places visitors."""
    if not isinstance(data, dict):
        return
    found = data.get("site")
    site: dict[str, Any] = found if isinstance(found, dict) else {}
    path: YPath = ("site", "customers")
    _data_file(warn, note, site.get("customers"), path, base_dir, "customers")
    found = data.get("recommendations")
    if isinstance(found, dict):
        feed: YPath = ("recommendations", "feed")
        _data_file(warn, note, found.get("feed"), feed, base_dir, "feed")
    campaigns = data.get("campaigns")
    for index, campaign in enumerate(campaigns if isinstance(campaigns, list) else ()):
        purl = campaign.get("purl") if isinstance(campaign, dict) else None
        if isinstance(purl, dict):
            path = ("campaigns", index, "purl", "recipients")
            _data_file(warn, note, purl.get("recipients"), path, base_dir, "recipients")
    if site.get("locations") and not site.get("geo_database"):
        warn.report(
            ("site", "locations"),
            "geo.nearest needs the visitor's position, which only site.geo_database gives: "
            "without it no visitor has a nearest location",
        )


def _data_file(
    warn: Checker, note: Checker, name: Any, path: YPath, base_dir: Path, kind: str
) -> None:
    if not isinstance(name, str) or "\x00" in name:
        return
    file = base_dir / name
    try:
        if file.exists():
            return
    except (OSError, ValueError):
        return  # a name the sections report
    try:
        siblings = [other for other in os.listdir(file.parent) if other.endswith(file.suffix)]
    except OSError:
        siblings = []
    near = difflib.get_close_matches(file.name, siblings, n=1, cutoff=0.9)
    writer, meanwhile = _DATA_FILES[kind]
    if near:
        warn.report(path, f"no file {file}; did you mean '{near[0]}'? ({writer})")
    else:
        note.report(path, f"no file {file} yet ({writer}): until then {meanwhile}")
