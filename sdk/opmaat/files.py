"""Writing data files the edge reads while it runs."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

NEW_FILE_MODE = 0o640  # personal data: the owner and the edge's group, nobody else


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so a reader sees the old file or the new one, never
    half of it. A file being replaced keeps its permissions."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def data_mtimes(paths: tuple[Path, ...]) -> tuple[float | None, ...]:
    """Each file's modification time (None for one that cannot be read): what a watcher
    compares to see a change."""
    out: list[float | None] = []
    for path in paths:
        try:
            out.append(path.stat().st_mtime)
        except OSError:
            out.append(None)
    return tuple(out)
