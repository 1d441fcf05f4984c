"""`opmaat user add|remove|list`: the cockpit's users, kept where the cockpit keeps them (a
users file beside the campaign file, ``campaigns.users.json``, or with a Redis store, in
Redis) with a scrypt hash of the password. Every change goes into the cockpit's audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from opmaat_edge.cockpit.audit import record
from opmaat_edge.cockpit.ledger import Ledger, LedgerUnavailable, cockpit_folder, users_file
from opmaat_edge.cockpit.users import (
    ROLES,
    UserError,
    add_user,
    new_user,
    remove_user,
    user_name,
)

T = TypeVar("T")
COMMAND = "(command line)"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    store_arguments: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``opmaat user ...`` on the command's subparsers (``store_arguments`` adds --store and
    --data-dir, as the other commands have them)."""
    user = sub.add_parser(
        "user",
        help="add, remove or list the cockpit's users",
        description="The cockpit's users and their roles: viewer (reads), editor (drafts), "
        "publisher (publishes, pauses, restores versions, personal links), admin (users). "
        "Kept beside the campaign file (campaigns.users.json), or in Redis with a Redis store.",
    )
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a user (the password is asked twice, or read from standard input)",
    )
    add.add_argument("name", help="user name: a-z, 0-9, '.', '_', '@', '-'")
    add.add_argument("--role", required=True, choices=ROLES, help="what the user may do")
    remove = actions.add_parser("remove", help="remove a user (their sessions end)")
    remove.add_argument("name", help="user name")
    listed = actions.add_parser("list", help="the users and their roles")
    for parser in (add, remove, listed):
        parser.add_argument("--config", required=True, help="campaign file (YAML or JSON)")
        store_arguments(parser)


def run(args: argparse.Namespace, store_url: str) -> int:
    """Run ``opmaat user ACTION`` with the store ``store_url``."""
    if args.action == "add":
        return add(args.config, store_url, args.name, args.role)
    if args.action == "remove":
        return remove(args.config, store_url, args.name)
    return listing(args.config, store_url)


def _say(message: str) -> None:
    print(f"opmaat: {message}", file=sys.stderr)


def _using(config: str, store_url: str, work: Callable[[Ledger], Awaitable[T]]) -> T:
    async def go() -> T:
        if store_url.split("://", 1)[0] in ("redis", "rediss", "redis-cluster"):
            from opmaat.redis_store import RedisStore
            from opmaat_edge.cockpit.ledger_redis import RedisLedger

            store = RedisStore.from_url(store_url)
            try:
                return await work(RedisLedger(store.client, store.prefix))
            finally:
                await store.close()
        from opmaat_edge.cockpit.ledger_files import FileLedger

        path = Path(config)
        return await work(FileLedger(cockpit_folder(path), users_file(path)))

    return asyncio.run(go())


def _who() -> str:
    try:
        return f"{COMMAND}: {getpass.getuser()}"
    except (KeyError, OSError):
        return COMMAND


def _password() -> str | None:
    if sys.stdin.isatty():
        password = getpass.getpass("Password for the cockpit: ")
        if getpass.getpass("Once more: ") != password:
            _say("the two passwords differ")
            return None
        return password
    return sys.stdin.readline().rstrip("\r\n")


def add(config: str, store_url: str, name: str, role: str, password: str | None = None) -> int:
    if not Path(config).is_file():
        _say(f"{config}: no such campaign file")
        return 2
    try:
        user_name(name)
    except UserError as exc:
        _say(str(exc))
        return 2
    password = _password() if password is None else password
    if password is None:
        return 1
    try:
        user = new_user(name, role, password, _who())

        async def work(ledger: Ledger) -> None:
            await add_user(ledger, user)
            await record(ledger, _who(), "user add", user.name, f"added {user.name} as {role}")

        _using(config, store_url, work)
    except UserError as exc:
        _say(str(exc))
        return 1
    except (LedgerUnavailable, ValueError, ConnectionError) as exc:
        _say(f"the users could not be kept: {exc}")
        return 1
    print(f"{user.name}: {user.role}")
    return 0


def remove(config: str, store_url: str, name: str) -> int:
    async def work(ledger: Ledger) -> None:
        await remove_user(ledger, name.strip().lower())
        await record(ledger, _who(), "user remove", name, f"removed {name}")

    try:
        _using(config, store_url, work)
    except UserError as exc:
        _say(str(exc))
        return 1
    except (LedgerUnavailable, ValueError, ConnectionError) as exc:
        _say(f"the users could not be read: {exc}")
        return 1
    print(f"{name}: removed")
    return 0


def listing(config: str, store_url: str) -> int:
    async def work(ledger: Ledger) -> list[tuple[str, str]]:
        users = await ledger.users()
        return sorted((u.name, u.role) for u in users.values())

    try:
        users = _using(config, store_url, work)
    except (LedgerUnavailable, ValueError, ConnectionError) as exc:
        _say(f"the users could not be read: {exc}")
        return 1
    for name, role in users:
        print(f"{name}\t{role}")
    if not users:
        shared = os.environ.get("OPMAAT_COCKPIT_PASSWORD") or os.environ.get(
            "OPMAAT_COCKPIT_PASSWORD_HASH"
        )
        print("no users" + (" (the shared password logs in as admin)" if shared else ""))
    return 0
