"""The cockpit's and the server API's settings: refused with a message that names the setting
and never shows the secret."""

from __future__ import annotations

import pytest

from opmaat_edge.cockpit.auth import hash_password
from opmaat_edge.settings import EdgeSettings, SettingsError

BASE = {"OPMAAT_CONFIG": "c.yaml", "OPMAAT_SECRET_KEYS": "a-long-enough-signing-key"}


def settings(**env: str) -> EdgeSettings:
    return EdgeSettings.from_env({**BASE, **env})


def test_defaults_leave_the_cockpit_and_the_api_off() -> None:
    found = settings()
    assert found.cockpit_password is None
    assert found.cockpit_password_hash is None
    assert found.api_keys == ()
    assert found.paused_file == "c.paused.json"


def test_good_values_are_taken_and_kept_out_of_repr() -> None:
    hashed = hash_password("a fine password")
    found = settings(
        OPMAAT_COCKPIT_PASSWORD="plain password 1",
        OPMAAT_COCKPIT_PASSWORD_HASH=hashed,
        OPMAAT_API_KEYS="k" * 24 + ", " + "z" * 40,
        OPMAAT_PAUSED_FILE="/var/lib/opmaat/paused.json",
    )
    assert found.api_keys == ("k" * 24, "z" * 40)
    assert found.paused_file == "/var/lib/opmaat/paused.json"
    shown = repr(found)
    for secret in ("plain password 1", hashed, "k" * 24, "z" * 40):
        assert secret not in shown


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"OPMAAT_COCKPIT_PASSWORD": "short"}, "OPMAAT_COCKPIT_PASSWORD"),
        ({"OPMAAT_COCKPIT_PASSWORD_HASH": "scrypt$1$2$3"}, "OPMAAT_COCKPIT_PASSWORD_HASH"),
        ({"OPMAAT_COCKPIT_PASSWORD_HASH": "plaintext-secret"}, "OPMAAT_COCKPIT_PASSWORD_HASH"),
        ({"OPMAAT_API_KEYS": "too-short-key"}, "OPMAAT_API_KEYS"),
        ({"OPMAAT_API_KEYS": "a key with spaces in it, 1234567890"}, "OPMAAT_API_KEYS"),
        ({"OPMAAT_API_KEYS": "ключ-ключ-ключ-ключ-ключ-ключ"}, "OPMAAT_API_KEYS"),
    ],
)
def test_bad_values_are_refused_without_showing_them(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        settings(**env)
    for value in env.values():
        assert value not in str(caught.value)
