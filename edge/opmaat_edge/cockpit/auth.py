"""Who may use the marketing cockpit and the server-to-server API.

* Passwords: scrypt hashes (``scrypt$N$r$p$salt$hash``, base64url without padding) or a
  plain password from the environment, both checked in constant time.
* ``LoginThrottle``: wrong passwords per address and for the whole site.
* ``Sessions``: the signed session cookie (which sessions are live, the store knows: see
  live_sessions), the CSRF token bound to a session, and the login form's token bound to a
  short-lived nonce cookie (login CSRF).
* ``ApiKeys``: ``Authorization: Bearer <key>`` for the server-to-server API.

Nothing here logs, and no exception message carries a password, key, hash or token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections import deque
from collections.abc import Sequence

from cachetools import TTLCache
from itsdangerous import BadData, URLSafeTimedSerializer

from opmaat_edge.guard import address_key

# --- passwords ----------------------------------------------------------------------------

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16
MIN_PASSWORD = 8  # what the settings and `opmaat hash-password` accept for a new password
MAX_PASSWORD = 1024
# A stored hash may use other parameters than ours, but none that make one login take more
# than a few seconds: each parameter is capped, and so is their product (the work, and with
# n*r the memory: 128 * n * r bytes, at most 1 GiB; hashlib refuses more than 2 GiB anyway).
MAX_N = 2**20
MAX_R = 32
MAX_P = 16
MAX_WORK = 2**23  # n * r * p: 64 times ours
_SALT_SIZES = range(8, 65)
_HASH_SIZES = range(16, 65)
_WHOLE = re.compile(r"[1-9][0-9]{0,19}", re.ASCII)
_B64 = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError(f"the {what} is not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _password_bytes(password: str) -> bytes:
    if not isinstance(password, str):
        raise TypeError("a password must be a str")
    if not password:
        raise ValueError("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password is longer than {MAX_PASSWORD} characters")
    if "\x00" in password:
        # HMAC, under scrypt, pads its key with zero bytes: "pw" and "pw\0" would both match.
        raise ValueError("the password contains a NUL character")
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the password is not valid text (lone surrogates)") from None


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    if not isinstance(stored, str):
        raise ValueError("a password hash must be text")
    parts = stored.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            "a password hash must look like scrypt$16384$8$1$SALT$HASH "
            "(make one with opmaat_edge.cockpit.auth.hash_password)"
        )
    numbers: list[int] = []
    for name, text in zip(("N", "r", "p"), parts[1:4], strict=True):
        if not _WHOLE.fullmatch(text):
            raise ValueError(f"the password hash's scrypt {name} is not a positive whole number")
        numbers.append(int(text))
    n, r, p = numbers
    if n < 2 or n & (n - 1):
        raise ValueError("the password hash's scrypt N must be a power of 2 above 1")
    if n > MAX_N or r > MAX_R or p > MAX_P or n * r * p > MAX_WORK:
        raise ValueError(
            f"the password hash's scrypt parameters are too costly (at most N={MAX_N}, "
            f"r={MAX_R}, p={MAX_P}, N*r*p={MAX_WORK}; ours are {SCRYPT_N}, {SCRYPT_R}, {SCRYPT_P})"
        )
    salt = _b64decode(parts[4], "password hash's salt")
    digest = _b64decode(parts[5], "password hash's hash")
    if len(salt) not in _SALT_SIZES:
        raise ValueError("the password hash's salt must be 8 to 64 bytes")
    if len(digest) not in _HASH_SIZES:
        raise ValueError("the password hash's hash must be 16 to 64 bytes")
    return n, r, p, salt, digest


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The scrypt hash of ``password`` (N=2**14, r=8, p=1, 32 bytes), to store in settings."""
    if salt is None:
        salt = secrets.token_bytes(SALT_BYTES)
    if not isinstance(salt, bytes) or len(salt) not in _SALT_SIZES:
        raise ValueError("the salt must be 8 to 64 bytes")
    digest = _scrypt(_password_bytes(password), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64encode(salt)}${_b64encode(digest)}"


