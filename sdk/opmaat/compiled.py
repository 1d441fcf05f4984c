"""Which build of opmaat runs: the hot modules compiled by mypyc, or plain Python.

``scripts/compile`` (run by ``scripts/install``) compiles the modules of the decide path with
mypyc into C extensions beside their sources (``engine.cpython-311-x86_64-linux-gnu.so``
beside ``engine.py``), and the library they share into ``sdk/``; Python imports such an
extension before the ``.py`` of the same name. It writes ``sdk/opmaat_native.json`` last: the
modules it compiled and a digest of every source of ``opmaat`` and ``opmaat_edge`` they were
compiled from.

A compiled module must never run in place of newer source. At import, :func:`choose` compares
that digest with the sources now; when they differ (an edited file, a ``git pull``), when the
stamp is missing, or with ``OPMAAT_PURE=1``, an import hook sends every compiled module's import
to its ``.py``: the whole process runs plain Python, with one warning naming the command that
compiles again. The check reads the sources once per process (about 2 ms), never per request.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

log = logging.getLogger("opmaat")

SDK = Path(__file__).resolve().parent.parent  # sdk/: opmaat, and the shared library
EDGE = SDK.parent / "edge"  # edge/: opmaat_edge, in a source checkout
STAMP = SDK / "opmaat_native.json"
Roots = Iterable[tuple[Path, str]]  # (folder, package in it)
PACKAGES: Roots = ((SDK, "opmaat"), (EDGE, "opmaat_edge"))
SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)

#: "compiled" or "pure": which build this process runs (set by :func:`choose` at import).
build = "pure"
#: Why the process runs plain Python although compiled modules are there ("" otherwise).
reason = ""


def sources_digest(roots: Roots = PACKAGES) -> str:
    """sha256 over the path and text of every ``.py`` of the packages (sorted): what mypy read
    to compile any of them."""
    digest = hashlib.sha256()
    for root, package in roots:
        folder = root / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def extensions(roots: Roots = PACKAGES) -> dict[str, Path]:
    """The compiled modules found beside their sources: dotted name -> the ``.py`` they
    replace."""
    found: dict[str, Path] = {}
    for root, package in roots:
        folder = root / package
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.so"):
            name = path.name
            suffix = next((s for s in SUFFIXES if name.endswith(s)), None)
            source = path.with_name(name[: -len(suffix)] + ".py") if suffix else None
            if source is not None and source.is_file():
                dotted = source.relative_to(root).with_suffix("").as_posix().replace("/", ".")
                found[dotted] = source
    return found


class Sources(importlib.abc.MetaPathFinder):
    """Imports the named modules from their ``.py``, never from the extension beside it."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def stale(found: dict[str, Path], stamp_path: Path = STAMP, roots: Roots = PACKAGES) -> str:
    """Why the compiled modules ``found`` must not run: the stamp's account of them ("" when
    they may)."""
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{stamp_path.name} is missing or unreadable"
    if not isinstance(stamp, dict) or stamp.get("digest") != sources_digest(roots):
        return "the sources changed since they were compiled"
    if sorted(found) != sorted(stamp.get("modules") or ()):
        return "the compiled modules are not the ones scripts/compile made"
    group = stamp.get("group")
    folder = stamp_path.parent  # the library the modules share sits beside the stamp
    if not isinstance(group, str) or not any(
        (folder / f"{group}__mypyc{suffix}").is_file() for suffix in SUFFIXES
    ):
        return "the library the compiled modules share is missing"
    return ""


def choose() -> str:
    """Decide, once per process, which build runs (see the module's text); returns it."""
    global build, reason
    if any(isinstance(finder, Sources) for finder in sys.meta_path):
        return build
    found = extensions()
    if not found:
        build, reason = "pure", ""
        return build
    asked = os.environ.get("OPMAAT_PURE", "").strip() not in ("", "0")
    why = "OPMAAT_PURE is set" if asked else stale(found)
    if not why:
        build, reason = "compiled", ""
        return build
    sys.meta_path.insert(0, Sources(found))
    build, reason = "pure", why
    if not asked:
        _unsaid.append(why)
        if log.hasHandlers():  # otherwise said by the first Personalizer, in the host's format
            announce()
    return build


_unsaid: list[str] = []


def announce() -> None:
    """Log why this process runs plain Python though compiled modules are there, once. At
    import, logging is often not set up yet (the edge's JSON lines would start with a bare
    line): a Personalizer calls this when it is made."""
    while _unsaid:
        why = _unsaid.pop()
        log.warning("opmaat runs as plain Python: %s; run scripts/compile to compile it again", why)


choose()
