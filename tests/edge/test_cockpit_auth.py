"""The cockpit's and the server-to-server API's authentication: password hashes, the login
throttle, the session cookie and its CSRF tokens, the login form's token, and API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer, timed

from opmaat_edge.cockpit import auth
from opmaat_edge.cockpit.auth import (
    ApiKeys,
    LoginThrottle,
    Passwords,
    Sessions,
    check_password,
    hash_password,
    parse_password_hash,
)

PASSWORD = "correct horse battery staple"
SALT = bytes(range(16))
KEY = "new-signing-key-0123456789abcdef"
OLD_KEY = "old-signing-key-9876543210fedcba"
API_KEY = "api-key-0123456789abcdefghijklmnop"
API_KEY_2 = "second-api-key-ZYXWVUTSRQPONMLKJIH"
ID = re.compile(r"[A-Za-z0-9_-]{43}")
T0 = 1_700_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def scrypt_hash(n: int, r: int, p: int, password: str = PASSWORD, salt: bytes = SALT) -> str:
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024
    )
    return f"scrypt${n}${r}${p}${b64(salt)}${b64(digest)}"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD, salt=SALT)


class Clock:
    """Stands in for the ``time`` module inside itsdangerous.timed."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr(timed, "time", fake)
    return fake


@pytest.fixture
def digests_compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Every pair given to hmac.compare_digest (which still does the comparing)."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module auth uses
    return calls


# --- password hashes ----------------------------------------------------------------------


def test_hash_is_scrypt_with_the_documented_parameters_and_encoding() -> None:
    made = hash_password(PASSWORD, salt=SALT)
    expected = hashlib.scrypt(PASSWORD.encode(), salt=SALT, n=2**14, r=8, p=1, dklen=32)
    assert made == f"scrypt$16384$8$1${b64(SALT)}${b64(expected)}"
    assert "=" not in made


def test_hash_round_trip_and_random_salt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second  # a fresh salt each time
    assert re.fullmatch(r"scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}", first)
    assert check_password(PASSWORD, first)
    assert check_password(PASSWORD, second)
    parse_password_hash(first)


def test_unicode_password_round_trip() -> None:
    made = hash_password("wachtwoord-ĳsvrij-🔑", salt=SALT)
    assert check_password("wachtwoord-ĳsvrij-🔑", made)
    assert not check_password("wachtwoord-ijsvrij-🔑", made)


@pytest.mark.parametrize(
    "wrong",
    [
        PASSWORD.upper(),
        PASSWORD[:-1],
        PASSWORD + " ",
        " " + PASSWORD,
        PASSWORD + "\x00",
        "",
        "x",
    ],
)
def test_wrong_password_refused(stored: str, wrong: str) -> None:
    assert check_password(PASSWORD, stored)
    assert not check_password(wrong, stored)


@pytest.mark.parametrize("given", [None, b"correct horse battery staple", 42, ["x"]])
def test_password_that_is_not_text_is_false_not_an_error(stored: str, given: Any) -> None:
    assert check_password(given, stored) is False


@pytest.mark.parametrize("given", [None, b"scrypt$16384$8$1$AAAA$AAAA", 42])
def test_stored_hash_that_is_not_text_is_false_not_an_error(given: Any) -> None:
    assert check_password(PASSWORD, given) is False
    with pytest.raises(ValueError, match="text"):
        parse_password_hash(given)


def test_passwords_over_1024_characters() -> None:
    longest = "p" * 1024
    made = hash_password(longest, salt=SALT)
    assert check_password(longest, made)
    assert not check_password(longest + "p", made)
    with pytest.raises(ValueError, match="1024") as caught:
        hash_password(longest + "p")
    assert longest not in str(caught.value)


def test_empty_and_unencodable_passwords() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")
    with pytest.raises(ValueError, match="surrogate"):
        hash_password("abc\ud800")
    assert not check_password("abc\ud800", hash_password("abc", salt=SALT))


@pytest.mark.parametrize("salt", [b"", b"short", b"x" * 65])
def test_hash_refuses_a_bad_salt(salt: bytes) -> None:
    with pytest.raises(ValueError, match="salt"):
        hash_password(PASSWORD, salt=salt)


