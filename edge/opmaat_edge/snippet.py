"""Serving the JS snippet: minified once at start, gzipped, with an ETag and a versioned URL."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from starlette.requests import Request
from starlette.responses import Response

from opmaat_edge.resources import JS

SNIPPET_SOURCE = JS / "opmaat.js"
GZIP_BUDGET = 2048


@dataclass(frozen=True, slots=True)
class Snippet:
    raw: bytes
    gzipped: bytes
    version: str

    @classmethod
    def load(cls, path: Path = SNIPPET_SOURCE) -> Snippet:
        minified = rjsmin.jsmin(path.read_text(encoding="utf-8")).encode()
        return cls(
            raw=minified,
            gzipped=gzip.compress(minified, compresslevel=9, mtime=0),
            version=hashlib.sha256(minified).hexdigest()[:12],
        )

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def response(self, request: Request) -> Response:
        if request.query_params.get("v") == self.version:
            cache = "public, max-age=31536000, immutable"
        else:
            cache = "public, max-age=300, stale-while-revalidate=86400"
        headers = {"ETag": self.etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = self.raw
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
