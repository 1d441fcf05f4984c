"""The `opmaat` command."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from opmaat_edge.resources import DEMO_CAMPAIGNS

if TYPE_CHECKING:
    from opmaat.campaigns import CampaignSet
    from opmaat.store import ProfileStore

T = TypeVar("T")

GRACE_SECONDS = 20  # SIGTERM: in-flight requests get this long to finish
# How `opmaat serve` runs uvicorn, with http=server_limits.LimitedHttpProtocol besides
# (bench.bare_app serves its ceiling with these settings and the protocol it is asked for).
SERVER_SETTINGS: dict[str, Any] = {
    "factory": True,
    "proxy_headers": False,
    "server_header": False,
    "log_level": "warning",
    "log_config": None,  # opmaat_edge.logs configures logging in each worker
    "timeout_graceful_shutdown": GRACE_SECONDS,
}

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
# Only for `opmaat demo` on 127.0.0.1; printed when it starts.
DEMO_PASSWORD = "opmaat-demo"
DEMO_API_KEY = "opmaat-demo-api-key-for-local-use"

DESCRIPTION = """\
opmaat: on-site personalization you run yourself.

  opmaat demo              the demo shop on http://127.0.0.1:8000 (in-memory store, demo geo data)
  opmaat serve --config F  the edge for your site, with the campaigns in F; its data in a
                           SQLite file in the data directory (--data-dir, --store)
  opmaat check F           validate a campaign file; prints file:line: field: message per problem
  opmaat stats --config F [--store URL]
                           impressions, clicks, conversions, visitors and converted visitors
                           per campaign and variant or holdout (JSON)
  opmaat pause|resume ID --config F [--store URL]
                           stop or restart a campaign on every node (the cockpit does too)
  opmaat hash-password     hash a cockpit password for OPMAAT_COCKPIT_PASSWORD_HASH
  opmaat user add|remove|list NAME --config F [--role ROLE]
                           the cockpit's users: viewer, editor, publisher, admin
  opmaat import customers --config F customers.csv
                           load a CRM export (RFM scores, segments) into site.customers
  opmaat purl create --config F --campaign ID --csv recipients.csv --base-url URL
                           give every recipient a personal link (a `url` column)
  opmaat backup FILE       copy the SQLite store to FILE, while the edge serves
  opmaat restore FILE      put a backup back
  opmaat export profiles > F.jsonl, opmaat import profiles F.jsonl
                           move visitors' profiles between stores (memory excepted)

