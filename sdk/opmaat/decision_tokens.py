"""Decision tokens: a short signed note, in each decide answer (and in each slot the
middleware fills), that this visitor was given this decision. The page sends it back with the
decision's impression and click; only a genuine, recent token counts, and each counts at most
one impression and one click, so a script cannot count responses to campaigns nobody saw.

A token is 40 URL-safe characters (30 bytes): whether it names a visitor, when it was made, a
random nonce, a tag of the visitor the cookie carries, and a MAC (keyed BLAKE2s, RFC 7693,
truncated to 120 bits) over all that and the campaign, variant and slot, under a key derived
from a secret key for this purpose alone: the newest key signs, every key verifies (rotation).
The decide path makes one per slot, so the MAC is the cheap one: a copy of a BLAKE2s keyed
once costs a sixth of an HMAC-SHA256 through OpenSSL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from opmaat.engine import Decision

if TYPE_CHECKING:
    from opmaat.personalizer import Visit

# Long enough for a page read at leisure, or a tab left open over lunch, before a click; short
# enough that what every process must remember to count each token once stays small.
MAX_AGE = 2 * 3600
# A token from a node whose clock runs ahead (the site's servers, another edge) still counts.
CLOCK_SKEW = 300
# Tokens a process remembers as counted, per generation (two are kept): ~100 bytes each.
REMEMBERED = 100_000
PURPOSE = b"opmaat.decision-token.v1"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{40}")
_HEAD = 15  # names a visitor (1), made at (4), nonce (6), visitor tag (4)
_MAC = 15
_NO_TAG = bytes(4)
_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_TAGS = hashlib.blake2s(digest_size=4)
IMPRESSION, CLICK = "impression", "click"
_COUNTED = {IMPRESSION: 1, CLICK: 2}


class DecisionTokenError(ValueError):
    """Why a token does not count, in words for the page's developer."""


def token_visitor(visit: Visit) -> str | None:
    """Whom a decision made in ``visit`` is given to: the visitor id its cookie will carry,
    or None when nothing is kept about them (no consent to it, a cockpit preview)."""
    return visit.ident.visitor_id if visit.consent.stores and visit.record else None


def _signer(secret: str) -> hashlib.blake2s:
    # Under a key of this purpose's own (a token is no value signed for anything else), keyed
    # once: each token copies it.
    key = hmac.digest(secret.encode(), PURPOSE, "sha256")
    return hashlib.blake2s(digest_size=_MAC, key=key)


def _mac(signer: hashlib.blake2s, head: bytes, fields: bytes) -> bytes:
    mac = signer.copy()
    mac.update(head + fields)
    return mac.digest()


def _fields(campaign: str, variant: str | None, slot: str) -> bytes:
    # Lengths in front make it unambiguous; "-" (no digit) stands for no variant (a holdout).
    noted = f"{len(variant)}:{variant}" if variant is not None else "-:"
    return f"{len(campaign)}:{campaign}{noted}{slot}".encode("utf-8", "surrogatepass")


def _decided_fields(campaign: str, variant: str | None, slot: str) -> bytes:
    # ``_fields`` of a decision made here, remembered: a campaign file's campaigns, variants
    # and slots make few of them (what a request claims is not: anyone can send anything).
    key = (campaign, variant, slot)
    found = _FIELDS.get(key)
    if found is None:
        found = _fields(campaign, variant, slot)
        if len(_FIELDS) >= MAX_FIELDS:
            _FIELDS.clear()  # rarely; single dict operations are thread-safe
        _FIELDS[key] = found
    return found


MAX_FIELDS = 4096
_FIELDS: dict[tuple[str, str | None, str], bytes] = {}


def _tag(nonce: bytes, visitor: str) -> bytes:
    # With the nonce: tokens of one visitor share nothing a script could follow them by.
    tag = _TAGS.copy()
    tag.update(nonce + visitor.encode("utf-8", "surrogatepass"))
    return tag.digest()


