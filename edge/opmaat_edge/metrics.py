"""Prometheus metrics of the edge (``/metrics``), correct with several uvicorn workers.

With one process the metrics live in a registry of this app. With several workers, ``opmaat
serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start;
prometheus-client then keeps every worker's values in files there and ``/metrics`` adds them up,
whichever worker answers.
"""

from __future__ import annotations

import ipaddress
import os
from bisect import bisect_left
from collections.abc import Callable, Collection, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from opmaat.engine import Decision

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DECIDE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Metrics:
    """The edge's metrics; also the Personalizer's observer."""

    def __init__(self, allowed: Sequence[IpNetwork]) -> None:
        self.allowed = tuple(allowed)
        self.known_slots: Callable[[], Collection[str]] = frozenset
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        r = self.registry
        self.decide_seconds = Histogram(
            "opmaat_decide_seconds",
            "Time to decide the slots of one page (engine and rendering).",
            buckets=DECIDE_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "opmaat_decisions_total",
            "Slot decisions, by slot, campaign and variant (empty: default content).",
            ["slot", "campaign", "variant"],
            registry=r,
        )
        self.holdouts = Counter(
            "opmaat_holdout_decisions_total",
            "Decisions that kept a visitor in a campaign's holdout.",
            ["campaign"],
            registry=r,
        )
        self.events = Counter(
            "opmaat_events_total",
            "Events accepted, by type and name (the goal, or the campaign).",
            ["type", "name"],
            registry=r,
        )
        self.rejected_cookies = Counter(
            "opmaat_rejected_cookies_total",
            "Visitor cookies that were tampered with, expired or malformed.",
            registry=r,
        )
        self.decide_errors = Counter(
            "opmaat_decide_errors_total",
            "Pages whose decision failed (every slot kept its default content).",
            registry=r,
        )
        self.render_errors = Counter(
            "opmaat_render_errors_total",
            "Variant templates that failed to render (the slot kept its default).",
            registry=r,
        )
        self.store_errors = Counter(
            "opmaat_store_errors_total",
            "Profile store calls that failed (the request was decided from its context).",
            registry=r,
        )
        self.store_degraded = Gauge(
            "opmaat_store_degraded",
            "1 while the profile store cannot be reached.",
            registry=r,
            multiprocess_mode="livemostrecent",  # the latest scrape of a running worker
        )
        self.bot_requests = Counter(
            "opmaat_bot_requests_total",
            "Requests from bots (device.type bot), left out: default content, no profile, no "
            "tallies.",
            registry=r,
        )
        self.store_file_bytes = Gauge(
            "opmaat_store_file_bytes",
            "Size of the SQLite store's file (the SQLite store only).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.store_free_pages = Gauge(
            "opmaat_store_free_pages",
            "Unused pages in the SQLite store's file, reused before it grows (VACUUM returns "
            "them to the disk).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.reloads = Counter(
            "opmaat_config_reloads_total",
            "Campaign file reloads, by result (ok or failed).",
            ["result"],
            registry=r,
        )
        # Decisions (slot, campaign, variant) and holdouts (campaign) not yet in the counters.
        self._decided: dict[tuple[str, str, str], int] = {}
        # Decide times not yet in the histogram: a count per bucket (the last for +Inf), and
        # their sum.
        self._seconds: list[int] = [0] * (len(DECIDE_BUCKETS) + 1)
        self._seconds_sum = 0.0
        self._defer_seconds = _can_add(self.decide_seconds)
        self._held: dict[str, int] = {}

    # The Personalizer's observer. Decisions are counted in plain dicts and added to their
    # labelled counters when /metrics is read (a labels() call per decision was a tenth of a
    # decide); with several workers at once, since whichever worker answers reads them all.
    def decided(
        self, decisions: Mapping[str, Decision], seconds: float, render_errors: int
    ) -> None:
        if self._defer_seconds:
            # Counted in a list by bucket, added to the histogram when /metrics is read: an
            # observe() is Python code (a loop over the bounds, two locked increments).
            self._seconds[bisect_left(DECIDE_BUCKETS, seconds)] += 1
            self._seconds_sum += seconds
        else:
            self.decide_seconds.observe(seconds)
        # Slot names come from the page: only those of the campaign file become labels.
        known = self.known_slots()
        counts, held = self._decided, self._held
        for decision in decisions.values():
            if decision.holdout and decision.campaign:
                held[decision.campaign] = held.get(decision.campaign, 0) + 1
            slot = decision.slot if decision.slot in known else "other"
            labels = (slot, decision.campaign or "", decision.variant or "")
            counts[labels] = counts.get(labels, 0) + 1
        if render_errors:
            self.render_errors.inc(render_errors)
        if self.multiprocess:
            self._count_decisions()

    def _count_decisions(self) -> None:
        if self._defer_seconds:
            observed, self._seconds = self._seconds, [0] * (len(DECIDE_BUCKETS) + 1)
            total, self._seconds_sum = self._seconds_sum, 0.0
            _add_observed(self.decide_seconds, observed, total)
        counts, self._decided = self._decided, {}
        held, self._held = self._held, {}
        for labels, count in counts.items():
            self.decisions.labels(*labels).inc(count)
        for campaign, count in held.items():
            self.holdouts.labels(campaign).inc(count)

    def decide_failed(self) -> None:
        self.decide_errors.inc()

    def store_failed(self) -> None:
        self.store_errors.inc()

    def cookie_rejected(self) -> None:
        self.rejected_cookies.inc()

    def bot_left_out(self) -> None:
        self.bot_requests.inc()

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    def store_file(self, size: int, free_pages: int) -> None:
        self.store_file_bytes.set(size)
        self.store_free_pages.set(free_pages)

    def exposition(self, store_state: str) -> bytes:
        self._count_decisions()
        self.store_degraded.set(0 if store_state == "ok" else 1)
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def allows(self, peer: str | None) -> bool:
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.allowed)


def parse_networks(value: str) -> list[IpNetwork]:
    """``127.0.0.0/8,::1`` and the like; raises ValueError naming the bad entry."""
    networks = []
    for part in value.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not an IP address or network") from None
    return networks


def _can_add(histogram: Histogram) -> bool:
    # prometheus_client keeps a histogram's buckets (its bounds, then +Inf) and its sum as
    # values with inc(); a version that does not is observed once per decide instead.
    buckets = getattr(histogram, "_buckets", None)
    return (
        isinstance(buckets, list)
        and len(buckets) == len(DECIDE_BUCKETS) + 1
        and all(callable(getattr(b, "inc", None)) for b in buckets)
        and callable(getattr(getattr(histogram, "_sum", None), "inc", None))
    )


def _add_observed(histogram: Histogram, counts: Sequence[int], total: float) -> None:
    """Add ``counts`` observations by bucket (the bounds, then +Inf) summing to ``total`` to
    ``histogram`` (``_can_add``): what as many ``observe()`` calls would have added."""
    if not any(counts):
        return
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    histogram._sum.inc(total)