def parse_password_hash(stored: str) -> None:
    """Raise ``ValueError`` saying what is wrong if ``stored`` is not a hash we can check."""
    _parse(stored)


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the hash ``stored``; False, never an exception, for a
    malformed or too costly hash, a password that is not text, empty or too long."""
    try:
        n, r, p, salt, digest = _parse(stored)
        given = _password_bytes(password)
        computed = _scrypt(given, salt, n, r, p, len(digest))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(computed, digest)


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Passwords:
    """The cockpit's password: given in plain (``plain``), as a scrypt hash (``hashed``), or
    both (either is accepted). An empty plain password counts as not given."""

    __slots__ = ("_hashed", "_plain")

    def __init__(self, plain: str | None, hashed: str | None) -> None:
        if plain is not None and not isinstance(plain, str):
            raise ValueError("the plain password must be text")
        if plain and len(plain) > MAX_PASSWORD:
            raise ValueError(f"the plain password is longer than {MAX_PASSWORD} characters")
        if hashed is not None and not isinstance(hashed, str):
            raise ValueError("the password hash must be text")
        hashed = hashed.strip() if hashed else None
        if not plain and not hashed:
            raise ValueError("no cockpit password: give a plain password or a scrypt hash")
        if hashed:
            _parse(hashed)
        self._plain = _sha256(plain) if plain else None
        self._hashed = hashed or None

    def __repr__(self) -> str:
        return f"Passwords(plain={self._plain is not None}, hashed={self._hashed is not None})"

    def check(self, password: str) -> bool:
        if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD:
            return False
        ok = False
        if self._plain is not None:
            ok = hmac.compare_digest(_sha256(password), self._plain)
        if self._hashed is not None:
            ok = check_password(password, self._hashed) or ok
        return ok


# --- throttling -----------------------------------------------------------------------------

MAX_ADDRESSES = 100_000
MAX_TRUSTED = 1000
TRUST_SECONDS = 30 * 86400


class LoginThrottle:
    """Failed password attempts, per address and for the whole site.

    An address waits after ``max_failures`` failures within ``window_seconds``. While the whole
    site had more than ``global_per_minute`` failures in the last minute (guessing from many
    addresses), every address waits too, except those that logged in within
    ``trust_seconds``: many addresses guessing cannot lock out the people who use the cockpit
    from their usual places. One address adds at most ``max_failures`` failures per window to
    the site's count, which must be at most ``global_per_minute``: no address can set off the
    site-wide wait alone. At most ``max_addresses`` failing and ``max_trusted`` trusted
    addresses are remembered (the least recent dropped first). ``now`` is a
    ``time.monotonic()`` reading; pass it to control time in tests."""

    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 900,
        global_per_minute: int = 60,
        *,
        trust_seconds: float = TRUST_SECONDS,
        max_addresses: int = MAX_ADDRESSES,
        max_trusted: int = MAX_TRUSTED,
    ) -> None:
        if min(max_failures, global_per_minute, max_addresses, max_trusted) < 1:
            raise ValueError(
                "max_failures, global_per_minute, max_addresses and max_trusted must be >= 1"
            )
        if max_failures > global_per_minute:
            raise ValueError("max_failures must be at most global_per_minute")
        if not (window_seconds > 0 and trust_seconds > 0):
            raise ValueError("window_seconds and trust_seconds must be above 0")
        self.max_failures = max_failures
        self.window = float(window_seconds)
        self.global_per_minute = global_per_minute
        self._now = 0.0
        self._failures: TTLCache[str, deque[float]] = TTLCache(
            maxsize=max_addresses, ttl=self.window, timer=self._clock
        )
        self._trusted: TTLCache[str, bool] = TTLCache(
            maxsize=max_trusted, ttl=float(trust_seconds), timer=self._clock
        )
        # The latest global_per_minute + 1 failures anywhere: enough to tell "more than".
        self._recent: deque[float] = deque(maxlen=global_per_minute + 1)

    def _clock(self) -> float:
        return self._now

    def _tick(self, now: float | None) -> float:
        self._now = time.monotonic() if now is None else float(now)
        return self._now

    def wait(self, address: str, now: float | None = None) -> float | None:
        """Seconds this address must wait before trying again, or None."""
        now = self._tick(now)
        key = address_key(address)
        waits: list[float] = []
        times = self._failures.get(key)
        if times is not None and len(times) >= self.max_failures:
            waits.append(times[0] + self.window - now)
        if len(self._recent) > self.global_per_minute and key not in self._trusted:
            waits.append(self._recent[0] + 60.0 - now)
        longest = max(waits, default=0.0)
        return longest if longest > 0 else None

    def failed(self, address: str, now: float | None = None) -> None:
        """Count a wrong password from ``address``."""
        now = self._tick(now)
        key = address_key(address)
        times = self._failures.get(key)
        if times is None:
            times = deque(maxlen=self.max_failures)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.max_failures:
            self._recent.append(now)
        times.append(now)
        self._failures[key] = times  # (re)starts the entry's time to live

    def succeeded(self, address: str, now: float | None = None) -> None:
        """``address`` logged in: its failures are forgotten and it is trusted. The attempt
        counted as failed before the password was checked no longer counts anywhere."""
        self._tick(now)
        key = address_key(address)
        times = self._failures.pop(key, None)
        if times:
            with contextlib.suppress(ValueError):  # already pushed out of the site's count
                self._recent.remove(times[-1])
        self._trusted[key] = True


# --- sessions and CSRF ---------------------------------------------------------------------

SESSION_SALT = "opmaat.cockpit-session"
LOGIN_SALT = "opmaat.cockpit-login"
LOGIN_MAX_AGE = 3600
MAX_TOKEN = 512
_ID = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)  # secrets.token_urlsafe(32)
_CSRF_PURPOSE = b"opmaat.cockpit-csrf"


def _keys(keys: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(keys, str | bytes):
        raise ValueError(f"{what} must be a list of keys, not one string")
    found = tuple(keys)
    if not found or not all(isinstance(k, str) and k for k in found):
        raise ValueError(f"{what}: give one or more non-empty keys")
    return found


def _token_text(value: str | None) -> str | None:
    if not isinstance(value, str) or not value or len(value) > MAX_TOKEN or not value.isascii():
        return None
    return value


class Sessions:
    """The cockpit's session cookie and CSRF tokens, signed with ``secret_keys`` (newest
    first: the newest signs, all verify, so keys can be rotated)."""

    __slots__ = ("_csrf_keys", "_login", "_serializer", "login_max_age", "max_age")

    def __init__(
        self,
        secret_keys: Sequence[str],
        max_age: int = 8 * 3600,
        *,
        login_max_age: int = LOGIN_MAX_AGE,
    ) -> None:
        keys = _keys(secret_keys, "the cockpit's secret keys")
        if max_age < 1 or login_max_age < 1:
            raise ValueError("max_age and login_max_age must be at least 1 second")
        self.max_age = max_age
        self.login_max_age = login_max_age
        # itsdangerous signs with the last key of its list.
        oldest_first = list(reversed(keys))
        self._serializer = URLSafeTimedSerializer(oldest_first, salt=SESSION_SALT)
        self._login = URLSafeTimedSerializer(oldest_first, salt=LOGIN_SALT)
        self._csrf_keys = tuple(
            hmac.new(k.encode("utf-8", "surrogatepass"), _CSRF_PURPOSE, hashlib.sha256).digest()
            for k in keys
        )

    def __repr__(self) -> str:
        return f"Sessions(keys={len(self._csrf_keys)}, max_age={self.max_age})"

    @staticmethod
    def _dumps(serializer: URLSafeTimedSerializer, payload: str) -> str:
        value = serializer.dumps(payload)
        return value if isinstance(value, str) else value.decode("ascii")

    def issue(self) -> tuple[str, str]:
        """A new session: its random id, and the cookie's value that carries it signed."""
        session_id = secrets.token_urlsafe(32)
        return session_id, self._dumps(self._serializer, session_id)

    def check(self, value: str | None) -> str | None:
        """The session id in the cookie ``value``, or None if it is not one we issued within
        ``max_age`` seconds."""
        text = _token_text(value)
        if text is None:
            return None
        try:
            session_id = self._serializer.loads(text, max_age=self.max_age)
        except BadData:
            return None
        if not isinstance(session_id, str) or not _ID.fullmatch(session_id):
            return None
        return session_id

    def _csrf(self, key: bytes, session_id: str) -> bytes:
        mac = hmac.new(key, session_id.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return _b64encode(mac.digest()).encode("ascii")

    def csrf_token(self, session_id: str) -> str:
        """The token the session's forms carry (signed with the newest key)."""
        if not isinstance(session_id, str) or not session_id:
            raise ValueError("a CSRF token needs a session id")
        return self._csrf(self._csrf_keys[0], session_id).decode("ascii")

    def check_csrf(self, session_id: str, token: str | None) -> bool:
        text = _token_text(token)
        if text is None or not isinstance(session_id, str) or not session_id:
            return False
        given = text.encode("ascii")
        ok = False
        for key in self._csrf_keys:
            ok = hmac.compare_digest(self._csrf(key, session_id), given) or ok
        return ok

    def login_nonce(self) -> str:
        """A random value for the login form's short-lived cookie."""
        return secrets.token_urlsafe(32)

    def login_token(self, nonce: str) -> str:
        """The login form's hidden token, bound to ``nonce`` and valid ``login_max_age``."""
        if not isinstance(nonce, str) or not _ID.fullmatch(nonce):
            raise ValueError("a login token needs a nonce from login_nonce()")
        return self._dumps(self._login, nonce)

    def check_login_token(self, nonce: str | None, token: str | None) -> bool:
        text = _token_text(token)
        if text is None or not isinstance(nonce, str) or not _ID.fullmatch(nonce):
            return False
        try:
            signed = self._login.loads(text, max_age=self.login_max_age)
        except BadData:
            return False
        return isinstance(signed, str) and hmac.compare_digest(
            signed.encode("utf-8", "surrogatepass"), nonce.encode("ascii")
        )


# --- API keys ------------------------------------------------------------------------------

MIN_API_KEY = 24
MAX_API_KEY = 256
MAX_HEADER = 512
_VISIBLE = re.compile(r"[\x21-\x7e]+", re.ASCII)


class ApiKeys:
    """The server-to-server API's keys, sent as ``Authorization: Bearer <key>``. With no
    keys, nothing is accepted."""

    __slots__ = ("_digests",)

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str | bytes):
            raise ValueError("API keys must be a list of keys, not one string")
        digests: list[bytes] = []
        for number, key in enumerate(keys, 1):
            if not isinstance(key, str):
                raise ValueError(f"API key #{number} is not text")
            if not _VISIBLE.fullmatch(key):
                raise ValueError(
                    f"API key #{number} is empty or has spaces or non-ASCII characters"
                )
            if len(key) < MIN_API_KEY:
                raise ValueError(
                    f"API key #{number} is too short: at least {MIN_API_KEY} characters "
                    "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
            if len(key) > MAX_API_KEY:
                raise ValueError(f"API key #{number} is longer than {MAX_API_KEY} characters")
            digests.append(hashlib.sha256(key.encode("ascii")).digest())
        self._digests = tuple(digests)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._digests)} keys)"

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, header_value: str | None) -> bool:
        """Whether the ``Authorization`` header's value is ``Bearer`` and one of the keys."""
        if not isinstance(header_value, str) or len(header_value) > MAX_HEADER:
            return False
        if not header_value.isascii():
            return False
        parts = header_value.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return False
        credential = parts[1].strip()
        if not _VISIBLE.fullmatch(credential):
            return False
        given = hashlib.sha256(credential.encode("ascii")).digest()
        ok = False
        for digest in self._digests:
            ok = hmac.compare_digest(given, digest) or ok
        return ok
