"""Benchmark: the in-process decide request (`bench.request`) of this tree against the tree this
round of performance work started from (issue #21: at most a third of it), measured in one run.

The baseline's code is checked out with `git worktree` into a temporary folder and imported
in place of this tree's (``PYTHONPATH=OLD/sdk:OLD/edge``); the benchmark's own code is this
tree's, so both answer the same request with the same campaign file and visitors. The two
are run alternately, ``rounds`` times each, in fresh processes, and the medians compared.
Needs the repository's history (a shallow clone lacks the baseline: the figure is then left
out, and says why).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The commit before the first change of issue #21 (its measurement harness: c8dabc9).
BASELINE = "c8dabc963314527eed7ebc9b2d4fc08eb5a069e6"
BUDGET_SHARE = 1 / 3
_MICROSECONDS = re.compile(r"in-process: ([0-9.]+) µs")


def _request_us(code: Path | None) -> float:
    """One `bench.request` run in a fresh process, on ``code``'s sdk and edge (None: this
    tree's, as installed)."""
    env = dict(os.environ)
    paths = [str(code / "sdk"), str(code / "edge")] if code is not None else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-m", "bench.request"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = _MICROSECONDS.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"bench.request failed: {(done.stderr or done.stdout)[-500:]}")
    return float(found.group(1))


def compare(baseline_us: list[float], current_us: list[float]) -> dict[str, Any]:
    """The medians and their ratio, against the budget."""
    before, after = statistics.median(baseline_us), statistics.median(current_us)
    share = after / before
    return {
        "available": True,
        "commit": BASELINE[:7],
        "baseline_us": before,
        "current_us": after,
        "runs": {"baseline": baseline_us, "current": current_us},
        "share": share,
        "ok": share <= BUDGET_SHARE,
    }


def run(rounds: int = 3, commit: str = BASELINE) -> dict[str, Any]:
    """This tree's decide request against ``commit``'s, alternately ``rounds`` times each."""
    git = shutil.which("git")
    if git is None:
        return {"available": False, "why": "git is not installed"}
    known = subprocess.run(
        [git, "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True, check=False
    )
    if known.returncode != 0:
        return {"available": False, "why": f"commit {commit[:7]} is not in this clone's history"}
    with tempfile.TemporaryDirectory(prefix="opmaat-baseline-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(
            [git, "worktree", "add", "--detach", "--quiet", str(tree), commit],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            baseline: list[float] = []
            current: list[float] = []
            for _ in range(rounds):
                baseline.append(_request_us(tree))
                current.append(_request_us(None))
        finally:
            subprocess.run(
                [git, "worktree", "remove", "--force", str(tree)],
                cwd=ROOT,
                check=False,
                capture_output=True,
            )
    return compare(baseline, current)


def line(result: dict[str, Any]) -> str:
    if not result["available"]:
        return f"decide request against the round's start: not measured ({result['why']})"
    return (
        f"decide request in-process, this tree against {result['commit']} (the round's start), "
        f"medians of {len(result['runs']['current'])} alternate runs: "
        f"{result['current_us']:.0f} µs against {result['baseline_us']:.0f} µs = "
        f"{result['share']:.2f} (budget ≤ {BUDGET_SHARE:.2f}: "
        f"{'ok' if result['ok'] else 'MISSED'})"
    )


if __name__ == "__main__":
    print(line(run()))
