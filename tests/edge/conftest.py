from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat_edge.app import create_app
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings

KEYS = ("test-signing-key-0123456789",)

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(
        config: Path = DEMO_CAMPAIGNS,
        *,
        peer: str = "127.0.0.1",
        demo: bool = True,
        dev: bool = True,
        reload_interval: float = 60.0,
        **overrides: Any,
    ) -> TestClient:
        settings = EdgeSettings(
            config=str(config),
            secret_keys=KEYS,
            dev=dev,
            demo=demo,
            reload_interval=reload_interval,
            **overrides,
        )
        client = TestClient(create_app(settings), client=(peer, 50000), base_url="http://127.0.0.1")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
