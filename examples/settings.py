"""What the example apps share: the campaign file, the page and a signing key."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).parent
CAMPAIGNS = HERE / "campaigns.yaml"
PAGE = (HERE / "page.html").read_text(encoding="utf-8")
# Use the edge's keys (OPMAAT_SECRET_KEYS) in a real app, so the visitor has one cookie for both.
SECRET_KEYS = [os.environ.get("OPMAAT_SECRET_KEYS", "example-only-signing-key-0123456789")]
