"""The returning visitor every in-process benchmark measures: `bench.request`'s campaign file,
headers and page, after ``VISITS`` decides (a session, page views, an interest, a decision log),
caught on the way into the profile builder and the engine.

`bench.profile` and `bench.decide` time parts of this visitor's request, so their figures add
up to what `bench.request` (and wrk, with `bench.http`'s visitors) measures whole.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from bench import request
from opmaat.engine import Engine
from opmaat.personalizer import Visit
from opmaat.profile import RequestFacts
from opmaat.recommend.live import LiveRecommender

VISITS = 10


@dataclass(frozen=True)
class Returning:
    """What one decide of the returning visitor hands on: the visit (its stored record loaded)
    and the request's facts, for the profile; the profile and the rest of the engine's call."""

    visit: Visit
    facts: RequestFacts
    engine: Engine
    profile: dict[str, Any]
    slots: list[str]
    now: datetime
    exclude: frozenset[str]


async def _catch(visits: int) -> Returning:
    async with request.edge_app(1) as (app, people):
        cookie, address = people[0]
        for _ in range(visits):
            await request.call(app, cookie, address=address)
        personalizer = app.state.edge.personalizer
        engine: Engine = personalizer.runtime.current.engine
        seen: dict[str, Any] = {}
        function = LiveRecommender.function

        # The engine is handed the profile with the recommender's function: plain Python in
        # a compiled build too (opmaat/compiled.py), so it can be watched there.
        def caught(self: LiveRecommender, campaigns: Any, profile: Any, record: Any) -> Any:
            seen.update(profile=profile, now=datetime.now(UTC), exclude=personalizer.paused)
            return function(self, campaigns, profile, record)

        with mock.patch.object(LiveRecommender, "function", caught):
            await request.call(app, cookie, address=address)
        seen["slots"] = json.loads(request.BODY)["slots"]
        headers = {k.decode(): v.decode() for k, v in request.HEADERS}
        headers["x-forwarded-for"] = address.decode()
        name, _, value = cookie.decode().partition("=")
        visit = await personalizer.open(
            peer="127.0.0.1",
            headers={**headers, "cookie": f"{name}={value}"},
            cookies={name: value},
        )
        body = json.loads(request.BODY)
        facts = visit.facts(body["url"], body["referrer"], body["page"])
        return Returning(
            visit=visit,
            facts=facts,
            engine=engine,
            profile=seen["profile"],
            slots=seen["slots"],
            now=seen["now"],
            exclude=frozenset(seen["exclude"]),
        )


def returning_visitor(visits: int = VISITS) -> Returning:
    """The visitor after ``visits`` decides, and their next decide's inputs."""
    return asyncio.run(_catch(visits))
