"""What one edge process holds: settings, the personalizer (campaigns, signing, store), snippet."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from opmaat.limits import Limits, RateLimit
from opmaat.personalizer import Personalizer
from opmaat.purl import PurlSigner
from opmaat.runtime import RuntimeHolder
from opmaat.store import MemoryStore, open_store
from opmaat_edge.cockpit.auth import ApiKeys
from opmaat_edge.http import app_state
from opmaat_edge.metrics import Metrics, parse_networks
from opmaat_edge.settings import EdgeSettings, SettingsError
from opmaat_edge.snippet import Snippet

# Requests without a cookie are limited per address and browser, with this many times the room
# of one visitor: a school or an office behind one address is many people.
ANONYMOUS_SHARE = 10
# And every event counts for its address with this many times the room of one visitor.
ADDRESS_SHARE = 50


@dataclass
class Counters:
    events: int = 0


@dataclass
class EdgeState:
    settings: EdgeSettings
    personalizer: Personalizer
    snippet: Snippet
    metrics: Metrics
    purl_signer: PurlSigner
    events_limit: RateLimit
    anonymous_events_limit: RateLimit
    address_events_limit: RateLimit
    api_keys: ApiKeys
    counters: Counters = field(default_factory=Counters)

    @property
    def runtime(self) -> RuntimeHolder:
        return self.personalizer.runtime

    @property
    def shared_store(self) -> bool:
        return not isinstance(self.personalizer.store, MemoryStore)

    @classmethod
    def create(cls, settings: EdgeSettings) -> EdgeState:
        try:
            store = open_store(settings.store, paused_file=settings.paused_file)
        except ValueError as exc:
            raise SettingsError(f"OPMAAT_STORE: {exc}") from None
        try:
            metrics = Metrics(parse_networks(settings.metrics_networks))
        except ValueError as exc:
            raise SettingsError(f"OPMAAT_METRICS_NETWORKS: {exc}") from None
        personalizer = Personalizer(
            settings.config,
            secret_keys=settings.secret_keys,
            store=store,
            secure_cookies=not settings.dev,
            observer=metrics,
            cookie_domain=settings.cookie_domain,
            limits=Limits(new_profiles_per_minute=settings.new_visitors_per_minute),
        )
        personalizer.runtime.listeners.append(metrics.reloaded)
        metrics.known_slots = lambda: personalizer.runtime.current.campaigns.slots
        return cls(
            settings=settings,
            personalizer=personalizer,
            snippet=Snippet.load(),
            metrics=metrics,
            purl_signer=PurlSigner(settings.secret_keys),
            events_limit=RateLimit(settings.events_per_minute),
            anonymous_events_limit=RateLimit(settings.events_per_minute * ANONYMOUS_SHARE),
            address_events_limit=RateLimit(settings.events_per_minute * ADDRESS_SHARE),
            api_keys=ApiKeys(settings.api_keys),
        )


def edge_state(request: Request) -> EdgeState:
    """The edge's state of the app serving ``request`` (``app.state.edge``)."""
    state: EdgeState | None = app_state(request.scope.get("app")).get("edge")
    if state is None:
        raise AttributeError("the app serving this request has no edge state")
    return state
