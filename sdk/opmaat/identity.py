"""The visitor's signed first-party cookie: who they are, which session they are in."""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

COOKIE_NAME = "opmaat"
MAX_COOKIE_CHARS = 400
# A cookie is signed again when the one the visitor has is older than this; until then the
# same value goes back (with a fresh Max-Age): signing is most of what a cookie costs.
RESIGN_SECONDS = 3600
VERIFIED_CACHE = 8192
# What itsdangerous writes: base64url, "." between parts. Anything else is not one of ours
# (its base64 decoding would skip stray characters, so they must not reach it or the cache).
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")
_SALT = "opmaat.visitor.v1"


def new_id(nbytes: int = 12) -> str:
    """A random URL-safe id (16 characters for the default 12 bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def first_cookie(header: str | None, name: str) -> str | None:
    """The first ``name`` cookie of a ``Cookie`` header. Browsers send the most specific one
    first (the longer path, then the older): a second cookie of the same name, planted by a
    sibling subdomain for the parent domain, does not replace the site's own."""
    if not header or name not in header:
        return None
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    return None


@dataclass(slots=True, init=False)
class Identity:
    """Who sent a request, as far as the cookie tells.

    ``issued`` is the unix time the cookie was last written; the edge rewrites it on every
    decision, so it doubles as "last seen" for the session timeout. ``fresh`` means the
    visitor had no usable cookie; ``rejected`` that one was sent but was bad. ``value``: the
    cookie it was read from.
    """

    # Final fields and a written __init__, not frozen=True: see engine.Decision.
    visitor_id: Final[str]
    session_id: Final[str]
    issued: Final[float]
    fresh: Final[bool]
    rejected: Final[bool]
    value: Final[str | None]

    def __init__(
        self,
        visitor_id: str,
        session_id: str,
        issued: float,
        fresh: bool = False,
        rejected: bool = False,
        value: str | None = None,
    ) -> None:
        self.visitor_id = visitor_id
        self.session_id = session_id
        self.issued = issued
        self.fresh = fresh
        self.rejected = rejected
        self.value = value


class CookieCodec:
    """Signs and verifies the visitor cookie; keys are newest first so they can be rotated."""

    def __init__(self, secret_keys: Sequence[str], *, max_age_days: int = 395) -> None:
        keys = [k for k in secret_keys if k]
        if not keys:
            raise ValueError("at least one secret key is needed to sign visitor cookies")
        # itsdangerous signs with the last key and verifies with all of them.
        self.secret_keys = tuple(keys)
        self._serializer = URLSafeTimedSerializer(list(reversed(keys)), salt=_SALT)
        self.max_age = max_age_days * 86400
        # Cookie values whose signature checked out: (visitor, session, issued). A value is
        # the same bytes every request of a visitor sends, so most requests skip the HMACs.
        # A plain dict, whose single operations are atomic (the middlewares run in threads).
        self._verified: dict[str, tuple[str, str, float]] = {}

    def dumps(self, visitor_id: str, session_id: str, current: Identity | None = None) -> str:
        """The cookie value for this visitor and session. ``current``: the identity this
        request came with; its own value is sent back while it is recent enough."""
        if (
            current is not None
            and current.value is not None
            and (current.visitor_id, current.session_id) == (visitor_id, session_id)
            and time.time() - current.issued < RESIGN_SECONDS
        ):
            return current.value
        value = self._serializer.dumps([visitor_id, session_id])
        return value if isinstance(value, str) else value.decode("ascii")

    def loads(self, value: str | None) -> Identity:
        """Identity from a cookie value; anything wrong with it gives a fresh visitor."""
        if not value:
            return self.fresh()
        if len(value) > MAX_COOKIE_CHARS:
            return self.fresh(rejected=True)
        # Only values that passed every check below are kept, so a known one needs no more.
        known = self._verified.get(value)
        if known is not None:
            visitor, session, issued = known
            if time.time() - issued <= self.max_age:
                return Identity(visitor, session, issued, value=value)
        if not _TOKEN.fullmatch(value):
            return self.fresh(rejected=True)
        try:
            payload, signed = self._serializer.loads(
                value, max_age=self.max_age, return_timestamp=True
            )
        except (BadData, UnicodeError, ValueError, TypeError):
            return self.fresh(rejected=True)
        if not (
            isinstance(payload, list)
            and len(payload) == 2
            and all(isinstance(p, str) and 0 < len(p) <= 32 for p in payload)
        ):
            return self.fresh(rejected=True)
        stamp = signed.timestamp()
        if len(self._verified) >= VERIFIED_CACHE:
            self._verified.clear()  # rarely: the next requests verify their cookies again
        self._verified[value] = (payload[0], payload[1], stamp)
        return Identity(payload[0], payload[1], stamp, value=value)

    @staticmethod
    def fresh(*, rejected: bool = False) -> Identity:
        return Identity(new_id(), new_id(6), time.time(), fresh=True, rejected=rejected)


class IdentifyProof:
    """The proof that the site's own server names a visitor's customer id: a timestamped
    signature with the edge's keys (salted apart from the cookie) over an unambiguous
    encoding of the id, which the server renders into the logged-in page for
    ``opmaat.identify(id, proof)``. Without it anyone could claim any customer id and read
    what the customer table says about that customer; a proof that leaks stops working after
    ``max_age`` seconds (a day by default).

    A proof is exactly ``<timestamp>.<signature>``, and what is signed is the id's length,
    then the id: a proof made for ``alice@example.com.evil.example`` cannot be cut into one
    for ``alice@example.com`` (v2 signed the bare id with "." between id and proof)."""

    _SALT = "opmaat.identify.v3"
    _PROOF = re.compile(r"[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]{16,86}")

    def __init__(self, secret_keys: Sequence[str], max_age: int = 86400) -> None:
        keys = [k for k in secret_keys if k]
        if not keys:
            raise ValueError("at least one secret key is needed to sign identify proofs")
        self._signer = TimestampSigner(list(reversed(keys)), salt=self._SALT)
        self.max_age = max_age

    @staticmethod
    def _subject(customer_id: str) -> str:
        return f"{len(customer_id)}:{customer_id}"

    def make(self, customer_id: str) -> str:
        subject = self._subject(customer_id)
        signed = self._signer.sign(subject).decode("utf-8")
        return signed[len(subject) + 1 :]  # "timestamp.signature"

    def check(self, customer_id: str, proof: object) -> bool:
        if not isinstance(proof, str) or not self._PROOF.fullmatch(proof):
            return False
        try:
            self._signer.unsign(f"{self._subject(customer_id)}.{proof}", max_age=self.max_age)
        except (BadData, UnicodeError, ValueError, TypeError):
            return False
        return True
