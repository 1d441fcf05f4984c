"""opmaat's edge server."""

from __future__ import annotations

# Which build runs, before any compiled module of the edge is imported (opmaat/compiled.py).
import opmaat.compiled  # noqa: F401
