"""Nodes sharing one campaign file through Redis: the newest file wins, refusals stay local,
restarts do not roll anything back, and a local edit is never lost."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from opmaat.redis_store import RedisStore
from opmaat.runtime import RuntimeHolder
from tests.redis.conftest import RedisServer

FILE = """\
slots: {{hero: {{default: "<h2>Welcome</h2>"}}}}
campaigns:
  - id: hero
    slot: hero
    variants: [{{key: a, {content}}}]
"""


def node_dir(tmp_path: Path, name: str, content: str, age: float = 0) -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    config = folder / "campaigns.yaml"
    config.write_text(FILE.format(content=content))
    stamp = time.time() - age
    os.utime(config, (stamp, stamp))
    return config


def edit(config: Path, content: str) -> None:
    config.write_text(FILE.format(content=content))
    stamp = time.time() + 1  # clearly newer than anything before
    os.utime(config, (stamp, stamp))


def html(holder: RuntimeHolder) -> str:
    decision = holder.current.engine.decide({}, ["hero"])["hero"]
    return decision.html or ""


async def steps(store: RedisStore, *holders: RuntimeHolder, rounds: int = 3) -> None:
    for _ in range(rounds):
        for holder in holders:
            holder.reload_if_changed()
            await holder.share(store)


def test_the_newest_file_wins_and_a_restart_rolls_nothing_back(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        a_file = node_dir(tmp_path, "a", 'html: "old"', age=60)
        b_file = node_dir(tmp_path, "b", 'html: "old"', age=60)
        a, b = RuntimeHolder(a_file), RuntimeHolder(b_file)
        await steps(store, a, b)
        edit(a_file, 'html: "new"')
        await steps(store, a, b)
        assert (html(a), html(b)) == ("new", "new")
        # B restarts with its own (older) file on disk: it takes the shared one, A keeps it.
        b = RuntimeHolder(b_file)
        assert html(b) == "old"
        await steps(store, a, b)
        assert (html(a), html(b)) == ("new", "new")
        await store.close()

    asyncio.run(scenario())


def test_a_node_that_cannot_run_a_shared_file_refuses_it_alone(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        a_file = node_dir(tmp_path, "a", 'html: "old"', age=60)
        b_file = node_dir(tmp_path, "b", 'html: "old"', age=60)
        (a_file.parent / "only-on-a.html").write_text("<b>from a template</b>")
        a, b = RuntimeHolder(a_file), RuntimeHolder(b_file)
        await steps(store, a, b)
        edit(a_file, "template: only-on-a.html")
        await steps(store, a, b, rounds=5)
        assert html(a) == "<b>from a template</b>"
        assert html(b) == "old"  # refused, and A is not pushed back to the old file
        assert b.last_error is not None
        assert "refused" in b.last_error
        assert b.reloads_failed == 1  # refused once, not again every interval
        await store.close()

    asyncio.run(scenario())


def test_a_local_edit_is_not_lost_to_an_adopted_file(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        a_file = node_dir(tmp_path, "a", 'html: "old"', age=60)
        b_file = node_dir(tmp_path, "b", 'html: "old"', age=60)
        a, b = RuntimeHolder(a_file), RuntimeHolder(b_file)
        await steps(store, a, b)
        edit(a_file, 'html: "from a"')
        await steps(store, a)  # A shares; B has not looked yet
        edit(b_file, 'html: "from b"')  # B's file changes before B's watcher ticks ...
        await b.share(store)  # ... and B takes A's file first
        assert html(b) == "from a"
        await steps(
            store, b, a
        )  # B's watcher still sees its own edit, which is newest: everyone runs it
        assert (html(a), html(b)) == ("from b", "from b")
        await store.close()

    asyncio.run(scenario())
