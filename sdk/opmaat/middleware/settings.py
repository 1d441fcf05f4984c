"""Setting the middleware up, and the response headers it adds; shared by ASGI and WSGI."""

from __future__ import annotations

import os
from collections.abc import Sequence

from opmaat.middleware.page import PagePersonalization, private_cache_control
from opmaat.personalizer import Personalizer
from opmaat.store import ProfileStore


def build_personalizer(
    config: str | os.PathLike[str] | None,
    secret_keys: Sequence[str] | None,
    store: ProfileStore | None,
    secure_cookies: bool,
) -> Personalizer:
    """A Personalizer from the arguments, else from OPMAAT_CONFIG and OPMAAT_SECRET_KEYS.
    Raises ConfigError when the campaign file is bad and ValueError when something is missing."""
    path = config if config is not None else os.environ.get("OPMAAT_CONFIG", "").strip()
    if not path:
        raise ValueError("opmaat middleware: pass config=FILE or set OPMAAT_CONFIG")
    keys = list(secret_keys) if secret_keys is not None else _env_keys()
    if not keys or any(len(k) < 16 for k in keys):
        raise ValueError(
            "opmaat middleware: pass secret_keys (or set OPMAAT_SECRET_KEYS): one or more keys "
            "of at least 16 characters, the same as the edge's to share its cookie"
        )
    try:
        return Personalizer(path, secret_keys=keys, store=store, secure_cookies=secure_cookies)
    except OSError as exc:
        raise ValueError(f"opmaat middleware: {path}: {exc.strerror or exc}") from None


def _env_keys() -> list[str]:
    return [k.strip() for k in os.environ.get("OPMAAT_SECRET_KEYS", "").split(",") if k.strip()]


def personalized_headers(
    headers: list[tuple[str, str]], page: PagePersonalization, cdn_key: bool
) -> list[tuple[str, str]]:
    """``headers`` of a personalized response: its cookies added, and Cache-Control made
    private (left alone with ``cdn_key``, where X-Opmaat-Key and Vary tell caches apart)."""
    out = [(k, v) for k, v in headers if cdn_key or k.lower() != "cache-control"]
    if not cdn_key:
        current = next((v for k, v in headers if k.lower() == "cache-control"), None)
        out.append(("cache-control", private_cache_control(current)))
    return out + page.response_headers(cdn_key)