def test_parameters_are_read_from_the_stored_hash() -> None:
    cheaper = scrypt_hash(2**10, 4, 2)
    parse_password_hash(cheaper)
    assert check_password(PASSWORD, cheaper)
    assert not check_password("nope", cheaper)
    # The same salt and hash with other parameters no longer match.
    assert not check_password(PASSWORD, cheaper.replace("$1024$4$2$", "$1024$4$1$"))


def test_surrounding_whitespace_of_a_stored_hash_is_tolerated(stored: str) -> None:
    assert check_password(PASSWORD, f"  {stored}\n")


def _malformed(stored: str) -> dict[str, str]:
    scheme, n, r, p, salt, digest = stored.split("$")
    good = {"scheme": scheme, "n": n, "r": r, "p": p, "salt": salt, "digest": digest}

    def make(**bad: str) -> str:
        parts = {**good, **bad}
        return "$".join(parts[k] for k in ("scheme", "n", "r", "p", "salt", "digest"))

    return {
        "empty": "",
        "only-scheme": "scrypt",
        "missing-part": "$".join([scheme, n, r, p, salt]),
        "extra-part": stored + "$AAAA",
        "other-scheme": make(scheme="pbkdf2"),
        "scheme-case": make(scheme="SCRYPT"),
        "n-not-number": make(n="abc"),
        "n-signed": make(n="+16384"),
        "n-zero-padded": make(n="016384"),
        "n-unicode-digits": make(n="١٦٣٨٤"),
        "n-not-power-of-two": make(n="16383"),
        "n-one": make(n="1"),
        "n-empty": make(n=""),
        "r-zero": make(r="0"),
        "r-negative": make(r="-8"),
        "r-float": make(r="8.0"),
        "p-empty": make(p=""),
        "p-zero": make(p="0"),
        "salt-empty": make(salt=""),
        "salt-not-base64": make(salt="!!!!" + salt[4:]),
        "salt-padded": make(salt=salt + "=="),
        "salt-standard-alphabet": make(salt="+/" + salt[2:]),
        "salt-too-short": make(salt=b64(b"1234567")),
        "salt-impossible-length": make(salt=salt + "AAA"),
        "hash-empty": make(digest=""),
        "hash-not-base64": make(digest="$" + digest[1:]),
        "hash-padded": make(digest=digest + "="),
        "hash-impossible-length": make(digest=digest[:-2]),
        "hash-too-short": make(digest=b64(b"x" * 15)),
        "hash-too-long": make(digest=b64(b"x" * 65)),
        "space-inside": make(n="16384 "),
    }


MALFORMED = _malformed(hash_password(PASSWORD, salt=SALT))


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_hash_is_false_for_check_and_explained_by_parse(name: str) -> None:
    bad = MALFORMED[name]
    assert check_password(PASSWORD, bad) is False
    with pytest.raises(ValueError, match=r"\S") as caught:
        parse_password_hash(bad)
    message = str(caught.value)
    assert "hash" in message  # says what is wrong with what
    for part in bad.split("$")[4:]:  # never echoes the salt or the hash
        assert len(part) < 8 or part not in message


def test_nul_characters_are_refused() -> None:
    # Under scrypt, HMAC pads the password with zero bytes: "pw" and "pw\0" hash alike.
    assert not check_password(PASSWORD + "\x00", hash_password(PASSWORD, salt=SALT))
    assert not Passwords(None, hash_password(PASSWORD, salt=SALT)).check(PASSWORD + "\x00")
    with pytest.raises(ValueError, match="NUL"):
        hash_password(PASSWORD + "\x00")


@pytest.mark.parametrize(
    ("n", "r", "p"),
    [
        (2**21, 8, 1),  # N over 2**20
        (2**21, 1, 1),  # N over 2**20, even when N*r*p is small
        (2**40, 8, 1),
        (2**14, 33, 1),  # r over 32
        (2**14, 8, 17),  # p over 16
        (2**14, 8, 10**9),
        (2**20, 32, 1),  # each allowed, together 4 GiB and minutes
        (2**20, 8, 16),
    ],
)
def test_absurd_parameters_are_refused_quickly(n: int, r: int, p: int) -> None:
    bad = f"scrypt${n}${r}${p}${b64(SALT)}${b64(bytes(32))}"
    started = time.perf_counter()
    assert check_password(PASSWORD, bad) is False
    assert time.perf_counter() - started < 0.05
    with pytest.raises(ValueError, match="too costly"):
        parse_password_hash(bad)


