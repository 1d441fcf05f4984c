"""What one edge process holds: settings, signing, the store, the current campaigns."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from opmaat.identity import CookieCodec
from opmaat.store import MemoryStore, ProfileStore
from opmaat_edge.runtime import RuntimeHolder
from opmaat_edge.settings import EdgeSettings, SettingsError
from opmaat_edge.snippet import Snippet


@dataclass
class Counters:
    rejected_cookies: int = 0
    decisions: int = 0
    decide_errors: int = 0
    events: int = 0


@dataclass
class EdgeState:
    settings: EdgeSettings
    codec: CookieCodec
    store: ProfileStore
    runtime: RuntimeHolder
    snippet: Snippet
    counters: Counters = field(default_factory=Counters)

    @classmethod
    def create(cls, settings: EdgeSettings) -> EdgeState:
        if settings.store not in ("memory", "memory://"):
            raise SettingsError(f"unknown store {settings.store!r}: use memory://")
        return cls(
            settings=settings,
            codec=CookieCodec(settings.secret_keys),
            store=MemoryStore(),
            runtime=RuntimeHolder(settings.config),
            snippet=Snippet.load(),
        )


def edge_state(request: Request) -> EdgeState:
    state: EdgeState = request.app.state.edge
    return state
