"""The file's supporting sections: site settings, slots and saved segments."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateSyntaxError

from opmaat.campaigns import site_data
from opmaat.campaigns.checker import Checker, describe, is_number
from opmaat.campaigns.model import CONSENT_TIERS, SiteSettings, Slot
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.templates import RawUtmError, TemplateRenderer

SITE_KEYS = (
    "name",
    "hosts",
    "allowed_origins",
    "landing_hosts",
    "consent_default",
    "geo_database",
    "trusted_proxies",
    "cdn_geo_header",
    "session_timeout_minutes",
    "retention_days",
    "interest_half_life_days",
    "events",
    "customers",
    "locations",
    "intent_weights",
    "cart_abandon_minutes",
    "purl_forward_limit",
)
SLOT_KEYS = ("default", "default_template")
SLOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?")
_ORIGIN = re.compile(r"https?://" + _HOST.pattern)
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")


def site_settings(check: Checker, value: Any, base_dir: Path) -> SiteSettings:
    path: YPath = ("site",)
    if value is None:
        return SiteSettings()
    site = check.mapping(value, path, SITE_KEYS)
    if site is None:
        return SiteSettings()
    hosts = _hosts(check, site, "hosts")
    landing = _hosts(check, site, "landing_hosts") if "landing_hosts" in site else hosts
    origins = []
    for item_path, origin in check.text_list(
        site.get("allowed_origins", []), (*path, "allowed_origins")
    ):
        if _ORIGIN.fullmatch(origin.lower().rstrip("/")):
            origins.append(origin.lower().rstrip("/"))
        else:
            check.report(
                item_path, f"'{origin}' is not an origin; write it like 'https://shop.example'"
            )
    proxies = []
    for item_path, proxy in check.text_list(
        site.get("trusted_proxies", []), (*path, "trusted_proxies")
    ):
        try:
            network = ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            check.report(item_path, f"'{proxy}' is not an IP address or network")
        else:
            if network.prefixlen == 0:
                check.report(
                    item_path,
                    f"'{proxy}' trusts every address: any visitor could then choose their own "
                    "location with X-Forwarded-For; list your proxies' addresses",
                )
            else:
                proxies.append(proxy)
    name = check.text(site.get("name", ""), (*path, "name"), empty_ok=True)
    consent = check.choice(
        site.get("consent_default", "session"), (*path, "consent_default"), CONSENT_TIERS
    )
    geo = None
    if site.get("geo_database") is not None:
        geo_name = check.text(site["geo_database"], (*path, "geo_database"))
        geo = base_dir / geo_name if geo_name else None
    header = None
    if site.get("cdn_geo_header") is not None:
        header = check.text(site["cdn_geo_header"], (*path, "cdn_geo_header"))
        if header is not None and not _HEADER.fullmatch(header):
            check.report((*path, "cdn_geo_header"), f"'{header}' is not an HTTP header name")
            header = None
    timeout = check.integer(
        site.get("session_timeout_minutes", 30),
        (*path, "session_timeout_minutes"),
        low=1,
        high=1440,
    )
    retention = check.integer(
        site.get("retention_days", 395), (*path, "retention_days"), low=1, high=3650
    )
    half_life = check.integer(
        site.get("interest_half_life_days", 7), (*path, "interest_half_life_days"), low=1, high=365
    )
    abandon = check.integer(
        site.get("cart_abandon_minutes", 30), (*path, "cart_abandon_minutes"), low=1, high=10080
    )
    forward = check.integer(
        site.get("purl_forward_limit", 3), (*path, "purl_forward_limit"), low=1, high=1000
    )
    customers = None
    if site.get("customers") is not None:
        customers = site_data.data_file(check, site["customers"], (*path, "customers"), base_dir)
    return SiteSettings(
        name=name or "",
        hosts=hosts,
        allowed_origins=tuple(origins),
        landing_hosts=landing,
        consent_default=consent or "session",
        geo_database=geo,
        trusted_proxies=tuple(proxies),
        cdn_geo_header=header,
        session_timeout_minutes=timeout or 30,
        retention_days=retention or 395,
        interest_half_life_days=half_life or 7,
        events=site_data.events(check, site.get("events")),
        customers=customers,
        locations=site_data.locations(check, site.get("locations")),
        intent_weights=site_data.intent_weights(check, site.get("intent_weights")),
        cart_abandon_minutes=abandon or 30,
        purl_forward_limit=forward or 3,
    )


def _hosts(check: Checker, site: dict[str, Any], key: str) -> tuple[str, ...]:
    hosts = []
    for item_path, host in check.text_list(site.get(key, []), ("site", key)):
        if _HOST.fullmatch(host.lower()):
            hosts.append(host.lower())
        else:
            check.report(
                item_path, f"'{host}' is not a host name; write the host only, like 'shop.example'"
            )
    return tuple(hosts)


def slots(
    check: Checker, value: Any, base_dir: Path, renderer: TemplateRenderer
) -> dict[str, Slot]:
    path: YPath = ("slots",)
    if value is None:
        return {}
    if not isinstance(value, dict):
        check.report(
            path, f"expected a mapping of slot names to their defaults, got {describe(value)}"
        )
        return {}
    out: dict[str, Slot] = {}
    for name, spec in value.items():
        slot_path = (*path, name)
        if not isinstance(name, str) or not SLOT_NAME.fullmatch(name):
            check.report(
                slot_path, f"'{name}' is not a slot name: use letters, digits, '_', '-' and '.'"
            )
            continue
        spec = {} if spec is None else check.mapping(spec, slot_path, SLOT_KEYS)
        if spec is None:
            continue
        if "default" in spec and "default_template" in spec:
            check.report(slot_path, "use either 'default' or 'default_template', not both")
            continue
        if "default_template" in spec:
            key_path = (*slot_path, "default_template")
            source = read_template(check, spec["default_template"], key_path, base_dir)
        else:
            key_path = (*slot_path, "default")
            source = check.text(spec.get("default", ""), key_path, empty_ok=True)
        template = compile_template(check, renderer, source, key_path)
        if source is not None and template is not None:
            out[name] = Slot(name=name, default=source, template=template)
    return out


def read_template(check: Checker, value: Any, path: YPath, base_dir: Path) -> str | None:
    """The text of a template file named relative to the campaign file."""
    name = check.text(value, path)
    if name is None:
        return None
    file = check.file_in(name, path, base_dir, "template file")
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        check.report(path, f"template file '{name}' not found (looked in {base_dir})")
    except UnicodeDecodeError:
        check.report(path, f"template file '{name}' is not UTF-8 text")
    except OSError as exc:
        check.report(path, f"cannot read template file '{name}': {exc.strerror or exc}")
    return None


def compile_template(
    check: Checker,
    renderer: TemplateRenderer,
    source: str | None,
    path: YPath,
    *,
    raw_utm: bool = False,
) -> Template | None:
    if source is None:
        return None
    try:
        return renderer.compile(source, raw_utm=raw_utm)
    except RawUtmError as exc:
        where = f" on line {exc.lineno} of the template" if exc.lineno > 1 else ""
        check.report(
            path,
            f"the template shows utm.*{where}: text from the link, which anyone can write; "
            "only a campaign with 'raw_utm: true' may show it (conditions on utm.* belong "
            "in the audience)",
        )
    except TemplateSyntaxError as exc:
        where = f" on line {exc.lineno} of the template" if exc.lineno > 1 else ""
        check.report(path, f"template syntax error{where}: {exc.message}")
    except RecursionError:
        check.report(path, "the template is nested too deeply")
    return None


def segments(check: Checker, value: Any) -> dict[str, list[Any]]:
    path: YPath = ("segments",)
    if value is None:
        return {}
    if not isinstance(value, dict):
        check.report(
            path, f"expected a mapping of segment names to lists of values, got {describe(value)}"
        )
        return {}
    out: dict[str, list[Any]] = {}
    for name, members in value.items():
        member_path = (*path, name)
        if not isinstance(name, str) or not name:
            check.report(member_path, "a segment name must be text")
            continue
        if not isinstance(members, list):
            check.report(member_path, f"expected a list of values, got {describe(members)}")
            continue
        good = True
        for index, member in enumerate(members):
            if not (isinstance(member, str) or is_number(member)):
                check.report(
                    (*member_path, index), f"expected text or a number, got {describe(member)}"
                )
                good = False
        if good:
            out[name] = list(members)
    return out
