"""Django: ``"opmaat.middleware.django.OpmaatDjangoMiddleware"`` in ``MIDDLEWARE``.

Settings come from ``settings.OPMAAT``: ``{"config": FILE, "secret_keys": [...], "store": ...,
"secure_cookies": True, "cdn_key": False}`` (config and keys default to OPMAAT_CONFIG and
OPMAAT_SECRET_KEYS). Views get ``request.opmaat`` (a SyncPage); HTML answers get their slots
filled. Streaming answers pass through with their cookies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers

from opmaat.middleware.page import BodyRewriter, PagePersonalization, html_charset
from opmaat.middleware.settings import build_personalizer, personalized_headers
from opmaat.middleware.wsgi import SyncPage, maintain_in_background, run


class OpmaatDjangoMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        conf: dict[str, Any] = getattr(settings, "OPMAAT", {})
        self.personalizer = build_personalizer(
            conf.get("config"),
            conf.get("secret_keys"),
            conf.get("store"),
            conf.get("secure_cookies", True),
        )
        self.cdn_key = bool(conf.get("cdn_key", False))
        maintain_in_background(self.personalizer, float(conf.get("reload_interval", 1.0)))

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method != "GET":
            return self.get_response(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        visit = run(
            self.personalizer.open(
                peer=request.META.get("REMOTE_ADDR"), headers=headers, cookies=request.COOKIES
            )
        )
        page = PagePersonalization(
            visit, url=request.build_absolute_uri(), referrer=headers.get("referer")
        )
        request.opmaat = SyncPage(page)
        response = self.get_response(request)
        charset = html_charset(response.get("Content-Type", ""))
        encoding = response.get("Content-Encoding", "identity").strip().lower()
        body = getattr(response, "content", None)
        if (
            response.status_code == 200
            and charset is not None
            and encoding == "identity"
            and not response.streaming
            and isinstance(body, bytes)
        ):
            try:
                rewriter = BodyRewriter(page, charset, shared=self.cdn_key)
                out = run(rewriter.feed(body, final=True))
            except UnicodeDecodeError:
                out = body
            if page.touched:
                response.content = out
        if page.touched:
            self._headers(response, page)
        return response

    def _headers(self, response: HttpResponseBase, page: PagePersonalization) -> None:
        current = []
        if response.has_header("Cache-Control"):
            current.append(("cache-control", response["Cache-Control"]))
        for name, value in personalized_headers(current, page, self.cdn_key):
            if name == "set-cookie":
                response.cookies.load(value)  # with every attribute, as the edge writes them
            elif name == "vary":
                patch_vary_headers(response, [value])
            else:
                response[name] = value