# --- Passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize(("plain", "hashed"), [(None, None), ("", None), ("", ""), (None, " ")])
def test_passwords_need_one(plain: str | None, hashed: str | None) -> None:
    with pytest.raises(ValueError, match="no cockpit password"):
        Passwords(plain, hashed)


def test_passwords_plain(digests_compared: list[tuple[Any, Any]]) -> None:
    passwords = Passwords(PASSWORD, None)
    assert passwords.check(PASSWORD)
    for wrong in ("", "c", PASSWORD[:-1], PASSWORD + "x", PASSWORD * 3, PASSWORD.upper()):
        assert not passwords.check(wrong)
    # Both sides are hashed first: the comparison never sees the lengths of either.
    assert digests_compared
    assert all(len(a) == len(b) == 32 for a, b in digests_compared)
    assert all(PASSWORD.encode() not in (a, b) for a, b in digests_compared)


def test_passwords_hashed(stored: str) -> None:
    passwords = Passwords(None, stored)
    assert passwords.check(PASSWORD)
    assert not passwords.check(PASSWORD + "x")
    # The hash itself is not a password.
    assert not passwords.check(stored)


def test_passwords_both_accept_either(stored: str) -> None:
    passwords = Passwords("another plain password", stored)
    assert passwords.check("another plain password")
    assert passwords.check(PASSWORD)
    assert not passwords.check("neither")


@pytest.mark.parametrize("given", [None, b"x", 1, "p" * 1025])
def test_passwords_check_odd_input(given: Any) -> None:
    assert Passwords(PASSWORD, None).check(given) is False


def test_passwords_refuse_bad_settings_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="1024") as caught:
        Passwords("s3cret" * 200, None)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ValueError, match="scrypt"):
        Passwords(None, "s3cret-not-a-hash")
    passwords = Passwords("s3cret-plain", hash_password("s3cret-hashed", salt=SALT))
    assert "s3cret" not in repr(passwords)


# --- LoginThrottle -------------------------------------------------------------------------


def test_throttle_after_max_failures_within_the_window() -> None:
    throttle = LoginThrottle(max_failures=3, window_seconds=100, global_per_minute=1000)
    throttle.failed("1.2.3.4", now=0)
    throttle.failed("1.2.3.4", now=10)
    assert throttle.wait("1.2.3.4", now=20) is None
    throttle.failed("1.2.3.4", now=20)
    assert throttle.wait("1.2.3.4", now=20) == pytest.approx(80)  # until the first is old
    assert throttle.wait("1.2.3.4", now=99.5) == pytest.approx(0.5)
    assert throttle.wait("5.6.7.8", now=20) is None  # another address is not held up
    # At 100 the first failure has left the window: two failures, so no wait.
    assert throttle.wait("1.2.3.4", now=100) is None
    throttle.failed("1.2.3.4", now=100)
    assert throttle.wait("1.2.3.4", now=100) == pytest.approx(10)  # until 10 + 100


def test_throttle_old_failures_do_not_count() -> None:
    throttle = LoginThrottle(max_failures=3, window_seconds=100, global_per_minute=1000)
    throttle.failed("a", now=0)
    throttle.failed("a", now=1)
    throttle.failed("a", now=150)
    throttle.failed("a", now=160)
    assert throttle.wait("a", now=160) is None
    throttle.failed("a", now=170)
    assert throttle.wait("a", now=170) == pytest.approx(80)


def test_throttle_success_clears_the_address() -> None:
    throttle = LoginThrottle(max_failures=2, window_seconds=100, global_per_minute=1000)
    for address in ("a", "b"):
        throttle.failed(address, now=0)
        throttle.failed(address, now=1)
    assert throttle.wait("a", now=2) is not None
    throttle.succeeded("a", now=2)
    assert throttle.wait("a", now=2) is None
    assert throttle.wait("b", now=2) is not None
    throttle.failed("a", now=3)
    assert throttle.wait("a", now=3) is None  # counting starts again
    throttle.succeeded("never-seen")  # no error


