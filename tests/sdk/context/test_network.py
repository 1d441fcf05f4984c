from __future__ import annotations

import time

import pytest

from opmaat.context import TrustedProxies, client_ip
from opmaat.context.network import parse_ip

PROXIES = TrustedProxies.parse(["127.0.0.1", "::1", "10.0.0.0/8", "2001:db8:ffff::/48"])


def test_parse_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        TrustedProxies.parse(["127.0.0.1", "10.0.0.300"])


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "localhost", "", "10.0.0.0/33", "*"])
def test_parse_refuses_what_is_not_an_address_or_network(entry: str) -> None:
    with pytest.raises(ValueError, match="trusted proxy"):
        TrustedProxies.parse([entry])


def test_mapped_entry_trusts_the_ipv4_peer() -> None:
    proxies = TrustedProxies.parse(["::ffff:192.0.2.1"])
    assert client_ip("192.0.2.1", "203.0.113.5", proxies) == "203.0.113.5"


def test_peer_without_forwarded_header() -> None:
    assert client_ip("203.0.113.5", None, PROXIES) == "203.0.113.5"


def test_spoofed_header_from_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.5", "198.51.100.1", PROXIES) == "203.0.113.5"


def test_header_from_trusted_proxy_gives_the_client() -> None:
    assert client_ip("127.0.0.1", "203.0.113.5", PROXIES) == "203.0.113.5"


def test_walks_right_to_left_past_trusted_hops() -> None:
    # The visitor wrote 198.51.100.1 themselves; the first proxy saw 203.0.113.5.
    header = "198.51.100.1, 203.0.113.5, 10.1.2.3, 10.0.0.9"
    assert client_ip("127.0.0.1", header, PROXIES) == "203.0.113.5"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert client_ip("127.0.0.1", "10.0.0.7, 10.0.0.8", PROXIES) == "10.0.0.7"


def test_garbage_hop_stops_the_walk_at_the_last_good_one() -> None:
    assert client_ip("127.0.0.1", "203.0.113.5, unknown, 10.0.0.8", PROXIES) == "10.0.0.8"
    assert client_ip("127.0.0.1", "203.0.113.5, <script>", PROXIES) == "127.0.0.1"


def test_ipv6_peer_and_hops() -> None:
    assert client_ip("::1", "2001:db8::42", PROXIES) == "2001:db8::42"
    assert client_ip("2001:db8:ffff::1", "[2001:db8::42]:443", PROXIES) == "2001:db8::42"
    assert client_ip("2001:db8::7", None, PROXIES) == "2001:db8::7"


def test_ipv4_mapped_addresses_become_ipv4() -> None:
    assert client_ip("::ffff:203.0.113.5", None, PROXIES) == "203.0.113.5"
    assert client_ip("::ffff:127.0.0.1", "::ffff:198.51.100.1", PROXIES) == "198.51.100.1"


def test_hop_with_port() -> None:
    assert client_ip("10.0.0.1", "203.0.113.5:51234", PROXIES) == "203.0.113.5"


@pytest.mark.parametrize("peer", [None, "", "testclient", "999.1.1.1", "::ffff:xyz", "1" * 5000])
def test_peer_that_is_not_an_ip(peer: str | None) -> None:
    assert client_ip(peer, "203.0.113.5", PROXIES) is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        " , ,",
        "ünïcödé, 😀",
        "\x00\r\n203.0.113.5",
        "203.0.113.5\x00",
        "0" * 8192,
        ",".join(["x"] * 4096),
    ],
)
def test_hostile_header_from_trusted_peer_falls_back_to_the_peer(header: str) -> None:
    assert client_ip("10.0.0.1", header, PROXIES) == "10.0.0.1"


def test_padded_chain_of_trusted_hops_is_cut_short() -> None:
    # 8 KB of trusted hops: the walk stops after a bounded number of them.
    header = "203.0.113.5, " + ", ".join(["10.0.0.2"] * 900)
    start = time.perf_counter()
    assert client_ip("10.0.0.1", header, PROXIES) == "10.0.0.2"
    assert time.perf_counter() - start < 0.05


def test_no_trusted_proxies_never_reads_the_header() -> None:
    assert client_ip("127.0.0.1", "203.0.113.5", TrustedProxies.parse([])) == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        (" 203.0.113.5 ", "203.0.113.5"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("203.0.113.5:80:90", None),
        ("[2001:db8::1", None),
        ("1.2.3", None),
        ("010.0.0.1", None),
        ("0x7f.0.0.1", None),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("fe80::1%eth0", None),
        ("1.2.3.4\x00", None),
        ("\udcff", None),
    ],
)
def test_parse_ip(text: str, expected: str | None) -> None:
    address = parse_ip(text)
    assert (address.text if address is not None else None) == expected
