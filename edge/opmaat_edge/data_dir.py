"""Where `opmaat serve` keeps its data: a SQLite file in a data directory, unless a store is
named (``--store``, ``OPMAAT_STORE``).

The data directory is ``--data-dir``, else ``OPMAAT_DATA_DIR``, else systemd's
``STATE_DIRECTORY`` (``StateDirectory=opmaat`` in the unit), else ``/var/lib/opmaat`` for root
and ``$XDG_STATE_HOME/opmaat`` (``~/.local/state/opmaat``) for everyone else.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

DB_NAME = "opmaat.db"


class DataDirError(ValueError):
    """The data's place cannot be used; the message says why."""


def data_dir(env: Mapping[str, str], given: str | None = None) -> Path:
    """The data directory (see the module's text), as an absolute path."""
    chosen = given or env.get("OPMAAT_DATA_DIR", "").strip()
    if not chosen:
        chosen = env.get("STATE_DIRECTORY", "").split(":")[0]
    if not chosen:
        if os.geteuid() == 0:
            chosen = "/var/lib/opmaat"
        else:
            state = env.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
            chosen = str(Path(state) / "opmaat")
    return Path(chosen).expanduser().absolute()


def store_url(env: Mapping[str, str], given: str | None = None, folder: str | None = None) -> str:
    """The store: ``given`` (``--store``), else ``OPMAAT_STORE``, else the SQLite file in the
    data directory (``folder``: ``--data-dir``)."""
    url = given or env.get("OPMAAT_STORE", "").strip()
    return url or f"sqlite://{data_dir(env, folder) / DB_NAME}"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite://`` store URL; None for other stores."""
    if not url.startswith("sqlite://"):
        return None
    return Path(url.removeprefix("sqlite://").split("?", 1)[0]).absolute()


def describe(url: str) -> str:
    """Where a store keeps the data, for the line `opmaat serve` starts with."""
    path = sqlite_path(url)
    if path is not None:
        return f"{path} (SQLite; `opmaat backup FILE` copies it while serving)"
    if url.startswith("memory"):
        return "this process's memory only: lost when it stops (--store sqlite:///… keeps it)"
    parts = urlsplit(url)
    host = parts.hostname or "?"
    where = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{where}{parts.path}"  # never the password


def prepare(url: str, made_here: bool) -> str | None:
    """Make the data directory (``made_here``: the default or ``--data-dir``; a folder named in
    ``--store`` must exist) and open the file once, so that every worker finds its tables.
    Raises DataDirError when the folder cannot be had; returns what is wrong with the file
    itself (the edge starts anyway, deciding from requests alone until it is fixed), or None."""
    from opmaat.sqlite_store import SQLiteStore

    path = sqlite_path(url)
    if path is None:
        return None
    if made_here:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(
                f"cannot make the data directory {path.parent}: {exc.strerror or exc} "
                "(set --data-dir or OPMAAT_DATA_DIR to a folder the edge may write)"
            ) from None
    elif not path.parent.is_dir():
        raise DataDirError(f"the folder of {path} does not exist: make it, or use --data-dir")
    store = SQLiteStore.from_url(url)

    async def touch() -> str | None:
        try:
            await store.file_stats()  # opened: the tables exist
        except ConnectionError as exc:
            return str(exc).removeprefix("sqlite: ")
        finally:
            await store.close()
        return None

    return asyncio.run(touch())
