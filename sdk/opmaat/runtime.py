"""The campaigns and context sources decisions are made with, swapped whole on reload."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opmaat.campaigns import CampaignSet, load_campaigns, load_campaigns_text
from opmaat.campaigns.file_checks import geo_message
from opmaat.campaigns.loader import line_of, unreadable
from opmaat.context import GeoReader
from opmaat.engine import Engine
from opmaat.errors import ConfigError, Problem
from opmaat.files import data_mtimes
from opmaat.profile import DEFAULT_SOURCES, ContextBuilder, ProfileSources
from opmaat.profile_reads import EVERYTHING, ProfileReads, profile_reads
from opmaat.store import ProfileStore, SharedConfig
from opmaat.tracking import known_events

log = logging.getLogger("opmaat")


@dataclass(frozen=True, slots=True)
class Runtime:
    """``text`` is the campaign file as compiled; ``shared`` says it came from another node;
    ``stamp`` is when it was loaded (the file's mtime here, the time it was shared elsewhere);
    ``mtime`` is the local file's mtime the watcher last dealt with."""

    engine: Engine
    context: ContextBuilder
    mtime: float
    text: str = ""
    shared: bool = False
    stamp: float = 0.0
    data_mtimes: tuple[float | None, ...] = ()
    sources: ProfileSources = DEFAULT_SOURCES
    # What the campaign file reads of the profile: what a decision's profile needs.
    reads: ProfileReads = EVERYTHING

    @property
    def campaigns(self) -> CampaignSet:
        return self.engine.campaigns

    @classmethod
    def load(cls, path: Path, previous: Runtime | None = None, text: str | None = None) -> Runtime:
        """Load and compile the campaign file (or ``text`` shared by another node, read as if
        it were that file); raises ConfigError naming file:line:field."""
        mtime = path.stat().st_mtime
        if text is None:
            data = path.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                load_campaigns(path)  # raises ConfigError naming the line
                raise
        # One read: what is compiled is exactly what would be shared.
        campaigns = load_campaigns_text(text, filename=str(path), base_dir=path.parent)
        site = campaigns.site
        geo_path = site.geo_database
        # The geo reader follows its own file; keep it across campaign reloads.
        geo = previous.context.geo if previous is not None else None
        if geo is None or geo_path is None or geo.path != Path(geo_path):
            try:
                geo = GeoReader.maybe_open(geo_path)
            except (OSError, ValueError) as exc:
                line = line_of(text, ("site", "geo_database"))
                problem = Problem(str(path), line, "site.geo_database", geo_message(str(exc)))
                raise ConfigError([problem]) from None
        context = ContextBuilder(
            geo=geo,
            trusted_proxies=site.trusted_proxies,
            site_hosts=site.hosts,
            cdn_geo_header=site.cdn_geo_header,
            locations=site.locations,
        )
        stamps = campaigns.data_mtimes
        engine = Engine(campaigns)
        if previous is not None:
            engine.carry_over(previous.engine)
        sources = ProfileSources.of(campaigns, known_events(site.events, engine.goals))
        return cls(
            engine,
            context,
            mtime,
            text,
            stamp=mtime,
            data_mtimes=stamps,
            sources=sources,
            reads=profile_reads(campaigns),
        )


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
        self._lock = threading.Lock()  # the watcher and adopt() run in worker threads
        self._refused: str | None = None  # a shared version this node could not run
        self.last_error: str | None = None
        self._rejected_mtime: float | None = None
        self._rejected_data: tuple[float | None, ...] | None = None

    def reload_if_changed(self) -> bool:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            return self._failed(str(unreadable(self.path, exc)), mtime=None)
        if mtime in (self.current.mtime, self._rejected_mtime):
            # The campaign file is as it was; a data file it names may have changed.
            disk = data_mtimes(self.current.campaigns.data_files)
            if disk in (self.current.data_mtimes, self._rejected_data):
                return False
            self._rejected_data = disk  # not tried again if it fails
            return self.reload(mtime, keep_text=True)
        return self.reload(mtime)

    def reload(self, mtime: float | None = None, *, keep_text: bool = False) -> bool:
        """Load the campaign file again. ``keep_text``: compile the running text again (a
        data file changed), so a file this node adopted from another stays adopted."""
        with self._lock:
            current = self.current
            try:
                if keep_text and current.shared:
                    loaded = Runtime.load(self.path, previous=current, text=current.text)
                    fresh = dataclasses.replace(
                        loaded, mtime=current.mtime, shared=True, stamp=current.stamp
                    )
                else:
                    fresh = Runtime.load(self.path, previous=current)
            except ConfigError as exc:
                return self._failed(str(exc), mtime)
            except OSError as exc:
                return self._failed(str(unreadable(self.path, exc)), mtime)
            except ValueError as exc:
                return self._failed(f"{self.path}: {exc}", mtime)
            self.current = fresh
        self.reloads_ok += 1
        self.last_error = None
        self._tell(True)
        log.info("campaigns reloaded from %s (version %s)", self.path, fresh.campaigns.version)
        return True

    def adopt(self, shared: SharedConfig) -> bool:
        """Run the campaign file another node shared. A file this node cannot run (a template
        only the other node has) is refused: logged, counted, and not tried again; the running
        campaigns stay, and this node does not push its own older file back."""
        with self._lock:
            previous = self.current
            try:
                fresh = Runtime.load(self.path, previous=previous, text=shared.text)
            except (ConfigError, OSError, ValueError) as exc:
                self._refused = shared.version
                self.reloads_failed += 1
                self.last_error = f"shared campaign file {shared.version} refused: {exc}"
                log.error("%s; keeping the running campaigns", self.last_error)
                self._tell(False)
                return False
            # The watcher's mtime stays: a local edit it has not seen yet still gets loaded.
            self.current = dataclasses.replace(
                fresh, mtime=previous.mtime, shared=True, stamp=shared.at
            )
        self.reloads_ok += 1
        self._tell(True)
        log.info("campaigns %s taken from the shared store", fresh.campaigns.version)
        return True

    async def share(self, store: ProfileStore) -> None:
        """One step of keeping the nodes on one campaign file through ``store``: the newest
        loaded file wins. A file this node loaded from disk is shared when it is newer than
        the shared one; a newer shared file is run here. A restarted node whose file did not
        change takes the shared one (its file is older)."""
        current = self.current
        remote = await store.shared_config()
        if not current.shared and (remote is None or current.stamp > remote.at):
            if remote is None or remote.version != current.campaigns.version:
                await store.share_config(
                    SharedConfig(current.campaigns.version, current.text, current.stamp)
                )
            return
        if (
            remote is not None
            and remote.version != current.campaigns.version
            and remote.version != self._refused
            and remote.at > current.stamp
        ):
            await asyncio.to_thread(self.adopt, remote)

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