def test_a_login_that_succeeds_is_no_failure_for_the_site() -> None:
    throttle = LoginThrottle(max_failures=1, window_seconds=100, global_per_minute=1)
    throttle.failed("a", now=0)  # counted before the password is checked
    throttle.succeeded("a", now=0)
    throttle.failed("b", now=1)
    assert throttle.wait("c", now=2) is None  # one failure, not more than one


def test_throttle_global_limit() -> None:
    throttle = LoginThrottle(max_failures=5, window_seconds=900, global_per_minute=10)
    for i in range(10):
        throttle.failed(f"10.0.0.{i}", now=100 + i)
    assert throttle.wait("10.9.9.9", now=110) is None  # 10 is not more than 10
    throttle.failed("10.0.0.99", now=110)
    assert throttle.wait("10.9.9.9", now=110) == pytest.approx(50)  # until 100 + 60
    assert throttle.wait("10.0.0.1", now=159) == pytest.approx(1)
    assert throttle.wait("10.9.9.9", now=160) is None


def test_one_address_adds_at_most_max_failures_to_the_site_count() -> None:
    throttle = LoginThrottle(max_failures=5, window_seconds=900, global_per_minute=10)
    for second in range(100):  # even without waiting in between
        throttle.failed("198.51.100.7", now=second / 10)
    assert throttle.wait("198.51.100.7", now=10) is not None
    assert throttle.wait("203.0.113.1", now=10) is None  # nobody else waits
    for i in range(6):  # five more addresses than that one: more than 10 in the minute
        throttle.failed(f"203.0.113.{i + 10}", now=11)
    assert throttle.wait("203.0.113.1", now=11) == pytest.approx(49)  # until 0 + 60
    # Past the address's window it counts again, at most five times.
    for _ in range(20):
        throttle.failed("198.51.100.7", now=1000)
    assert len([t for t in throttle._recent if t == 1000]) == 5


def test_addresses_that_logged_in_are_not_held_by_the_site_wide_wait() -> None:
    throttle = LoginThrottle(
        max_failures=2, window_seconds=300, global_per_minute=10, trust_seconds=3600
    )
    throttle.succeeded("192.0.2.1", now=0)
    throttle.succeeded("2001:db8:5:6::1", now=0)
    for i in range(11):
        throttle.failed(f"10.0.0.{i}", now=100)
    assert throttle.wait("10.9.9.9", now=100) == pytest.approx(60)  # a new address waits
    assert throttle.wait("192.0.2.1", now=100) is None
    assert throttle.wait("2001:db8:5:6:abcd::2", now=100) is None  # the same /64
    # Trusted is not exempt from its own limit.
    throttle.failed("192.0.2.1", now=101)
    throttle.failed("192.0.2.1", now=101)
    assert throttle.wait("192.0.2.1", now=102) == pytest.approx(299)
    # Trust ends trust_seconds after the login.
    for i in range(11):
        throttle.failed(f"10.0.2.{i}", now=3601)
    assert throttle.wait("2001:db8:5:6::1", now=3601) == pytest.approx(60)


def test_throttle_reports_the_longer_of_both_waits() -> None:
    throttle = LoginThrottle(max_failures=2, window_seconds=300, global_per_minute=2)
    throttle.failed("a", now=0)
    throttle.failed("a", now=0)
    throttle.failed("b", now=30)
    assert throttle.wait("a", now=30) == pytest.approx(270)
    assert throttle.wait("c", now=30) == pytest.approx(30)


def test_throttle_counts_an_ipv6_64_as_one_address() -> None:
    throttle = LoginThrottle(max_failures=3, window_seconds=100, global_per_minute=1000)
    for host in ("1", "2", "3"):
        throttle.failed(f"2001:db8:1:2::{host}", now=0)
    assert throttle.wait("2001:db8:1:2:ffff::9", now=1) is not None
    assert throttle.wait("2001:db8:1:3::1", now=1) is None