Commands that use the store take --store URL and --data-dir DIR, as `serve` does.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opmaat", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the demo shop with sample campaigns",
        description="Run the edge with the demo shop, an in-memory store and the bundled demo geo "
        "database. Cookies are not marked Secure (local HTTP). A signing key is made per process "
        "unless OPMAAT_SECRET_KEYS is set.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")

    serve = sub.add_parser(
        "serve",
        help="run the edge for your site",
        description="Run the edge with the campaigns in --config. Needs OPMAAT_SECRET_KEYS "
        "(comma-separated signing keys, newest first). The campaign file is reloaded when it "
        "changes; a file with errors is rejected and the running campaigns stay.",
    )
    serve.add_argument("--config", required=True, help="campaign file (YAML or JSON)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    _store_arguments(serve)
    serve.add_argument(
        "--dev", action="store_true", help="local development: cookies without the Secure flag"
    )
    serve.add_argument(
        "--log-format",
        choices=("json", "text"),
        default="json",
        help="log lines as JSON objects (default) or plain text",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="one log line per request (route template, status, time; no IP)",
    )

    check = sub.add_parser(
        "check",
        help="validate a campaign file",
        description="Validate a campaign file the way a running edge would. Prints one "
        "'file:line: field: message' line per problem, then the warnings (what the edge runs "
        "but what can never match: unknown attributes, impossible values) and notes; exit 0 "
        "when the edge would run it, 1 otherwise (with --strict: also on warnings).",
    )
    check.add_argument("file", help="campaign file (YAML or JSON)")
    check.add_argument(
        "--strict",
        action="store_true",
        help="count warnings as problems (exit 1 when there are any), for CI",
    )

    stats = sub.add_parser(
        "stats",
        help="print the campaigns' tallies",
        description="Print impressions, clicks, conversions, visitors and converted visitors "
        "per campaign and variant (and '(holdout)'), as counted by every node sharing --store, "
        "as JSON.",
    )
    stats.add_argument("--config", required=True, help="campaign file (YAML or JSON)")
    _store_arguments(stats)

    for verb, says in (("pause", "stop showing"), ("resume", "show again")):
        cmd = sub.add_parser(
            verb,
            help=f"{says} a campaign on every node",
            description=f"{says.capitalize()} a campaign on every node that shares --store, "
            "within one reload interval, without changing the campaign file.",
        )
        cmd.add_argument("campaign", help="campaign id")
        cmd.add_argument("--config", required=True, help="campaign file (YAML or JSON)")
        _store_arguments(cmd)
    sub.add_parser(
        "hash-password",
        help="print the hash of a cockpit password (for OPMAAT_COCKPIT_PASSWORD_HASH)",
        description="Read a password (twice from the terminal, or one line from standard "
        "input) and print its scrypt hash for OPMAAT_COCKPIT_PASSWORD_HASH.",
    )
    _data_commands(sub)
    _store_commands(sub)
    from opmaat_edge import user_cli

    user_cli.add_parser(sub, _store_arguments)
    parser.add_argument(
        "--version", action="version", version=f"opmaat {importlib.metadata.version('opmaat')}"
    )
    return parser


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        help="where profiles, tallies and events live (default: $OPMAAT_STORE, else "
        "sqlite:///DATA_DIR/opmaat.db): sqlite:///path/opmaat.db (this machine's worker "
        "processes), memory:// (one process, lost when it stops; pauses then go to the file "
        "beside the campaign file, OPMAAT_PAUSED_FILE), redis://host:port/db or "
        "redis-cluster://host:port (every node)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="the folder of the default SQLite file (default: $OPMAAT_DATA_DIR, else "
        "$STATE_DIRECTORY from systemd, else /var/lib/opmaat for root and "
        "~/.local/state/opmaat for others)",
    )


def _store_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup",
        help="copy the SQLite store to a file, while the edge serves",
        description="Copy the SQLite store (profiles, tallies, events, pauses) to FILE with "
        "SQLite's online backup: one consistent snapshot, taken while the edge goes on "
        "serving. FILE is written whole, then renamed into place.",
    )
    backup.add_argument("file", help="where to write the backup")
    _store_arguments(backup)
    restore = sub.add_parser(
        "restore",
        help="put a backup back into the SQLite store",
        description="Check FILE (a backup made by `opmaat backup`), then replace what the "
        "SQLite store holds with it. A running edge serves the restored data from its next "
        "request; a damaged store file is moved aside first (opmaat.db.damaged-TIME).",
    )
    restore.add_argument("file", help="the backup to restore")
    _store_arguments(restore)
    export = sub.add_parser("export", help="write a store's data as JSON lines")
    kinds = export.add_subparsers(dest="kind", required=True, metavar="KIND")
    profiles = kinds.add_parser(
        "profiles",
        help="every visitor's profile, and the paused campaigns",
        description="Write every live profile of the store (with the time it has left) and "
        "the paused campaigns as JSON lines, for `opmaat import profiles` into another store.",
    )
    profiles.add_argument("--out", help="file to write (default: standard output)")
    _store_arguments(profiles)


