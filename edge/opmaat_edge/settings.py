"""Process settings of the edge, read from the environment so every worker sees the same."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from opmaat_edge.cockpit.auth import MAX_PASSWORD, MIN_PASSWORD, ApiKeys, parse_password_hash


class SettingsError(ValueError):
    """A setting is missing or wrong; the message says which and how to fix it."""


LOOPBACK = "127.0.0.0/8,::1/128"


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    config: str
    secret_keys: tuple[str, ...] = field(repr=False)
    dev: bool = False
    demo: bool = False
    store: str = "memory://"
    reload_interval: float = 1.0
    metrics_networks: str = LOOPBACK
    ready_when_degraded: bool = False
    cookie_domain: str | None = None
    max_body_bytes: int = 16 * 1024
    max_slots: int = 20
    events_per_minute: int = 120
    new_visitors_per_minute: int = 60
    # The cockpit (/cockpit) answers only when one of these is set; API keys for the
    # server-to-server decide API. None of them is ever logged or shown.
    cockpit_password: str | None = field(default=None, repr=False)
    cockpit_password_hash: str | None = field(default=None, repr=False)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    paused_file: str | None = None
    allowed_hosts: tuple[str, ...] = ()  # the Host names answered; empty: any

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EdgeSettings:
        env = os.environ if env is None else env
        config = env.get("OPMAAT_CONFIG", "").strip()
        if not config:
            raise SettingsError("no campaign file: pass --config FILE or set OPMAAT_CONFIG")
        keys = tuple(k.strip() for k in env.get("OPMAAT_SECRET_KEYS", "").split(",") if k.strip())
        if not keys:
            raise SettingsError(
                "no signing key: set OPMAAT_SECRET_KEYS to one or more long random strings, "
                "newest first, comma-separated "
                "(e.g. OPMAAT_SECRET_KEYS="
                "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'))"
            )
        if any(len(k) < 16 for k in keys):
            raise SettingsError("OPMAAT_SECRET_KEYS: every key must be at least 16 characters")
        return cls(
            config=config,
            secret_keys=keys,
            dev=env.get("OPMAAT_DEV", "") == "1",
            demo=env.get("OPMAAT_DEMO", "") == "1",
            store=env.get("OPMAAT_STORE", "memory://") or "memory://",
            reload_interval=_seconds(env, "OPMAAT_RELOAD_INTERVAL", 1.0, 0.05, 3600),
            metrics_networks=env.get("OPMAAT_METRICS_NETWORKS", LOOPBACK),
            ready_when_degraded=env.get("OPMAAT_READY_WHEN_DEGRADED", "") == "1",
            cookie_domain=_cookie_domain(env.get("OPMAAT_COOKIE_DOMAIN", "")),
            max_body_bytes=_whole(env, "OPMAAT_MAX_BODY_BYTES", 16 * 1024, 1024, 1024 * 1024),
            max_slots=_whole(env, "OPMAAT_MAX_SLOTS", 20, 1, 100),
            events_per_minute=_whole(env, "OPMAAT_EVENTS_PER_MINUTE", 120, 0, 100_000),
            new_visitors_per_minute=_whole(env, "OPMAAT_NEW_VISITORS_PER_MINUTE", 60, 0, 1_000_000),
            cockpit_password=_cockpit_password(env),
            cockpit_password_hash=_cockpit_password_hash(env),
            api_keys=_api_keys(env),
            paused_file=env.get("OPMAAT_PAUSED_FILE", "").strip() or default_paused_file(config),
            allowed_hosts=_allowed_hosts(env.get("OPMAAT_ALLOWED_HOSTS", "")),
        )


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What a client may take of a worker: time to send a request's header block (from the
    connection's start, then from each answer's end) and its body, header bytes, and connections
    held open at once. Read by each worker's HTTP protocol (opmaat_edge.server_limits)."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerLimits:
        env = os.environ if env is None else env
        return cls(
            header_timeout=_seconds(env, "OPMAAT_HEADER_TIMEOUT", 10.0, 0.5, 300),
            body_timeout=_seconds(env, "OPMAAT_BODY_TIMEOUT", 10.0, 0.5, 300),
            max_header_bytes=_whole(env, "OPMAAT_MAX_HEADER_BYTES", 64 * 1024, 4096, 1024 * 1024),
            max_connections=_whole(env, "OPMAAT_MAX_CONNECTIONS", 1000, 1, 1_000_000),
        )


_DIGITS = re.compile(r"[0-9]{1,9}")


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:  # NaN too
        raise SettingsError(f"{name} must be a number of seconds, {low:g} to {high:g}")
    return value


_DOMAIN = re.compile(r"\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


def _cookie_domain(value: str) -> str | None:
    value = value.strip().lower()
    if not value:
        return None
    if not _DOMAIN.fullmatch(value):
        raise SettingsError(
            f"OPMAAT_COOKIE_DOMAIN: {value!r} is not a domain like shop.example "
            "(the site's registrable domain, so the edge on a subdomain sets a site-wide cookie)"
        )
    return value.lstrip(".")


_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]")
LOOPBACK_HOSTS = "127.0.0.1,localhost,[::1]"


def _allowed_hosts(value: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise SettingsError(
                f"OPMAAT_ALLOWED_HOSTS: {host[:60]!r} is not a host name like shop.example, "
                "127.0.0.1 or [::1] (no scheme, port or path)"
            )
    return hosts


def default_paused_file(config: str) -> str:
    # Beside the campaign file: campaigns.yaml -> campaigns.paused.json.
    path = Path(config)
    return str(path.with_name(f"{path.stem}.paused.json"))


def _cockpit_password(env: Mapping[str, str]) -> str | None:
    value = env.get("OPMAAT_COCKPIT_PASSWORD", "")
    if not value:
        return None
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise SettingsError(
            f"OPMAAT_COCKPIT_PASSWORD must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )
    return value


def _cockpit_password_hash(env: Mapping[str, str]) -> str | None:
    value = env.get("OPMAAT_COCKPIT_PASSWORD_HASH", "").strip()
    if not value:
        return None
    try:
        parse_password_hash(value)
    except ValueError as exc:
        raise SettingsError(
            f"OPMAAT_COCKPIT_PASSWORD_HASH: {exc} (make one with `opmaat hash-password`)"
        ) from None
    return value


def _api_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in env.get("OPMAAT_API_KEYS", "").split(",") if k.strip())
    try:
        ApiKeys(keys)  # the checks the edge will make (its messages never show a key)
    except ValueError as exc:
        raise SettingsError(f"OPMAAT_API_KEYS: {exc}") from None
    return keys
