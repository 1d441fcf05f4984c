"""The docs' code examples that can run, run, and print what the docs say they print.

An HTML comment on the line before a block's fence says what to do with it:

- ``<!-- test: run -->`` before a ``python`` block: the block runs as a program, in the
  repository's folder. When the next block is marked ``<!-- test: output -->``, the program
  prints exactly that.
- ``<!-- test: run -->`` before a ``console`` block: every ``$ `` line (``\\`` continues it) is
  an ``opmaat`` command, with ``NAME=value`` settings before it if need be, run in the
  repository's folder; the lines after it, up to the next ``$ ``, are what it prints (standard
  output and error, in order).
- ``<!-- test: run in demo -->``: the same, in a fresh copy of the demo's folder.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEMO = ROOT / "edge" / "opmaat_edge" / "demo"
MARKER = re.compile(r"<!-- test: (run in demo|run|output) -->")
FENCE = re.compile(r"(`{3,})(\w*)\s*$")
SETTING = re.compile(r"[A-Z_][A-Z0-9_]*=")
OPMAAT = ("opmaat", ".venv/bin/opmaat")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    marker: str | None  # "run", "run in demo", "output" or None


def blocks(doc: Path) -> list[Block]:
    found: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.fullmatch(lines[index])
        if fence is None:
            index += 1
            continue
        start = index
        index += 1
        while index < len(lines) and lines[index] != fence.group(1):
            index += 1
        marker = MARKER.fullmatch(lines[start - 1].strip()) if start else None
        if start and marker is None and "<!-- test" in lines[start - 1]:
            raise AssertionError(f"{doc.name}:{start}: unknown test marker {lines[start - 1]!r}")
        text = "\n".join(lines[start + 1 : index]) + "\n"
        found.append(
            Block(doc, start + 1, fence.group(2), text, marker.group(1) if marker else None)
        )
        index += 1
    return found


def runnable() -> list[tuple[Block, Block | None]]:
    """Each block to run, with the output block that follows it, if any."""
    out = []
    for doc in DOCS:
        found = blocks(doc)
        for position, block in enumerate(found):
            if block.marker in ("run", "run in demo"):
                after = found[position + 1] if position + 1 < len(found) else None
                out.append((block, after if after and after.marker == "output" else None))
    return out


CASES = runnable()


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPMAAT_")}
    return {**env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}


def _commands(text: str) -> list[tuple[str, str]]:
    """The console block's commands, each with what the docs say it prints."""
    out: list[tuple[str, str]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        assert line.startswith("$ "), f"a console block starts with a '$ ' line, not {line!r}"
        command = line[2:]
        while command.endswith("\\"):
            index += 1
            command = command[:-1] + " " + lines[index].strip()
        index += 1
        printed = []
        while index < len(lines) and not lines[index].startswith("$ "):
            printed.append(lines[index])
            index += 1
        out.append((command, "\n".join(printed)))
    return out


def _run_command(command: str, cwd: Path) -> str:
    words = shlex.split(command)
    env = _environment()
    while words and SETTING.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words, f"no command in {command!r}"
    assert words[0] in OPMAAT, f"only opmaat commands run here, not {command!r}"
    done = subprocess.run(
        [sys.executable, "-m", "opmaat_edge.cli", *words[1:]],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.rstrip("\n")


@pytest.mark.parametrize(
    ("block", "output"), CASES, ids=[f"{block.doc.name}:{block.line}" for block, _ in CASES]
)
def test_doc_example(block: Block, output: Block | None, tmp_path: Path) -> None:
    cwd = ROOT
    if block.marker == "run in demo":
        cwd = tmp_path / "demo"
        shutil.copytree(DEMO, cwd)
    if block.lang == "python":
        done = subprocess.run(
            [sys.executable, "-c", block.text],
            cwd=cwd,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        if output is not None:
            assert done.stdout == output.text
    elif block.lang == "console":
        for command, printed in _commands(block.text):
            assert _run_command(command, cwd) == printed, command
    else:
        raise AssertionError(f"{block.doc.name}:{block.line}: cannot run a {block.lang!r} block")


def test_the_docs_mark_their_examples_to_run() -> None:
    """The markers themselves: losing them would make this file test nothing."""
    marked = {(block.doc.name, block.lang) for block, _ in CASES}
    assert {
        ("campaigns.md", "python"),
        ("campaign-types.md", "console"),
        ("middleware.md", "python"),
    } <= marked
    assert all(output is not None for block, output in CASES if block.lang == "python")