def _data_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imports = sub.add_parser(
        "import",
        help="load data campaigns join with",
        description="Load a customer export into the table site.customers names.",
    )
    kinds = imports.add_subparsers(dest="kind", required=True, metavar="KIND")
    customers = kinds.add_parser(
        "customers",
        help="a CRM/analytics CSV: customer_id, recency_days or last_order, frequency, "
        "monetary, segments, any other fields",
        description="Validate a customer CSV, compute RFM quintile scores and segments, and "
        "write the table named by site.customers. Rows with mistakes are listed (file:line: "
        "field: message) and left out; a customer whose new row is rejected keeps the previous "
        "import's entry. Exit status 0: all imported; 4: imported, some rows left out; "
        "1: nothing imported.",
    )
    customers.add_argument("--config", required=True, help="campaign file (YAML or JSON)")
    customers.add_argument("csv", help="the customer CSV (UTF-8; ',', ';' or tab separated)")
    profiles = kinds.add_parser(
        "profiles",
        help="profiles written by `opmaat export profiles`",
        description="Write the profiles and paused campaigns of an export into the store. A "
        "visitor the store already has keeps what it has, so an import can be run again. "
        "Exit status 0: all imported; 4: imported, some lines left out; 1: stopped.",
    )
    profiles.add_argument("file", help="the export (JSON lines)")
    _store_arguments(profiles)

    purl = sub.add_parser("purl", help="personalized landing URLs for email and print")
    actions = purl.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="give every recipient of a CSV a signed, expiring personal link",
        description="Read a recipient list (an `id` column plus any fields) and write it back "
        "with a `url` column to the campaign's purl.recipients file (or --out). Links already "
        "made are kept. Needs OPMAAT_SECRET_KEYS, the edge's signing keys.",
    )
    create.add_argument("--config", required=True, help="campaign file (YAML or JSON)")
    create.add_argument("--campaign", required=True, help="the campaign with the purl section")
    create.add_argument("--csv", required=True, help="the recipient list (CSV)")
    create.add_argument(
        "--base-url", required=True, help="the edge's public URL, e.g. https://go.shop.example"
    )
    create.add_argument("--out", help="where to write (default: the campaign's purl.recipients)")


def _run(
    env: dict[str, str], host: str, port: int, workers: int, *, data_dir_made_here: bool = False
) -> int:
    """Serve with ``env`` on top of the environment; ``data_dir_made_here``: the store is the
    default SQLite file (or one in --data-dir), whose folder `serve` makes when missing."""
    import uvicorn

    from opmaat.errors import ConfigError
    from opmaat_edge import data_dir, logs
    from opmaat_edge.app import create_app
    from opmaat_edge.server_limits import LimitedHttpProtocol, open_files_for
    from opmaat_edge.settings import LOOPBACK_HOSTS, EdgeSettings, ServerLimits, SettingsError

    if host in LOOPBACK_NAMES and "OPMAAT_ALLOWED_HOSTS" not in os.environ:
        # Only this machine can reach it: answer only its names, so a page elsewhere whose
        # name resolves to 127.0.0.1 (DNS rebinding) cannot read it.
        env["OPMAAT_ALLOWED_HOSTS"] = LOOPBACK_HOSTS
    try:
        # Fail fast, with a readable message, before uvicorn starts any worker; what the app
        # logs meanwhile in the format the workers will use.
        fmt = {**os.environ, **env}.get("OPMAAT_LOG_FORMAT", "json")
        logs.configure(fmt if fmt in ("json", "text") else "json")
        settings = EdgeSettings.from_env({**os.environ, **env})
        limits = ServerLimits.from_env({**os.environ, **env})
        create_app(settings)
    except (SettingsError, ConfigError) as exc:
        print(f"opmaat: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # e.g. a geo database that cannot be opened
        print(f"opmaat: {exc}", file=sys.stderr)
        return 2
    if workers > 1 and settings.store.startswith("memory"):
        # Each worker would keep its own profiles: a visitor would be known to one of them,
        # and forgetting them would reach only that one.
        print(
            "opmaat: --workers needs a shared store (SQLite or Redis); the memory store lives "
            "in one process",
            file=sys.stderr,
        )
        return 2
    try:
        problem = data_dir.prepare(settings.store, made_here=data_dir_made_here)
    except data_dir.DataDirError as exc:
        print(f"opmaat: {exc}", file=sys.stderr)
        return 2
    print(f"opmaat: data in {data_dir.describe(settings.store)}", flush=True)
    if problem:
        print(
            f"opmaat: the store cannot be used yet ({problem}); serving anyway, deciding "
            "from requests alone until it is fixed",
            file=sys.stderr,
        )
    connections = open_files_for(limits.max_connections)
    if connections < limits.max_connections:
        print(
            f"opmaat: the open-files limit (ulimit -n, LimitNOFILE=) leaves room for "
            f"{connections} connections per worker, not OPMAAT_MAX_CONNECTIONS="
            f"{limits.max_connections}: the edge refuses more",
            file=sys.stderr,
        )
        env["OPMAAT_MAX_CONNECTIONS"] = str(connections)
    os.environ.update(env)  # the workers build their app and their limits from these
    if workers > 1:
        # prometheus-client adds up every worker's metrics from files in this directory; one
        # per port, emptied at start, so stopped runs leave nothing behind that counts.
        metrics_dir = Path(tempfile.gettempdir()) / f"opmaat-metrics-{port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(mode=0o700)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    print(f"opmaat: serving on http://{host}:{port}/", flush=True)
    # uvicorn hands SIGTERM back to the default handler once it has stopped, which ends the
    # process before `finally` blocks run (the demo's temporary folder would stay behind).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(
            "opmaat_edge.app:app_from_env",
            host=host,
            port=port,
            workers=workers,
            http=LimitedHttpProtocol,
            **SERVER_SETTINGS,
        )
    finally:
        if workers > 1:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _open_store(
    config: str, url: str, paused_file: str | None = None
) -> tuple[CampaignSet, ProfileStore] | None:
    """The campaign file and the store for stats/pause/resume; None (said why) when either
    cannot be had."""
    from opmaat.campaigns import load_campaigns
    from opmaat.errors import ConfigError
    from opmaat.store import open_store

    try:
        return load_campaigns(config), open_store(url, paused_file=paused_file)
    except (ConfigError, ValueError) as exc:
        print(f"opmaat: {exc}", file=sys.stderr)
        return None