def test_throttle_memory_is_bounded() -> None:
    assert LoginThrottle()._failures.maxsize == 100_000
    assert LoginThrottle()._trusted.maxsize == 1000
    trusting = LoginThrottle(max_trusted=2)
    for i in range(5):
        trusting.succeeded(f"192.0.2.{i}", now=i)
    assert list(trusting._trusted) == ["192.0.2.3", "192.0.2.4"]
    throttle = LoginThrottle(max_failures=1, window_seconds=100, max_addresses=3)
    for i in range(10):
        throttle.failed(f"192.0.2.{i}", now=i)
    assert len(throttle._failures) == 3
    assert throttle.wait("192.0.2.0", now=10) is None  # forgotten
    assert throttle.wait("192.0.2.9", now=10) is not None
    throttle.failed("x" * 10_000, now=11)
    assert all(len(key) <= 64 for key in throttle._failures)


def test_throttle_entries_expire_after_the_window() -> None:
    throttle = LoginThrottle(max_failures=2, window_seconds=100, global_per_minute=1000)
    throttle.failed("a", now=0)
    throttle.failed("b", now=50)
    assert throttle.wait("a", now=101) is None
    throttle.failed("c", now=101)  # any write expires what is older than the window
    assert "a" not in throttle._failures
    assert "b" in throttle._failures


def test_throttle_uses_the_monotonic_clock_by_default() -> None:
    throttle = LoginThrottle(max_failures=2, window_seconds=60)
    throttle.failed("a")
    throttle.failed("a")
    waited = throttle.wait("a")
    assert waited is not None
    assert 59 < waited <= 60


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_failures": 0},
        {"window_seconds": 0},
        {"window_seconds": -1},
        {"global_per_minute": 0},
        {"max_addresses": 0},
        {"max_trusted": 0},
        {"trust_seconds": 0},
        # One address alone could then set off the site-wide wait.
        {"max_failures": 11, "global_per_minute": 10},
    ],
)
def test_throttle_refuses_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LoginThrottle(**kwargs)


# --- Sessions -----------------------------------------------------------------------------


