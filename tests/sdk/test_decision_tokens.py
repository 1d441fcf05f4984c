"""Decision tokens: made per decision, checked against what an event names, counted once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest

from opmaat.decision_tokens import (
    CLOCK_SKEW,
    MAX_AGE,
    PURPOSE,
    DecisionTokenError,
    DecisionTokens,
)
from opmaat.engine import Decision

KEY, OLD_KEY = "k" * 20, "o" * 20
VISITOR = "AbCdEfGhIjKlMnOp"
SHOWN = Decision("hero", "spring-sale", "b", "<b>sale</b>", "reason")
HOLDOUT = Decision("hero", "spring-sale", None, None, "held out", holdout=True)


def check(tokens: DecisionTokens, token: object, **changes: Any) -> bytes:
    named: dict[str, Any] = {"campaign": "spring-sale", "variant": "b", "slot": "hero"}
    named["visitor"] = VISITOR
    return tokens.check(token, **{**named, **changes})


def token_of(
    tokens: DecisionTokens, decision: Decision = SHOWN, visitor: str | None = VISITOR
) -> str:
    return tokens.make({decision.slot: decision}, visitor)[decision.slot]


def made(decision: Decision = SHOWN, visitor: str | None = VISITOR) -> str:
    return token_of(DecisionTokens([KEY]), decision, visitor)


def test_a_token_is_40_url_safe_characters_and_checks_out() -> None:
    tokens = DecisionTokens([KEY])
    token = token_of(tokens)
    assert len(token) == 40
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(check(tokens, token)) == 15


def test_every_decision_gets_a_token_of_its_own() -> None:
    tokens = DecisionTokens([KEY])
    many = {token_of(tokens, visitor=None) for _ in range(1000)}
    assert len(many) == 1000


def test_each_slot_of_an_answer_gets_its_own_token_and_a_default_slot_none() -> None:
    tokens = DecisionTokens([KEY])
    side = Decision("side", "spring-sale", "b", "<b>sale</b>", "reason")
    default = Decision("footer", None, None, None, "default")
    answer = tokens.make({"hero": SHOWN, "side": side, "footer": default}, VISITOR)
    assert set(answer) == {"hero", "side"}
    check(tokens, answer["hero"])
    check(tokens, answer["side"], slot="side")
    with pytest.raises(DecisionTokenError, match="another campaign, variant or slot"):
        check(tokens, answer["side"])
    assert check(tokens, answer["hero"]) != check(tokens, answer["side"], slot="side")
    assert tokens.make({"footer": default}, VISITOR) == {}
    assert tokens.make({}, None) == {}


def test_the_mac_is_keyed_blake2s_under_a_key_of_its_own_purpose() -> None:
    raw = base64.urlsafe_b64decode(made())
    key = hmac.digest(KEY.encode(), PURPOSE, "sha256")
    message = raw[:15] + b"11:spring-sale1:bhero"
    assert raw[15:] == hashlib.blake2s(message, key=key, digest_size=15).digest()


def test_a_holdout_token_names_no_variant() -> None:
    tokens = DecisionTokens([KEY])
    token = token_of(tokens, HOLDOUT)
    check(tokens, token, variant=None)
    with pytest.raises(DecisionTokenError, match="another campaign, variant or slot"):
        check(tokens, token, variant="")
    with pytest.raises(DecisionTokenError, match="another campaign, variant or slot"):
        check(tokens, made(), variant=None)


@pytest.mark.parametrize(
    "changes",
    [
        {"campaign": "spring-salf"},
        {"campaign": "other"},
        {"variant": "a"},
        {"slot": "sidebar"},
        # The same characters, split differently between the fields.
        {"campaign": "spring-sale1", "variant": ""},
        {"campaign": "spring-sale", "variant": "bh", "slot": "ero"},
        {"campaign": None},
        {"variant": 1},
        {"slot": ["hero"]},
    ],
)
def test_a_token_counts_only_for_its_campaign_variant_and_slot(changes: dict[str, Any]) -> None:
    with pytest.raises(DecisionTokenError, match="another campaign, variant or slot"):
        check(DecisionTokens([KEY]), made(), **changes)


def test_a_token_given_to_a_visitor_counts_only_for_them() -> None:
    tokens = DecisionTokens([KEY])
    token = made()
    with pytest.raises(DecisionTokenError, match="given to another visitor"):
        check(tokens, token, visitor="someone-else-0001")
    # Without a cookie nobody can be told apart: the token itself still has to check out.
    check(tokens, token, visitor=None)


def test_a_token_given_to_nobody_kept_counts_for_anyone() -> None:
    tokens = DecisionTokens([KEY])
    token = made(visitor=None)
    check(tokens, token, visitor=None)
    check(tokens, token, visitor="a-cookie-set-since")


def test_a_token_expires_after_max_age() -> None:
    tokens = DecisionTokens([KEY])
    token = made()
    check(tokens, token, now=time.time() + MAX_AGE - 5)
    with pytest.raises(DecisionTokenError, match="expired: it counts for 120 minutes"):
        check(tokens, token, now=time.time() + MAX_AGE + 5)
    short = DecisionTokens([KEY], max_age=60)
    with pytest.raises(DecisionTokenError, match="expired"):
        check(short, token, now=time.time() + 70)


def test_a_token_from_the_future_counts_within_the_clock_skew() -> None:
    tokens = DecisionTokens([KEY])
    token = made()
    check(tokens, token, now=time.time() - CLOCK_SKEW + 5)
    with pytest.raises(DecisionTokenError, match="made in the future"):
        check(tokens, token, now=time.time() - CLOCK_SKEW - 5)


def test_a_token_made_with_another_key_does_not_count() -> None:
    with pytest.raises(DecisionTokenError, match="not one of ours"):
        check(DecisionTokens(["x" * 20]), made())


def test_after_a_key_rotation_the_newest_key_signs_and_every_key_checks() -> None:
    rotated = DecisionTokens(["n" * 20, KEY])
    check(rotated, made())  # made before the rotation
    token = token_of(rotated)
    check(rotated, token)
    with pytest.raises(DecisionTokenError, match="not one of ours"):
        check(DecisionTokens([KEY]), token)  # made with the new key alone
    check(DecisionTokens(["n" * 20]), token)


def test_a_token_needs_a_key() -> None:
    with pytest.raises(ValueError, match="secret key"):
        DecisionTokens(["", ""])


def test_without_a_token_the_message_says_where_to_find_one() -> None:
    with pytest.raises(DecisionTokenError, match="needs the token of its decision"):
        check(DecisionTokens([KEY]), None)


def _flipped(token: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[at] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).decode()


GOOD = made()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "x",
        GOOD[:-1],
        GOOD + "A",
        GOOD[:-1] + "=",
        GOOD[:-1] + "+",
        GOOD[:-1] + "/",
        GOOD[:-1] + ".",
        GOOD[:-1] + "\u00e9",
        GOOD[:-1] + "\ud800",
        GOOD[:-1] + "\x00",
        " " + GOOD[1:],
        "A" * 40,
        "_" * 40,
        "x.y.z",
        3,
        3.5,
        True,
        [GOOD],
        {"token": GOOD},
        GOOD.encode(),
    ],
)
def test_garbage_is_no_token(garbage: object) -> None:
    with pytest.raises(DecisionTokenError, match=r"no decision token|not one of ours"):
        check(DecisionTokens([KEY]), garbage)


@pytest.mark.parametrize("at", [0, 1, 4, 5, 10, 11, 14, 15, 29])
def test_any_changed_bit_spoils_the_token(at: int) -> None:
    with pytest.raises(DecisionTokenError, match="not one of ours"):
        check(DecisionTokens([KEY]), _flipped(GOOD, at))


def test_a_token_claiming_a_visitor_it_was_not_made_for_does_not_count() -> None:
    # The first byte says whether the tag names a visitor: changing it spoils the mac.
    none = made(visitor=None)
    raw = bytearray(base64.urlsafe_b64decode(none))
    raw[0] = 1
    with pytest.raises(DecisionTokenError, match="not one of ours"):
        check(DecisionTokens([KEY]), base64.urlsafe_b64encode(bytes(raw)).decode())


def test_odd_text_in_the_fields_is_checked_never_a_crash() -> None:
    tokens = DecisionTokens([KEY])
    odd = Decision("s\ud800", "c\u00e9\x00:", "\ud83d", None, "r")
    token = token_of(tokens, odd, "v\udfff")
    check(
        tokens, token, campaign="c\u00e9\x00:", variant="\ud83d", slot="s\ud800", visitor="v\udfff"
    )
    with pytest.raises(DecisionTokenError):
        check(tokens, token, campaign="c\u00e9\x00:", variant="\ud83e", slot="s\ud800")


# Counting once


def test_an_impression_counts_once() -> None:
    tokens = DecisionTokens([KEY])
    key = check(tokens, made())
    assert tokens.claim(key, "impression") == ("impression",)
    assert tokens.claim(key, "impression") == ()
    assert tokens.claim(key, "click") == ("click",)
    assert tokens.claim(key, "click") == ()
    assert tokens.claim(key, "impression") == ()


def test_a_click_without_its_impression_counts_both_once() -> None:
    tokens = DecisionTokens([KEY])
    key = check(tokens, made())
    assert tokens.claim(key, "click") == ("impression", "click")
    assert tokens.claim(key, "impression") == ()
    assert tokens.claim(key, "click") == ()


def test_tokens_are_counted_apart() -> None:
    tokens = DecisionTokens([KEY])
    first, second = check(tokens, made()), check(tokens, made())
    assert tokens.claim(first, "impression") == ("impression",)
    assert tokens.claim(second, "impression") == ("impression",)


def test_a_counted_token_is_remembered_for_its_whole_life(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("opmaat.decision_tokens.time.monotonic", lambda: clock[0])
    tokens = DecisionTokens([KEY])
    key = check(tokens, made())
    assert tokens.claim(key, "impression") == ("impression",)
    clock[0] += MAX_AGE + CLOCK_SKEW + 1  # a new generation: the last one is still asked
    assert tokens.claim(b"other", "impression") == ("impression",)
    assert tokens.claim(key, "impression") == ()
    assert tokens.claim(key, "click") == ("click",)


def test_what_a_process_remembers_is_bounded() -> None:
    tokens = DecisionTokens([KEY], remembered=10)
    keys = [bytes([i]) * 15 for i in range(35)]
    for key in keys:
        assert tokens.claim(key, "impression") == ("impression",)
    # The latest are still remembered; the earliest made room (two generations of 10).
    assert all(tokens.claim(key, "impression") == () for key in keys[-10:])
    assert tokens.claim(keys[0], "impression") == ("impression",)
