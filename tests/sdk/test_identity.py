from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from opmaat.identity import COOKIE_NAME, CookieCodec

KEY_OLD = "old-key-0123456789abcdef"
KEY_NEW = "new-key-0123456789abcdef"


def test_round_trip_and_small() -> None:
    codec = CookieCodec([KEY_NEW])
    value = codec.dumps("v" * 16, "s" * 8)
    ident = codec.loads(value)
    assert (ident.visitor_id, ident.session_id, ident.fresh) == ("v" * 16, "s" * 8, False)
    # The whole Set-Cookie pair stays well under 200 bytes.
    assert len(f"{COOKIE_NAME}={value}") < 120


def test_rotation_keeps_visitors_signed_with_the_old_key() -> None:
    old = CookieCodec([KEY_OLD]).dumps("visitor-1", "session-1")
    rotated = CookieCodec([KEY_NEW, KEY_OLD])
    assert rotated.loads(old).visitor_id == "visitor-1"
    # New cookies are signed with the newest key only.
    assert CookieCodec([KEY_NEW]).loads(rotated.dumps("a", "b")).visitor_id == "a"
    assert CookieCodec([KEY_OLD]).loads(rotated.dumps("a", "b")).rejected


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "a.b.c",
        "x" * 5000,
        "\u00e9\u00e9\u00e9.\u2603",
        "W10.AAAA.BBBB",
    ],
)
def test_bad_cookies_start_a_fresh_visitor(value: str) -> None:
    ident = CookieCodec([KEY_NEW]).loads(value)
    assert ident.fresh
    assert ident.rejected
    assert len(ident.visitor_id) == 16


def test_tampered_cookie_is_rejected() -> None:
    codec = CookieCodec([KEY_NEW])
    value = codec.dumps("visitor-1", "session-1")
    tampered = value[:5] + ("A" if value[5] != "A" else "B") + value[6:]
    assert codec.loads(tampered).rejected


def test_wrong_payload_shape_is_rejected() -> None:
    codec = CookieCodec([KEY_NEW])
    signer = URLSafeTimedSerializer(KEY_NEW, salt="opmaat.visitor.v1")
    for payload in ({"id": 1}, ["a"], ["a", 3], ["", "b"], ["a" * 40, "b"]):
        assert codec.loads(signer.dumps(payload)).rejected


def test_missing_cookie_is_fresh_not_rejected() -> None:
    ident = CookieCodec([KEY_NEW]).loads(None)
    assert ident.fresh
    assert not ident.rejected


def test_expired_cookie_is_rejected() -> None:
    codec = CookieCodec([KEY_NEW], max_age_days=0)
    value = codec.dumps("v", "s")
    codec.max_age = -1
    assert codec.loads(value).rejected


def test_needs_a_key() -> None:
    with pytest.raises(ValueError, match="secret key"):
        CookieCodec([])


def test_a_recent_cookie_goes_back_as_it_came_and_an_older_one_is_signed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import opmaat.identity as identity

    codec = CookieCodec(["k" * 20])
    value = codec.dumps("visitor-1", "session-1")
    came = codec.loads(value)
    assert codec.dumps("visitor-1", "session-1", came) == value  # no new signature
    assert codec.dumps("visitor-1", "session-2", came) != value  # a new session: a new value
    later = came.issued + identity.RESIGN_SECONDS + 1
    monkeypatch.setattr(identity.time, "time", lambda: later)
    assert codec.dumps("visitor-1", "session-1", came) != value


def test_verified_cookies_are_remembered_but_still_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    import opmaat.identity as identity

    codec = CookieCodec(["k" * 20], max_age_days=1)
    value = codec.loads(codec.dumps("visitor-1", "session-1")).value
    assert value is not None
    first = codec.loads(value)
    assert codec.loads(value) == first
    tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    assert codec.loads(tampered).rejected
    assert codec.loads(tampered).rejected  # a bad value is never remembered as good
    monkeypatch.setattr(identity.time, "time", lambda: first.issued + 86400 + 5)
    assert codec.loads(value).fresh  # the remembered answer expires like the cookie


def test_an_identify_proof_is_for_one_customer_id_and_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from opmaat.identity import IdentifyProof

    proofs = IdentifyProof(["k" * 20], max_age=60)
    proof = proofs.make("c-1001")
    assert proofs.check("c-1001", proof)
    assert not proofs.check("c-1002", proof)
    assert not proofs.check("c-1001", proof + "!")
    assert not IdentifyProof(["x" * 20]).check("c-1001", proof)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 120)
    assert not proofs.check("c-1001", proof)


def test_a_proof_for_a_longer_id_proves_nothing_about_its_prefix() -> None:
    # Whoever registers "alice@example.com.evil.example" must not become Alice.
    from opmaat.identity import IdentifyProof

    proofs = IdentifyProof(["k" * 20])
    proof = proofs.make("alice@example.com.evil.example")
    assert proofs.check("alice@example.com.evil.example", proof)
    assert not proofs.check("alice@example.com", "evil.example." + proof)
    assert not proofs.check("alice@example", "com.evil.example." + proof)
    # ...nor does a proof for a shorter id prove a longer one.
    short = proofs.make("alice")
    assert not proofs.check("alice.x", short)
    assert not proofs.check("alice", "x." + short)


def test_a_cookie_with_characters_outside_its_alphabet_is_refused() -> None:
    codec = CookieCodec(["k" * 20])
    value = codec.dumps("visitor-1", "session-1")
    assert not codec.loads(value).rejected
    assert codec.loads(value + "!!!!").rejected  # base64 decoding would skip them
