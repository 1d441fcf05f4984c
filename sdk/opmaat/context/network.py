"""The visitor's IP address: the peer, or X-Forwarded-For when the peer is a trusted proxy.

Addresses are parsed with ``socket.inet_pton`` (a tenth of the time ``ipaddress`` takes, which
matters at several parses per request); ``ipaddress`` only checks the configuration.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import ip_address, ip_network
from typing import NamedTuple

# Longer than any address in text form, with or without a port or an IPv6 zone.
MAX_ADDRESS_CHARS = 64
# A trusted proxy adds one hop; a chain this long only comes from someone padding the header.
MAX_TRUSTED_HOPS = 32

_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


class Address(NamedTuple):
    """One parsed address: canonical text, IP version (4 or 6) and integer value."""

    text: str
    version: int
    value: int


def parse_ip(text: object) -> Address | None:
    """One address from outside, or None when it is not one.

    Accepts ``1.2.3.4``, ``1.2.3.4:port``, ``::1``, ``[::1]`` and ``[::1]:port``; IPv4-mapped
    IPv6 (``::ffff:1.2.3.4``) comes back as the IPv4 address. IPv6 text is canonical
    (lower case, compressed).
    """
    if not text or not isinstance(text, str) or len(text) > MAX_ADDRESS_CHARS:
        return None
    text = text.strip()
    return _parse(text) or _parse_with_port(text)


def _parse(text: str) -> Address | None:
    try:
        if ":" not in text:
            packed = socket.inet_pton(socket.AF_INET, text)
            return Address(text, 4, int.from_bytes(packed, "big"))
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        # OSError for what is not an address, ValueError for NUL characters and surrogates.
        return None
    if packed[:12] == _MAPPED_PREFIX:
        ipv4 = packed[12:]
        return Address(socket.inet_ntop(socket.AF_INET, ipv4), 4, int.from_bytes(ipv4, "big"))
    return Address(socket.inet_ntop(socket.AF_INET6, packed), 6, int.from_bytes(packed, "big"))


def _parse_with_port(text: str) -> Address | None:
    if text.startswith("["):
        host, bracket, _ = text[1:].partition("]")
    elif text.count(":") == 1:
        host, bracket, _ = text.partition(":")
    else:
        return None
    return _parse(host) if bracket else None


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The proxies whose X-Forwarded-For is believed: single addresses and CIDR networks."""

    addresses: frozenset[str] = frozenset()
    networks: tuple[tuple[int, int, int], ...] = ()  # (version, network, netmask)

    @classmethod
    def parse(cls, entries: Iterable[object]) -> TrustedProxies:
        """Build from config such as ``["127.0.0.1", "::1", "10.0.0.0/8"]``.

        Raises ValueError naming the first entry that is not an address or a network
        (a network with host bits set, such as ``10.0.0.1/8``, is refused as a likely typo).
        """
        addresses: set[str] = set()
        networks: list[tuple[int, int, int]] = []
        for entry in entries:
            text = entry.strip() if isinstance(entry, str) else ""
            try:
                if "/" in text:
                    network = ip_network(text)
                    networks.append(
                        (network.version, int(network.network_address), int(network.netmask))
                    )
                    continue
                address = parse_ip(str(ip_address(text)))
            except ValueError as exc:
                raise ValueError(
                    f"trusted proxy {entry!r} is not an IP address or CIDR network ({exc})"
                ) from None
            if address is not None:
                addresses.add(address.text)
        return cls(frozenset(addresses), tuple(networks))

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, Address):
            return False
        if address.text in self.addresses:
            return True
        for version, network, netmask in self.networks:
            if version == address.version and address.value & netmask == network:
                return True
        return False


def client_ip(
    peer: str | None, x_forwarded_for: str | None, trusted_proxies: TrustedProxies
) -> str | None:
    """The visitor's address as text, or None when the peer is not an IP address.

    X-Forwarded-For (several header lines joined with ",") counts only when the peer is a
    trusted proxy. It is walked right to left, skipping trusted hops; the first untrusted hop
    is the client. An entry that is not an address ends the walk: the last good hop (or the
    peer) is the answer, so a client cannot hide behind garbage it wrote itself.
    """
    if (
        isinstance(peer, str)
        and (x_forwarded_for is None or isinstance(x_forwarded_for, str))
        and len(x_forwarded_for or "") <= MAX_CACHED_HEADER
    ):
        return _cached_client_ip(peer, x_forwarded_for, trusted_proxies)
    return _client_ip(peer, x_forwarded_for, trusted_proxies)


# A visitor sends the same peer and X-Forwarded-For on every request; parsing them takes a few
# microseconds. Only ordinary header lengths are kept, so a padded header costs no memory.
CACHE_SIZE = 4096
MAX_CACHED_HEADER = 256


def _client_ip(
    peer: str | None, x_forwarded_for: str | None, trusted_proxies: TrustedProxies
) -> str | None:
    peer_address = parse_ip(peer)
    if peer_address is None:
        return None
    if not x_forwarded_for or peer_address not in trusted_proxies:
        return peer_address.text
    candidate = peer_address
    hops = x_forwarded_for.rsplit(",", MAX_TRUSTED_HOPS)
    for hop in hops[-MAX_TRUSTED_HOPS:][::-1]:
        address = parse_ip(hop)
        if address is None:
            break
        candidate = address
        if address not in trusted_proxies:
            break
    return candidate.text


_cached_client_ip = lru_cache(maxsize=CACHE_SIZE)(_client_ip)