def _flip(value: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    char = value[index]
    # XOR 32 changes the top bit of the six a character carries, never only padding bits.
    other = alphabet[alphabet.index(char) ^ 32] if char in alphabet else "A"
    return value[:index] + other + value[index + 1 :]


def test_session_round_trip() -> None:
    sessions = Sessions([KEY])
    issued, value = sessions.issue()
    session_id = sessions.check(value)
    assert session_id == issued
    assert ID.fullmatch(session_id)
    assert session_id not in (sessions.check(sessions.issue()[1]), None)  # fresh ids
    assert len(value) < 512


def test_session_tampering_anywhere_is_refused() -> None:
    sessions = Sessions([KEY])
    _, value = sessions.issue()
    for index in range(len(value)):
        assert sessions.check(_flip(value, index)) is None, index
    assert sessions.check(value + "A") is None
    assert sessions.check(value[:-1]) is None


def test_session_from_another_key_or_purpose_is_refused() -> None:
    _, value = Sessions(["somebody-elses-key-0123456789"]).issue()
    assert Sessions([KEY]).check(value) is None
    # Same key, other salt: a token signed for something else is not a session.
    other = URLSafeTimedSerializer(KEY, salt="opmaat.privacy-form").dumps("a" * 43)
    assert Sessions([KEY]).check(other) is None
    same = URLSafeTimedSerializer(KEY, salt="opmaat.cockpit-session").dumps("a" * 43)
    assert Sessions([KEY]).check(same) == "a" * 43  # (the salt is the one documented)


@pytest.mark.parametrize("payload", [12345, ["a" * 43], {"id": "a" * 43}, None, "short", "a" * 44])
def test_session_payload_of_the_wrong_type_or_shape_is_refused(payload: Any) -> None:
    value = URLSafeTimedSerializer(KEY, salt="opmaat.cockpit-session").dumps(payload)
    assert Sessions([KEY]).check(value) is None


@pytest.mark.parametrize("value", [None, "", "é" + "a" * 40, 42, b"abc"])
def test_session_check_odd_values(value: Any) -> None:
    assert Sessions([KEY]).check(value) is None


def test_session_too_long_is_refused_before_verifying(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions([KEY])
    verified: list[str] = []
    real = sessions._serializer.loads

    def spy(value: str, **kwargs: Any) -> Any:
        verified.append(value)
        return real(value, **kwargs)

    monkeypatch.setattr(sessions._serializer, "loads", spy)
    _, value = sessions.issue()
    assert sessions.check(value.ljust(513, "A")) is None
    assert verified == []
    assert sessions.check(value) is not None
    assert verified == [value]


def test_session_expiry(clock: Clock) -> None:
    sessions = Sessions([KEY], max_age=3600)
    _, value = sessions.issue()
    clock.now = T0 + 3599
    assert sessions.check(value) is not None
    clock.now = T0 + 3601
    assert sessions.check(value) is None
    clock.now = T0 - 5  # signed in the future: refused too
    assert sessions.check(value) is None


def test_session_default_lifetime_is_eight_hours(clock: Clock) -> None:
    sessions = Sessions([KEY])
    _, value = sessions.issue()
    clock.now = T0 + 8 * 3600 - 1
    assert sessions.check(value) is not None
    clock.now = T0 + 8 * 3600 + 1
    assert sessions.check(value) is None


def test_session_key_rotation() -> None:
    old = Sessions([OLD_KEY])
    rotated = Sessions([KEY, OLD_KEY])
    new_only = Sessions([KEY])
    _, before = old.issue()
    assert rotated.check(before) == old.check(before) is not None
    _, after = rotated.issue()
    assert new_only.check(after) is not None  # the newest key signs
    assert old.check(after) is None
    assert new_only.check(before) is None  # a key taken out is out


@pytest.mark.parametrize(
    ("keys", "word"),
    [("one-long-key-as-a-string", "not one string"), ([], "one or more"), ([KEY, ""], "one")],
)
def test_sessions_refuse_bad_keys(keys: Any, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        Sessions(keys)


def test_sessions_refuse_bad_max_age() -> None:
    with pytest.raises(ValueError, match="max_age"):
        Sessions([KEY], max_age=0)


def test_sessions_repr_hides_the_keys() -> None:
    assert KEY not in repr(Sessions([KEY, OLD_KEY]))


# --- CSRF -----------------------------------------------------------------------------------


def test_csrf_round_trip_and_shape() -> None:
    sessions = Sessions([KEY])
    session_id = sessions.check(sessions.issue()[1])
    assert session_id is not None
    token = sessions.csrf_token(session_id)
    assert ID.fullmatch(token)  # urlsafe, 32 bytes
    assert token == sessions.csrf_token(session_id)  # stable for the session
    assert sessions.check_csrf(session_id, token)


def test_csrf_is_bound_to_the_session_and_the_key() -> None:
    sessions = Sessions([KEY])
    mine, theirs = "a" * 43, "b" * 43
    assert not sessions.check_csrf(mine, sessions.csrf_token(theirs))
    assert not Sessions(["somebody-elses-key-0123456789"]).check_csrf(
        mine, sessions.csrf_token(mine)
    )
    # Not a plain HMAC with the signing key itself: the CSRF key is derived from it.
    raw = hmac.new(KEY.encode(), mine.encode(), hashlib.sha256).digest()
    assert sessions.csrf_token(mine) != b64(raw)


def test_csrf_tampering_is_refused() -> None:
    sessions = Sessions([KEY])
    token = sessions.csrf_token("a" * 43)
    for index in range(len(token)):
        assert not sessions.check_csrf("a" * 43, _flip(token, index)), index
    assert not sessions.check_csrf("a" * 43, token[:-1])
    assert not sessions.check_csrf("a" * 43, token + "A")


@pytest.mark.parametrize("token", [None, "", "é" * 43, "A" * 513, 42])
def test_csrf_odd_tokens(token: Any) -> None:
    assert Sessions([KEY]).check_csrf("a" * 43, token) is False


def test_csrf_needs_a_session() -> None:
    sessions = Sessions([KEY])
    with pytest.raises(ValueError, match="session id"):
        sessions.csrf_token("")
    assert not sessions.check_csrf("", sessions.csrf_token("a"))


def test_csrf_key_rotation() -> None:
    old = Sessions([OLD_KEY])
    rotated = Sessions([KEY, OLD_KEY])
    session_id = "s" * 43
    assert rotated.check_csrf(session_id, old.csrf_token(session_id))
    assert rotated.csrf_token(session_id) == Sessions([KEY]).csrf_token(session_id)
    assert not old.check_csrf(session_id, rotated.csrf_token(session_id))


def test_csrf_compares_every_key_in_constant_time(
    digests_compared: list[tuple[Any, Any]],
) -> None:
    sessions = Sessions([KEY, OLD_KEY, "third-key-0123456789abcdef"])
    token = sessions.csrf_token("a" * 43)
    assert sessions.check_csrf("a" * 43, token)
    assert len(digests_compared) == 3  # no early exit after the first (newest) key matched


# --- login form token ---------------------------------------------------------------------


def test_login_token_bound_to_its_nonce() -> None:
    sessions = Sessions([KEY])
    nonce, other = sessions.login_nonce(), sessions.login_nonce()
    assert ID.fullmatch(nonce)
    assert nonce != other
    token = sessions.login_token(nonce)
    assert sessions.check_login_token(nonce, token)
    assert not sessions.check_login_token(other, token)
    assert not sessions.check_login_token(nonce, sessions.login_token(other))
    assert not Sessions(["somebody-elses-key-0123456789"]).check_login_token(nonce, token)


@pytest.mark.parametrize(
    ("nonce", "token"),
    [(None, "t"), ("n", None), (None, None), ("", ""), ("short", "x"), ("a" * 43, "é")],
)
def test_login_token_odd_values(nonce: Any, token: Any) -> None:
    assert Sessions([KEY]).check_login_token(nonce, token) is False


def test_login_token_missing_nonce_cookie_is_refused() -> None:
    sessions = Sessions([KEY])
    token = sessions.login_token(sessions.login_nonce())
    assert not sessions.check_login_token(None, token)
    assert not sessions.check_login_token("", token)


def test_login_token_tampering_is_refused() -> None:
    sessions = Sessions([KEY])
    nonce = sessions.login_nonce()
    token = sessions.login_token(nonce)
    for index in range(len(token)):
        assert not sessions.check_login_token(nonce, _flip(token, index)), index


def test_login_token_and_session_cookie_are_not_interchangeable() -> None:
    sessions = Sessions([KEY])
    nonce = sessions.login_nonce()
    token = sessions.login_token(nonce)
    assert sessions.check(token) is None  # a login token is no session
    _, cookie = sessions.issue()
    session_id = sessions.check(cookie)
    assert session_id is not None
    assert not sessions.check_login_token(session_id, cookie)


def test_login_token_needs_a_nonce_from_login_nonce() -> None:
    with pytest.raises(ValueError, match="login_nonce"):
        Sessions([KEY]).login_token("chosen-by-someone")


def test_login_token_expires(clock: Clock) -> None:
    sessions = Sessions([KEY], login_max_age=600)
    nonce = sessions.login_nonce()
    token = sessions.login_token(nonce)
    clock.now = T0 + 599
    assert sessions.check_login_token(nonce, token)
    clock.now = T0 + 601
    assert not sessions.check_login_token(nonce, token)


def test_login_token_key_rotation() -> None:
    old = Sessions([OLD_KEY])
    nonce = old.login_nonce()
    assert Sessions([KEY, OLD_KEY]).check_login_token(nonce, old.login_token(nonce))
    assert not Sessions([KEY]).check_login_token(nonce, old.login_token(nonce))


# --- API keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {API_KEY}",
        f"bearer {API_KEY}",
        f"BEARER {API_KEY}",
        f"BeArEr {API_KEY}",
        f"  Bearer   {API_KEY}  ",
        f"Bearer\t{API_KEY}",
        f"Bearer {API_KEY}\r\n",
        f"Bearer {API_KEY_2}",
    ],
)
def test_api_key_accepted(header: str) -> None:
    assert ApiKeys([API_KEY, API_KEY_2]).check(header) is True


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        API_KEY,
        f"Bearer{API_KEY}",
        f"Basic {API_KEY}",
        f"Token {API_KEY}",
        f"Bearer: {API_KEY}",
        f"Bearer Bearer {API_KEY}",
        f"Bearer {API_KEY} {API_KEY}",
        f"Bearer {API_KEY}x",
        f"Bearer {API_KEY[:-1]}",
        f"Bearer {API_KEY.upper()}",
        f"Bearer {API_KEY}\x00",
        f"Bearer {API_KEY}é",
        f"Bearér {API_KEY}",
        f"Bearer {API_KEY}".ljust(513),  # over-long, even if the key inside is right
        f"Bearer {'A' * 10_000}",
        "Bearer another-key-0123456789abcdefghijkl",
    ],
)
def test_api_key_refused(header: str | None) -> None:
    assert ApiKeys([API_KEY, API_KEY_2]).check(header) is False


