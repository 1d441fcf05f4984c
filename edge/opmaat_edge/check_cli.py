"""`opmaat check FILE [--strict]`: every problem in a campaign file, then its warnings and
notes."""

from __future__ import annotations

import sys

from opmaat.campaigns.loader import review_file
from opmaat.errors import Problem


def check(path: str, *, strict: bool = False) -> int:
    """Print each problem, warning and note as ``file:line: field: message`` (``warning:`` or
    ``note:`` before the message of the latter two); exit status 0 when the edge would run the
    file (with ``strict``: and nothing is warned of), else 1."""
    review = review_file(path)
    for problem in review.errors:
        print(problem)
    for kind, found in (("warning", review.warnings), ("note", review.notes)):
        for one in found:
            print(Problem(one.file, one.line, one.field, f"{kind}: {one.message}"))
    errors, warnings = len(review.errors), len(review.warnings)
    if errors or (strict and warnings):
        counted = [f"{errors} problem(s)"] if errors else []
        counted += [f"{warnings} warning(s)"] if warnings else []
        print(f"{' and '.join(counted)} in {path}", file=sys.stderr)
        return 1
    said = f" ({warnings} warning(s); --strict fails on them)" if warnings else ""
    print(f"{path}: ok{said}")
    return 0
