"""How a shared store stops being asked while it fails: a circuit breaker.

A dead or slow store (Redis, or a SQLite file that is full, locked or damaged) then costs one
fast exception per request (the caller decides from the request alone) rather than a timeout
each. The breaker lets one call through after its cool-down and closes again when it succeeds:
a node recovers by itself.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("opmaat.store")


class StoreUnavailable(ConnectionError):
    """The store could not be reached in time (or the circuit breaker is open)."""


class CircuitBreaker:
    """Open after ``failures`` failures in a row; one trial call after ``cooldown`` seconds."""

    def __init__(self, failures: int = 3, cooldown: float = 5.0) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.streak = 0
        self.opened_at: float | None = None
        self.trying = False

    @property
    def state(self) -> str:
        return "ok" if self.opened_at is None else "degraded"

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if time.monotonic() - self.opened_at < self.cooldown or self.trying:
            return False
        self.trying = True  # one trial call; everyone else keeps failing fast meanwhile
        return True

    def success(self) -> None:
        if self.opened_at is not None:
            log.warning("profile store reachable again: back to normal")
        self.streak = 0
        self.opened_at = None
        self.trying = False

    def failure(self, *, lasting: bool = False) -> None:
        """Count a failure; a ``lasting`` one (a full disk, a damaged file: retrying at once
        cannot help) opens the breaker by itself."""
        self.trying = False
        self.streak = self.failures if lasting else self.streak + 1
        if self.streak >= self.failures:
            if self.opened_at is None:
                log.warning(
                    "profile store unreachable: deciding from requests alone for %.1f s",
                    self.cooldown,
                    extra={"store_state": "degraded"},
                )
            self.opened_at = time.monotonic()
