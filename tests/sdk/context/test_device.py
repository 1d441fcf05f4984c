from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import user_agents

from opmaat.context import parse_device
from opmaat.context.device import MAX_UA_CHARS, ResolvedUserAgent

DATA = Path(__file__).parent / "data" / "user-agents.txt"


def load_user_agents() -> list[str]:
    lines = DATA.read_text(encoding="utf-8").split("\n")
    return [
        "" if line == "<empty>" else line
        for line in lines
        if line.strip() and not line.startswith("# ")
    ]


USER_AGENTS = load_user_agents()
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def fields(agent: Any) -> tuple[object, ...]:
    return (
        agent.browser,
        agent.os,
        agent.device,
        agent.is_mobile,
        agent.is_tablet,
        agent.is_pc,
        agent.is_touch_capable,
        agent.is_email_client,
        str(agent),
    )


def test_adapter_agrees_with_plain_user_agents() -> None:
    assert len(USER_AGENTS) >= 400
    differences = []
    for ua in USER_AGENTS:
        plain, fast = user_agents.parse(ua), ResolvedUserAgent(ua)
        if fields(plain) != fields(fast) or plain.is_bot != fast.is_bot:
            differences.append((ua, plain, fast))
    # The one known way they part: the native resolver keeps looking for crawler keywords
    # past the first 100 characters, so it finds a few more bots (see the module docstring).
    for ua, plain, fast in differences:
        assert fast.is_bot, ua
        assert not plain.is_bot, ua
        assert (plain.browser, plain.os) == (fast.browser, fast.os), ua
    assert len(differences) <= 5


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (IPHONE, {"type": "mobile", "os": "iOS", "browser": "Mobile Safari"}),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            {"type": "tablet", "os": "iOS", "browser": "Mobile Safari"},
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.6099.144 Mobile Safari/537.36",
            {"type": "mobile", "os": "Android", "browser": "Chrome Mobile"},
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            {"type": "tablet", "os": "Android", "browser": "Chrome"},
        ),
        (WINDOWS_CHROME, {"type": "desktop", "os": "Windows", "browser": "Chrome"}),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.2 Safari/605.1.15",
            {"type": "desktop", "os": "Mac OS X", "browser": "Safari"},
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            {"type": "desktop", "os": "Linux", "browser": "Firefox"},
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            {"type": "bot", "os": None, "browser": "Googlebot"},
        ),
        (
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
            "like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
            "+http://www.google.com/bot.html)",
            {"type": "bot", "os": "Android", "browser": "Googlebot"},
        ),
        ("curl/8.4.0", {"type": "other", "os": None, "browser": "curl"}),
        ("", {"type": "other", "os": None, "browser": None}),
        (None, {"type": "other", "os": None, "browser": None}),
    ],
)
def test_classifies_common_user_agents(ua: str | None, expected: dict[str, str | None]) -> None:
    assert parse_device(ua) == expected


@pytest.mark.parametrize(
    "ua",
    [
        "\x00\x01\x02\r\n\t",
        "😀" * 3000,
        "A" * 8192,
        "Mozilla/5.0 (" * 700,
        "<script>alert(1)</script>",
        "\udcff broken surrogate",
        IPHONE.replace(" ", "\x00"),
    ],
)
def test_hostile_user_agents_give_a_type(ua: str) -> None:
    assert parse_device(ua)["type"] in {"mobile", "tablet", "desktop", "bot", "other"}


def test_every_sample_gives_a_known_type() -> None:
    types = {parse_device(ua)["type"] for ua in USER_AGENTS}
    assert types == {"mobile", "tablet", "desktop", "bot", "other"}


def test_long_user_agent_is_cut_before_parsing() -> None:
    padded = WINDOWS_CHROME + " " * MAX_UA_CHARS + "Googlebot/2.1"
    assert parse_device(padded)["type"] == "desktop"
    assert parse_device(WINDOWS_CHROME + " Googlebot/2.1")["type"] == "bot"


def test_answer_is_a_copy() -> None:
    parse_device(IPHONE)["type"] = "desktop"
    assert parse_device(IPHONE)["type"] == "mobile"