@pytest.mark.parametrize("header", [b"Bearer " + API_KEY.encode(), 42, [f"Bearer {API_KEY}"]])
def test_api_key_header_that_is_not_text(header: Any) -> None:
    assert ApiKeys([API_KEY]).check(header) is False


def test_api_key_at_the_length_limit() -> None:
    key = "k" * (512 - len("Bearer "))
    with pytest.raises(ValueError, match="longer"):
        ApiKeys([key])
    longest = "k" * 256
    assert ApiKeys([longest]).check(f"Bearer {longest}")


def test_no_api_keys_accept_nothing() -> None:
    keys = ApiKeys([])
    assert len(keys) == 0
    assert not keys.check(f"Bearer {API_KEY}")
    assert not keys.check("Bearer ")


@pytest.mark.parametrize(
    ("key", "word"),
    [
        ("short-key-23-characters", "too short"),
        ("", "empty"),
        ("a" * 20 + " " + "b" * 20, "spaces"),
        ("ключ-" + "k" * 30, "non-ASCII"),
        ("k" * 257, "longer"),
    ],
)
def test_bad_api_keys_refused_without_echoing_them(key: str, word: str) -> None:
    with pytest.raises(ValueError, match=word) as caught:
        ApiKeys([API_KEY, key])
    assert "#2" in str(caught.value)
    assert not key or key not in str(caught.value)
    assert "short-key" not in str(caught.value)