class Unreachable(Exception):
    """The store could not be reached (already said on stderr)."""


def _using(store: ProfileStore, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` against the store and close it; raises Unreachable (said why) when the
    store cannot be reached."""
    import asyncio

    async def run() -> T:
        try:
            return await work()
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ConnectionError as exc:
        print(f"opmaat: the store cannot be reached: {exc}", file=sys.stderr)
        raise Unreachable from None


def _store(args: argparse.Namespace) -> str:
    from opmaat_edge.data_dir import store_url

    return store_url(os.environ, args.store, args.data_dir)


def _stats(config: str, url: str) -> int:
    import json

    from opmaat.store import HELD_BACK

    opened = _open_store(config, url)
    if opened is None:
        return 2
    campaigns, store = opened
    try:
        names = [*(c.id for c in campaigns.campaigns), HELD_BACK]
        tallies = _using(store, lambda: store.tallies(names))
    except Unreachable:
        return 1
    print(json.dumps(tallies, indent=2, sort_keys=True))
    return 0


def _hash_password() -> int:
    import getpass

    from opmaat_edge.cockpit.auth import MAX_PASSWORD, MIN_PASSWORD, hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Cockpit password: ")
        if getpass.getpass("Once more: ") != password:
            print("opmaat: the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        print(
            f"opmaat: a cockpit password has {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            file=sys.stderr,
        )
        return 1
    print(hash_password(password))
    return 0


def _pause(config: str, url: str, campaign: str, paused: bool) -> int:
    from opmaat.store import MemoryStore
    from opmaat_edge.data_dir import sqlite_path
    from opmaat_edge.settings import default_paused_file

    # Without a shared store, the file the one edge on this campaign file keeps and follows.
    path = os.environ.get("OPMAAT_PAUSED_FILE", "").strip() or default_paused_file(config)
    opened = _open_store(config, url, path)
    if opened is None:
        return 2
    campaigns, store = opened
    where, path_of = "on every node", sqlite_path(url)
    if path_of is not None:
        where = f"for every edge on {path_of}"
    if isinstance(store, MemoryStore):
        where = f"for the edge on the memory store that follows {path}"
    if campaign not in {c.id for c in campaigns.campaigns}:
        print(f"opmaat: {config} has no campaign {campaign!r}", file=sys.stderr)
        return 2
    try:
        _using(store, lambda: store.set_paused(campaign, paused))
    except Unreachable:
        return 1
    except (OSError, ValueError) as exc:
        print(f"opmaat: {exc}", file=sys.stderr)
        return 1
    print(f"{campaign}: {'paused' if paused else 'running'} {where}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        from opmaat_edge.check_cli import check

        return check(args.file, strict=args.strict)
    if args.command == "demo":
        env = {
            "OPMAAT_CONFIG": str(DEMO_CAMPAIGNS),
            "OPMAAT_DEMO": "1",
            "OPMAAT_DEV": "1",
            "OPMAAT_LOG_FORMAT": "text",
        }
        # The demo's cockpit and server API, with well-known credentials on 127.0.0.1.
        # Well-known ones only on a loopback address; elsewhere new ones for this run.
        local = args.host in LOOPBACK_NAMES
        password = DEMO_PASSWORD if local else secrets.token_urlsafe(12)
        api_key = DEMO_API_KEY if local else secrets.token_urlsafe(32)
        if not os.environ.get("OPMAAT_COCKPIT_PASSWORD_HASH"):
            if os.environ.get("OPMAAT_COCKPIT_PASSWORD"):
                password = os.environ["OPMAAT_COCKPIT_PASSWORD"]
            env["OPMAAT_COCKPIT_PASSWORD"] = password
        env["OPMAAT_API_KEYS"] = os.environ.get("OPMAAT_API_KEYS") or api_key
        shown = not os.environ.get("OPMAAT_COCKPIT_PASSWORD") and not os.environ.get(
            "OPMAAT_COCKPIT_PASSWORD_HASH"
        )
        print(
            f"opmaat: cockpit at http://{args.host}:{args.port}/cockpit"
            + (f" (password: {password})" if shown else "")
        )
        if not os.environ.get("OPMAAT_API_KEYS"):
            print(f"opmaat: server-to-server API key for this run: {api_key}")
        if not os.environ.get("OPMAAT_SECRET_KEYS"):
            print("opmaat: no OPMAAT_SECRET_KEYS set; using a new signing key for this process")
            env["OPMAAT_SECRET_KEYS"] = secrets.token_urlsafe(32)
        keys = (os.environ.get("OPMAAT_SECRET_KEYS") or env["OPMAAT_SECRET_KEYS"]).split(",")
        with tempfile.TemporaryDirectory(prefix="opmaat-demo-") as folder:
            # The demo's data files are made for this run: the customer table from
            # customers.csv, and PURLs signed with this run's key.
            from opmaat_edge.data_cli import prepare_demo

            config = prepare_demo(Path(folder), f"http://{args.host}:{args.port}", keys)
            if config is None:
                return 2
            env["OPMAAT_CONFIG"] = str(config)
            return _run(env, args.host, args.port, 1)
    if args.command == "stats":
        return _stats(args.config, _store(args))
    if args.command in ("backup", "restore", "export") or (
        args.command == "import" and args.kind == "profiles"
    ):
        from opmaat_edge import store_cli

        if args.command == "backup":
            return store_cli.backup(_store(args), args.file)
        if args.command == "restore":
            return store_cli.restore(_store(args), args.file)
        if args.command == "export":
            return store_cli.export_profiles(_store(args), args.out)
        return store_cli.import_profiles(_store(args), args.file)
    if args.command == "import":
        from opmaat_edge.data_cli import import_customers

        return import_customers(args.config, args.csv)
    if args.command == "purl":
        from opmaat_edge.data_cli import create_purls

        return create_purls(args.config, args.campaign, args.csv, args.base_url, args.out)
    if args.command == "hash-password":
        return _hash_password()
    if args.command == "user":
        from opmaat_edge import user_cli

        return user_cli.run(args, _store(args))
    if args.command in ("pause", "resume"):
        return _pause(args.config, _store(args), args.campaign, args.command == "pause")
    env = {"OPMAAT_CONFIG": args.config, "OPMAAT_LOG_FORMAT": args.log_format}
    if args.dev:
        env["OPMAAT_DEV"] = "1"
    if args.access_log:
        env["OPMAAT_ACCESS_LOG"] = "1"
    env["OPMAAT_STORE"] = _store(args)
    default = not (args.store or os.environ.get("OPMAAT_STORE", "").strip())
    return _run(env, args.host, args.port, args.workers, data_dir_made_here=default)


if __name__ == "__main__":
    sys.exit(main())
