"""The campaigns and context sources decisions are made with, swapped whole on reload."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opmaat.campaigns import CampaignSet, load_campaigns, load_campaigns_text
from opmaat.context import GeoReader
from opmaat.engine import Engine
from opmaat.errors import ConfigError
from opmaat.profile import ContextBuilder
from opmaat.store import ProfileStore

log = logging.getLogger("opmaat")


@dataclass(frozen=True, slots=True)
class Runtime:
    """``text`` is the campaign file as loaded; ``shared`` says it came from another node."""

    engine: Engine
    context: ContextBuilder
    mtime: float
    text: str = ""
    shared: bool = False

    @property
    def campaigns(self) -> CampaignSet:
        return self.engine.campaigns

    @classmethod
    def load(cls, path: Path, previous: Runtime | None = None, text: str | None = None) -> Runtime:
        """Load and compile the campaign file (or ``text`` shared by another node, read as if
        it were that file); raises ConfigError naming file:line:field."""
        mtime = path.stat().st_mtime
        if text is None:
            text = path.read_bytes().decode("utf-8", "replace")
            campaigns = load_campaigns(path)
        else:
            campaigns = load_campaigns_text(text, filename=str(path), base_dir=path.parent)
        site = campaigns.site
        geo_path = site.geo_database
        # The geo reader follows its own file; keep it across campaign reloads.
        geo = previous.context.geo if previous is not None else None
        if geo is None or geo_path is None or geo.path != Path(geo_path):
            geo = GeoReader.maybe_open(geo_path)
        context = ContextBuilder(
            geo=geo,
            trusted_proxies=site.trusted_proxies,
            site_hosts=site.hosts,
            cdn_geo_header=site.cdn_geo_header,
        )
        return cls(Engine(campaigns), context, mtime, text)


class RuntimeHolder:
    """Holds the current Runtime; a watcher reloads it when the campaign file changes.

    A file that fails to load is logged and the last good campaigns keep running.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.current = Runtime.load(self.path)
        self.reloads_ok = 0
        self.reloads_failed = 0
        self.listeners: list[Callable[[bool], None]] = []  # told of each reload: ok or not
        self.last_error: str | None = None
        self._rejected_mtime: float | None = None

    def reload_if_changed(self) -> bool:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            return self._failed(f"{self.path}: {exc.strerror}", mtime=None)
        if mtime in (self.current.mtime, self._rejected_mtime):
            return False
        return self.reload(mtime)

    def reload(self, mtime: float | None = None) -> bool:
        try:
            fresh = Runtime.load(self.path, previous=self.current)
        except ConfigError as exc:
            return self._failed(str(exc), mtime)
        except (OSError, ValueError) as exc:
            return self._failed(f"{self.path}: {exc}", mtime)
        self.current = fresh
        self.reloads_ok += 1
        self.last_error = None
        self._tell(True)
        log.info("campaigns reloaded from %s (version %s)", self.path, fresh.campaigns.version)
        return True

    def adopt(self, text: str) -> bool:
        """Run the campaign file another node shared; a bad one is refused and logged, and
        the running campaigns stay."""
        try:
            fresh = Runtime.load(self.path, previous=self.current, text=text)
        except ConfigError as exc:
            log.error("shared campaign file rejected, keeping the running campaigns: %s", exc)
            return False
        except (OSError, ValueError) as exc:
            log.error("shared campaign file rejected: %s", exc)
            return False
        self.current = Runtime(fresh.engine, fresh.context, fresh.mtime, text, shared=True)
        self.reloads_ok += 1
        self._tell(True)
        log.info("campaigns %s taken from the shared store", fresh.campaigns.version)
        return True

    async def share(self, store: ProfileStore, shared: str | None) -> str | None:
        """One step of keeping this node's campaigns and the other nodes' in step through
        ``store``: a file this node (re)loaded is shared; a newer file shared by another node
        is run here. The most recently loaded file, on any node, wins. ``shared`` is the
        version this node last shared or took; the new one is returned."""
        current = self.current
        version = current.campaigns.version
        if not current.shared and version != shared:
            await store.share_config(version, current.text)
            return version
        remote = await store.shared_config()
        if remote is not None and remote[0] != version:
            await asyncio.to_thread(self.adopt, remote[1])
            return remote[0]
        return shared

    def _tell(self, ok: bool) -> None:
        for listener in self.listeners:
            listener(ok)

    def _failed(self, message: str, mtime: float | None) -> bool:
        if mtime is None and message == self.last_error:
            return False
        self.reloads_failed += 1
        self._tell(False)
        self._rejected_mtime = mtime
        self.last_error = message
        log.error("campaign file rejected, keeping the running campaigns: %s", message)
        return False

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.reload_if_changed)
