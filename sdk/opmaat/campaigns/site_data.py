"""The site settings that name data: events, the customer table, locations, intent weights,
and each campaign's PURL section; plus loading the data files they name (the product feed of
the recommendations section too)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opmaat.campaigns.checker import Checker, describe, is_number
from opmaat.campaigns.model import BUILTIN_EVENTS, DEFAULT_INTENT_WEIGHTS, Location, Purl
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.customers import load_table
from opmaat.errors import ConfigError, Problem
from opmaat.purl import Recipient, load_recipients, normalize_header
from opmaat.recommend.feed import Feed
from opmaat.recommend.feed import load_feed as read_feed

T = TypeVar("T")
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_EVENTS = 100
MAX_LOCATIONS = 5000
LOCATION_KEYS = ("name", "lat", "lon", "url")
PURL_KEYS = ("recipients", "landing", "expires_days", "expose")
# Recipient columns no campaign may expose: whoever opens a link is not proven to be the person
# it was made for, so it must not hand over a customer record; the others are purl.* names.
NEVER_EXPOSED = {
    "customer_id": "a link is no proof of who opens it: the customer id is never shown",
    "url": "the link itself is not shown",
    "campaign": "purl.campaign is the campaign's id, not a column",
    "forwarded": "purl.forwarded is set by the edge, not a column",
}


def events(check: Checker, value: Any) -> tuple[str, ...]:
    """The site's own event names (beside the built-in ones and the campaigns' goals)."""
    if value is None:
        return ()
    path: YPath = ("site", "events")
    out: list[str] = []
    for item_path, name in check.text_list(value, path):
        if not EVENT_NAME.fullmatch(name):
            check.report(item_path, f"'{name}' is not an event name: use a-z, 0-9 and '_'")
        elif name in BUILTIN_EVENTS:
            check.report(item_path, f"'{name}' is built in; it need not be listed")
        elif name not in out:
            out.append(name)
    if len(out) > MAX_EVENTS:
        check.report(path, f"at most {MAX_EVENTS} event names")
    return tuple(out)


def data_file(check: Checker, value: Any, path: YPath, base_dir: Path) -> Path | None:
    """A data file named relative to the campaign file, inside its folder."""
    name = check.text(value, path)
    if name is None:
        return None
    return check.file_in(name, path, base_dir, "data file")


def locations(check: Checker, value: Any) -> tuple[Location, ...]:
    """Stores or service points for ``geo.nearest``."""
    path: YPath = ("site", "locations")
    if value is None:
        return ()
    if not isinstance(value, list):
        check.report(
            path, f"expected a list of places with name, lat and lon, got {describe(value)}"
        )
        return ()
    if len(value) > MAX_LOCATIONS:
        check.report(path, f"at most {MAX_LOCATIONS} locations")
        return ()
    out = []
    for index, item in enumerate(value):
        item_path = (*path, index)
        spec = check.mapping(item, item_path, LOCATION_KEYS)
        if spec is None:
            continue
        name = check.text(spec.get("name"), (*item_path, "name"))
        lat = _coordinate(check, spec.get("lat"), (*item_path, "lat"), "latitude", 90)
        lon = _coordinate(check, spec.get("lon"), (*item_path, "lon"), "longitude", 180)
        url = None
        if spec.get("url") is not None:
            url = check.text(spec["url"], (*item_path, "url"))
            if url is not None and not _safe_link(url):
                check.report(
                    (*item_path, "url"), "expected a path like '/stores/x' or an https URL"
                )
                continue
        if name is not None and lat is not None and lon is not None:
            out.append(Location(name, lat, lon, url))
    return tuple(out)


def _coordinate(check: Checker, value: Any, path: YPath, what: str, bound: int) -> float | None:
    if is_number(value) and -bound <= value <= bound:
        return float(value)
    check.report(path, f"expected a {what} from -{bound} to {bound}, got {describe(value)}")
    return None


def intent_weights(check: Checker, value: Any) -> Mapping[str, float]:
    """Weights of the intent score's signals; unnamed signals keep their default."""
    path: YPath = ("site", "intent_weights")
    if value is None:
        return DEFAULT_INTENT_WEIGHTS
    spec = check.mapping(value, path, tuple(DEFAULT_INTENT_WEIGHTS))
    if spec is None:
        return DEFAULT_INTENT_WEIGHTS
    out = dict(DEFAULT_INTENT_WEIGHTS)
    for key, weight in spec.items():
        if key not in DEFAULT_INTENT_WEIGHTS:
            continue
        if not is_number(weight) or not 0 <= weight <= 100:
            check.report((*path, key), f"expected a weight from 0 to 100, got {describe(weight)}")
        else:
            out[key] = float(weight)
    return out