def test_api_keys_of_24_characters_are_enough() -> None:
    key = "k" * 24
    assert ApiKeys([key]).check(f"Bearer {key}")


@pytest.mark.parametrize("keys", [API_KEY, API_KEY.encode(), [API_KEY, 42]])
def test_api_keys_must_be_a_list_of_text(keys: Any) -> None:
    with pytest.raises(ValueError, match="API key"):
        ApiKeys(keys)


def test_api_keys_compare_equal_length_digests_against_every_key(
    digests_compared: list[tuple[Any, Any]],
) -> None:
    keys = ApiKeys([API_KEY, API_KEY_2, "k" * 200])
    assert keys.check(f"Bearer {API_KEY}")
    assert len(digests_compared) == 3  # the match on the first key does not stop the loop
    assert keys.check("Bearer x") is False
    assert all(len(a) == len(b) == 32 for a, b in digests_compared)
    assert all(API_KEY.encode() not in (a, b) for a, b in digests_compared)


def test_api_keys_repr_hides_the_keys() -> None:
    assert API_KEY not in repr(ApiKeys([API_KEY]))


# --- nothing is logged ------------------------------------------------------------------------


def _everything() -> Iterator[Callable[[], object]]:
    sessions = Sessions([KEY, OLD_KEY])
    nonce = sessions.login_nonce()
    throttle = LoginThrottle(max_failures=1)
    yield lambda: check_password(PASSWORD, hash_password(PASSWORD, salt=SALT))
    yield lambda: check_password(PASSWORD, "scrypt$bad")
    yield lambda: Passwords(PASSWORD, None).check("wrong")
    yield lambda: sessions.check(sessions.issue()[1] + "x")
    yield lambda: sessions.check_csrf("a" * 43, "bad")
    yield lambda: sessions.check_login_token(nonce, sessions.login_token(nonce) + "x")
    yield lambda: ApiKeys([API_KEY]).check(f"Bearer {API_KEY}x")

    def throttled() -> object:
        throttle.failed("a")
        return throttle.wait("a")

    yield throttled


def test_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for action in _everything():
        action()
    assert caplog.records == []
    assert "logging" not in vars(auth)
