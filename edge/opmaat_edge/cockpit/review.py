"""A draft checked exactly as `opmaat check` checks a file: the whole candidate campaign file
is written beside the campaign file (so the template and data files it names are found where
the edge finds them), reviewed with the same function, and taken away again. Problems come
back with the campaign file's name and the candidate's line numbers; those of one campaign
are put beside the form's fields."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from opmaat.campaigns.loader import review_file
from opmaat.errors import Problem
from opmaat_edge.cockpit.campaign_form import field_for

_CAMPAIGN = re.compile(r"campaigns\[([0-9]+)\]\.?(.*)")


@dataclass
class Checked:
    """What `opmaat check` says of a candidate file: ``errors`` keep it from being published,
    ``warnings`` and ``notes`` do not."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def for_campaign(self, index: int | None) -> dict[str, list[tuple[str, Problem]]]:
        """The problems of campaign ``index`` by form field: (kind, problem) pairs; those of
        the rest of the file under "file"."""
        out: dict[str, list[tuple[str, Problem]]] = {}
        for kind, problems in (("error", self.errors), ("warning", self.warnings)):
            for problem in problems:
                found = _CAMPAIGN.fullmatch(problem.field)
                name = "file"
                if found is not None and index is not None and int(found.group(1)) == index:
                    name = field_for(found.group(2))
                out.setdefault(name, []).append((kind, problem))
        return out


def check_text(config: Path, text: str) -> Checked:
    """``text`` reviewed as the campaign file ``config`` (file I/O: call it in a thread)."""
    try:
        handle, temp = tempfile.mkstemp(
            dir=config.parent, prefix=f".{config.stem}.cockpit-", suffix=config.suffix
        )
    except OSError as exc:  # a read-only folder: nothing could be published there either
        why = f"cannot write beside the campaign file: {exc.strerror or exc}"
        return Checked([Problem(str(config), 1, "file", why)])
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        review = review_file(temp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    shown = str(config)

    def named(problems: list[Problem]) -> list[Problem]:
        return [replace(p, file=shown) if p.file == temp else p for p in problems]

    return Checked(named(review.errors), named(review.warnings), named(review.notes))
