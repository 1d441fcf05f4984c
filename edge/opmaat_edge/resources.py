"""Where the files that ship with the edge are, in a wheel and in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent


def _shipped(name: str) -> Path:
    # A wheel carries them inside the package (pyproject force-include); a checkout at its root.
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _CHECKOUT / name


TEMPLATES = _shipped("templates")
JS = _shipped("js")
DEMO = _PACKAGE / "demo"
DEMO_CAMPAIGNS = DEMO / "campaigns.yaml"
DEMO_GEO = DEMO / "geo-demo.mmdb"