def purl(
    check: Checker, value: Any, path: YPath, base_dir: Path, landing_hosts: tuple[str, ...]
) -> Purl | None:
    """A campaign's ``purl`` section: the recipients file, the landing page, the expiry and
    the columns exposed as ``purl.*``."""
    if value is None:
        return None
    spec = check.mapping(value, path, PURL_KEYS)
    if spec is None:
        return None
    if "recipients" not in spec:
        check.report(
            path, "a purl section needs 'recipients' (the file `opmaat purl create` wrote)"
        )
        return None
    file = data_file(check, spec["recipients"], (*path, "recipients"), base_dir)
    landing = check.text(spec.get("landing", "/"), (*path, "landing"))
    if landing is not None and not _landing_ok(landing, landing_hosts):
        check.report(
            (*path, "landing"),
            f"'{landing[:80]}' is not a landing page: write a path like '/welcome' or an "
            "http(s) URL on one of site.landing_hosts",
        )
        landing = None
    expires = check.integer(spec.get("expires_days", 90), (*path, "expires_days"), low=1, high=3650)
    before = len(check.problems)
    expose = _exposed(check, spec.get("expose", []), (*path, "expose"))
    if file is None or landing is None or expires is None or len(check.problems) > before:
        return None
    return Purl(recipients=file, landing=landing, expires_days=expires, expose=expose)


def _exposed(check: Checker, value: Any, path: YPath) -> tuple[str, ...]:
    out: list[str] = []
    for item_path, name in check.text_list(value, path):
        written = normalize_header(name)
        if (written or name) in NEVER_EXPOSED:
            reason = NEVER_EXPOSED[written or name]
            check.report(item_path, f"'{name[:40]}' cannot be exposed: {reason}")
        elif written != name:
            check.report(
                item_path,
                f"'{name[:40]}' is not a column name: write it as the recipients file's header "
                + (f"gives it, '{written}'" if written else "gives it (like first_name)"),
            )
        elif name in out:
            check.report(item_path, f"'{name}' is listed twice")
        else:
            out.append(name)
    return tuple(out)


def local_path(url: str) -> bool:
    """Whether ``url`` is a path on this site that no browser reads as another site's."""
    return url.startswith("/") and _safe_link(url)


def _safe_link(url: str) -> bool:
    # Browsers drop tabs and newlines from URLs: "/\t/evil.example" is "//evil.example".
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    if url.startswith("/"):
        return not url.startswith("//") and "\\" not in url
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _landing_ok(landing: str, hosts: tuple[str, ...]) -> bool:
    if any(ch.isspace() or ord(ch) < 32 for ch in landing):
        return False
    if landing.startswith("/"):
        return _safe_link(landing)
    if "\\" in landing:  # browsers read a backslash as a slash: "https://evil\\@shop/"
        return False
    try:
        parts = urlsplit(landing)
        port = parts.port
    except ValueError:
        return False
    if "@" in parts.netloc:  # user info: what the host is depends on who reads it
        return False
    host = (parts.hostname or "").lower()
    named = f"{host}:{port}" if port else host
    return parts.scheme in ("http", "https") and (host in hosts or named in hosts)


# The last table read from each data file, with the file's (mtime, size) then: a reload of the
# campaign file alone must not parse a large customer table again.
_LOADED: dict[tuple[str, Path], tuple[tuple[int, int], Any]] = {}
MAX_CACHED = 16


def _cached(kind: str, path: Path, load: Callable[[Path], T]) -> T:
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    found = _LOADED.get((kind, path))
    if found is not None and found[0] == stamp:
        value: T = found[1]
        return value
    loaded = load(path)
    if len(_LOADED) >= MAX_CACHED:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[(kind, path)] = (stamp, loaded)
    return loaded


def load_customers(path: Path | None) -> Mapping[str, Mapping[str, Any]]:
    """The customer table ``opmaat import customers`` wrote; none yet is an empty table."""
    if path is None or not _exists(path):
        return {}
    return _cached("customers", path, load_table)


def load_feed(path: Path) -> Feed:
    """The product feed in ``path``; none yet is an empty feed (nothing is recommended until
    it is written, and watched, it is read). Raises ConfigError naming file:line: field."""
    if not _exists(path):
        return Feed(source=str(path))
    try:
        return _cached("feed", path, read_feed)
    except OSError as exc:  # gone, or not readable, before it was read
        message = f"cannot read the file: {exc.strerror or exc}"
        raise ConfigError([Problem(str(path)[:200], 1, "file", message)]) from None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as exc:  # a name the file system refuses
        raise ConfigError([Problem(str(path)[:200], 1, "file", f"cannot read: {exc}")]) from None


def load_purl_recipients(
    campaigns: list[tuple[str, Purl]],
) -> dict[str, tuple[str, Recipient]]:
    """Every PURL campaign's recipients, by link key; raises ConfigError for a bad file or a
    key two campaigns share."""
    out: dict[str, tuple[str, Recipient]] = {}
    problems: list[Problem] = []
    for campaign_id, section in campaigns:
        if not _exists(section.recipients):
            continue  # `opmaat purl create` has not written it yet: no links to follow
        try:
            # Exposing other columns must not reuse the rows read for the old ones.
            kind = "recipients:" + ",".join(section.expose)
            load = partial(load_recipients, expose=section.expose)
            found = _cached(kind, section.recipients, load)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for key, recipient in found.items():
            if key in out and out[key][0] != campaign_id:
                problems.append(
                    Problem(
                        str(section.recipients),
                        1,
                        "url",
                        f"link key {key} is also used by campaign '{out[key][0]}'",
                    )
                )
            out[key] = (campaign_id, recipient)
    if problems:
        raise ConfigError(problems)
    return out
