"""What the visitor browses with: device type, OS and browser from the User-Agent header.

OS and browser are ua-parser's; the type is ``agent_rules``' when it knows (a crawler from a
maintained list, or a correction: consoles, TVs, tablets known by model name), else the
``user-agents`` library's classification. ``user-agents`` parses through ua-parser's old
pure-Python API, close to a millisecond for every string it has not seen: a bot sending a new
User-Agent per request would make that the edge's limit. So it is fed here by ua-parser 1.x's
native resolver (ua-parser-rs) instead, with an LRU in front of both.

The native resolver finds a few more crawlers than the Python one: it does not stop looking for
bot keywords after the first 100 characters, so a long browser-like string ending in, say,
``Applebot/0.1`` is a ``bot`` here and a desktop for plain ``user-agents``.
"""

from __future__ import annotations

from functools import lru_cache

from ua_parser import OS, Device, Domain, load_lazy_builtins
from ua_parser import UserAgent as Agent
from ua_parser.regex import Resolver
from user_agents.parsers import UserAgent
from user_agents.parsers import parse_browser as _browser
from user_agents.parsers import parse_device as _device
from user_agents.parsers import parse_operating_system as _operating_system

from opmaat.context.agent_rules import BOT, load_rules

# Real User-Agents stay well under this; longer ones are cut so a padded header costs no more.
MAX_UA_CHARS = 512
CACHE_SIZE = 4096

# ua-parser's families of desktop systems: a browser on one of them is a desktop even where
# ``user-agents`` does not know it (FreeBSD, an old Windows, a Linux without X11).
DESKTOP_SYSTEMS = frozenset(
    {
        "Windows", "Mac OS X", "Mac OS", "Linux", "Ubuntu", "Kubuntu", "Debian", "Fedora",
        "Red Hat", "Gentoo", "Mint", "SUSE", "FreeBSD", "OpenBSD", "NetBSD", "Solaris",
        "Chrome OS", "BeOS", "Haiku", "OS/2", "IRIX",
    }
)  # fmt: skip

_resolver = Resolver(load_lazy_builtins())
_rules = load_rules()
_UNKNOWN: dict[str, str | None] = {"type": "other", "os": None, "browser": None}
# What ua-parser's old API reports when nothing matches: family "Other", no versions.
_NO_AGENT, _NO_OS, _NO_DEVICE = Agent(), OS(), Device()


class ResolvedUserAgent(UserAgent):  # type: ignore[misc]
    """A ``user_agents`` UserAgent (same properties: is_mobile, is_tablet, is_pc, is_bot, ...)
    parsed by ua-parser's native resolver."""

    def __init__(self, ua_string: str) -> None:
        # Deliberately not calling super().__init__: that is the slow parse this replaces.
        result = _resolver(ua_string, Domain.ALL)
        agent = result.user_agent or _NO_AGENT
        system = result.os or _NO_OS
        device = result.device or _NO_DEVICE
        self.ua_string = ua_string
        self.browser = _browser(agent.family, agent.major, agent.minor, agent.patch)
        self.os = _operating_system(
            system.family, system.major, system.minor, system.patch, system.patch_minor
        )
        self.device = _device(device.family, device.brand, device.model)


def parse_device(ua: str | None) -> dict[str, str | None]:
    """Device attributes from a User-Agent header value.

    ``type`` is always present: ``bot`` (ua-parser's crawlers and the crawler-user-agents
    list's), a correction of ``agent_rules.yaml`` (``other`` for consoles and TVs, ``tablet``
    for Firefox's ``Android 14; Tablet;`` and models such as ``SM-T510`` or ``Xiaomi Pad 6``
    whose browsers say "Mobile", ...), else ``tablet``, ``mobile`` or ``desktop``
    (checked in that order), and ``other`` when none fits (empty or missing header, curl, junk).
    ``os`` and ``browser`` are family names as ua-parser spells them (``iOS``, ``Android``,
    ``Windows``, ``Mac OS X``; ``Chrome Mobile``, ``Mobile Safari``, ``Firefox``), or None when
    unknown. Strings longer than 512 characters are cut first.
    """
    if not ua or not isinstance(ua, str):
        return dict(_UNKNOWN)
    return dict(_cached(ua[:MAX_UA_CHARS]))


# functools' LRU (in C, thread-safe): a hit costs a fraction of a microsecond.
@lru_cache(maxsize=CACHE_SIZE)
def _cached(ua: str) -> dict[str, str | None]:
    return _classify(ua)


def _classify(ua: str) -> dict[str, str | None]:
    if not ua.isascii():
        # The native resolver takes UTF-8: lone surrogates (from a surrogateescape decode)
        # would raise there, so they become "?".
        ua = ua.encode("utf-8", "replace").decode("utf-8")
    agent = ResolvedUserAgent(ua)
    verdict = _rules.verdict(ua)
    if verdict is not None:
        kind = BOT if agent.is_bot else verdict
    elif agent.is_bot:
        kind = BOT
    elif agent.is_tablet:
        kind = "tablet"
    elif agent.is_mobile:
        kind = "mobile"
    elif agent.is_pc or agent.os.family in DESKTOP_SYSTEMS:
        kind = "desktop"
    else:
        kind = "other"
    return {"type": kind, "os": _known(agent.os.family), "browser": _known(agent.browser.family)}


def _known(family: object) -> str | None:
    return family if isinstance(family, str) and family != "Other" else None
