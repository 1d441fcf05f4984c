"""Paused campaigns kept in a file (a JSON list of campaign ids), for a single edge on the
memory store: a pause survives a restart, and a change another process makes to the file
(``opmaat pause``) is followed.

Reading costs one stat while the file is unchanged. Writers take a lock (the cockpit and the
command may write at once), and a file that is not a list of ids is logged, keeps what was
paused before and is never overwritten.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import orjson

from opmaat.files import write_atomic

log = logging.getLogger("opmaat.store")


class PausedFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.paused: set[str] = set()
        self._seen: tuple[int, int, int] | None = None
        self._problem = ""  # why the file cannot be used; "" when it can
        self.read()

    def read(self) -> set[str]:
        """The paused campaigns, as the file now says."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            # No file (any more): nothing is paused. A pause always writes it first.
            self.paused, self._seen, self._problem = set(), None, ""
            return self.paused
        except OSError:
            return self.paused
        seen = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
        if seen == self._seen:
            return self.paused
        self._seen = seen
        problem = "is not a JSON list of campaign ids"
        try:
            value = orjson.loads(self.path.read_bytes())
        except OSError as exc:
            value, problem = None, f"cannot be read ({exc.strerror or type(exc).__name__})"
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
            # What was paused before stays paused, and the file is not overwritten.
            if not self._problem:
                log.error("%s %s; keeping the pauses as they were", self.path, problem)
            self._problem = problem
            return self.paused
        self._problem = ""
        self.paused = set(value)
        return self.paused

    def set(self, campaign: str, paused: bool) -> None:
        """Pause or resume ``campaign`` in the file; raises OSError or ValueError (the file
        is broken), changing nothing, when that cannot be kept."""
        # Read-only and group-writable: whichever user made it, the others can still lock it.
        lock = self.path.with_name(f".{self.path.name}.lock")
        held = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o660)
        try:
            fcntl.flock(held, fcntl.LOCK_EX)
            self._seen = None
            self.read()
            if self._problem:
                raise ValueError(f"{self.path} {self._problem}: fix or remove it")
            wanted = self.paused | {campaign} if paused else self.paused - {campaign}
            # Written before it takes effect: a pause that could not be kept raises.
            text = orjson.dumps(sorted(wanted), option=orjson.OPT_INDENT_2).decode() + "\n"
            write_atomic(self.path, text)
            self.paused = wanted
        finally:
            os.close(held)