class DecisionTokens:
    """Makes and checks decision tokens with a site's secret keys (newest first), and
    remembers which tokens this process counted. Not thread-safe: the edge's event loop alone
    checks tokens."""

    def __init__(
        self, secret_keys: Sequence[str], *, max_age: int = MAX_AGE, remembered: int = REMEMBERED
    ) -> None:
        keys = [k for k in secret_keys if k]
        if not keys:
            raise ValueError("at least one secret key is needed to sign decision tokens")
        self._signers = tuple(_signer(k) for k in keys)
        self.max_age = max_age
        self.remembered = remembered
        # Two generations: a token is remembered for at least max_age (+ skew), unless more
        # than `remembered` tokens count within that time.
        self._counted: dict[bytes, int] = {}
        self._earlier: dict[bytes, int] = {}
        self._since = time.monotonic()

    def make(self, decisions: Mapping[str, Decision], visitor: str | None) -> dict[str, str]:
        """The tokens of one answer's ``decisions`` given to ``visitor`` (token_visitor; None:
        nobody kept), by slot; none for a slot that keeps its default content (no campaign,
        nothing to count)."""
        tokens: dict[str, str] = {}
        head = b""
        for d in decisions.values():
            if d.campaign is None:
                continue
            if not head:
                # One nonce for one answer: its tokens differ by slot, and share nothing with
                # another answer's.
                nonce = random.getrandbits(48).to_bytes(6)
                bound, tag = (b"\0", _NO_TAG) if visitor is None else (b"\1", _tag(nonce, visitor))
                head = bound + int(time.time()).to_bytes(4) + nonce + tag
            fields = _decided_fields(d.campaign, d.variant, d.slot)
            raw = head + _mac(self._signers[0], head, fields)
            tokens[d.slot] = binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).decode()
        return tokens

    def check(
        self,
        token: object,
        *,
        campaign: object,
        variant: object,
        slot: object,
        visitor: str | None,
        now: float | None = None,
    ) -> bytes:
        """What identifies ``token`` for ``claim``, when one of the keys made it at most
        ``max_age`` seconds ago for this campaign, variant (None: a holdout) and slot, and,
        when it names a visitor and ``visitor`` (who the request's cookie says this is) is
        known, for this visitor. Raises DecisionTokenError saying what is wrong."""
        if token is None:
            raise DecisionTokenError(
                "an impression or click needs the token of its decision (the decide answer's "
                "slots.<slot>.token, the slot's data-opmaat-token)"
            )
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise DecisionTokenError(
                "this is no decision token: one is 40 letters, digits, '-' or '_'"
            )
        raw = base64.urlsafe_b64decode(token)
        head, mac = raw[:_HEAD], raw[_HEAD:]
        if (
            head[0] > 1
            or not isinstance(campaign, str)
            or not isinstance(slot, str)
            or not (variant is None or isinstance(variant, str))
            or not any(
                hmac.compare_digest(mac, _mac(signer, head, _fields(campaign, variant, slot)))
                for signer in self._signers
            )
        ):
            raise DecisionTokenError(
                "this decision token is not one of ours, or was given for another campaign, "
                "variant or slot"
            )
        age = (time.time() if now is None else now) - int.from_bytes(head[1:5])
        if age > self.max_age:
            raise DecisionTokenError(
                f"this decision token has expired: it counts for {self.max_age // 60} "
                "minutes after its decision"
            )
        if age < -CLOCK_SKEW:
            raise DecisionTokenError(
                "this decision token was made in the future: check the clocks of the edge and "
                "of the site's servers"
            )
        if head[0] == 1 and visitor is not None and head[11:] != _tag(head[5:11], visitor):
            raise DecisionTokenError("this decision was given to another visitor")
        return mac

    def claim(self, key: bytes, kind: str) -> tuple[str, ...]:
        """The responses an ``impression`` or ``click`` with the token ``key`` (check) counts,
        now noted as counted: none when it counted one of its kind already. A first click
        whose impression was not counted counts that too, so clicks never outnumber
        impressions."""
        monotonic = time.monotonic()
        if (
            monotonic - self._since > self.max_age + CLOCK_SKEW
            or len(self._counted) >= self.remembered
        ):
            self._earlier, self._counted, self._since = self._counted, {}, monotonic
        done = self._counted.get(key, 0) | self._earlier.get(key, 0)
        kinds = tuple(k for k in dict.fromkeys((IMPRESSION, kind)) if not done & _COUNTED[k])
        if kinds:
            self._counted[key] = done | _COUNTED[IMPRESSION] | _COUNTED[kind]
        return kinds
