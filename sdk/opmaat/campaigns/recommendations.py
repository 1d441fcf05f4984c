"""The campaign file's ``recommendations`` section (the product feed and the strategies), and
the templates' calls of ``recommendations(strategy, n=4, products=[...])`` held against it.

A call that names a strategy the section does not configure, asks for a list size out of range
or passes arguments the function does not take is an error at the call's line; so is a product
the feed does not have, once the feed is read. Only what a template writes as a constant can be
checked: a strategy or product given by a variable is taken as it comes (a wrong one fails that
render, which is logged and counted, and the slot keeps its default).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError

from opmaat.campaigns import site_data
from opmaat.campaigns.checker import Checker, describe, field_name, hint, is_number
from opmaat.campaigns.model import Recommendations
from opmaat.campaigns.template_sources import TemplateSource, template_sources
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.errors import Problem
from opmaat.recommend.feed import Feed
from opmaat.recommend.recommender import MAX_N
from opmaat.recommend.strategies import (
    KINDS,
    MAX_SEEDS,
    SERENDIPITY,
    Strategy,
    StrategyError,
    make_strategies,
    make_strategy,
)
from opmaat.templates import RECOMMENDATIONS, VARIABLE, Called, template_calls

SECTION_KEYS = ("feed", "serendipity", "strategies")
FEED_SUFFIXES = (".csv", ".tsv", ".txt", ".json")
STRATEGY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_STRATEGIES = 50
CALL_ARGUMENTS = ("strategy", "n", "products")
PATH: YPath = ("recommendations",)


def section(check: Checker, value: Any, base_dir: Path) -> Recommendations | None:
    """The section, or None when there is none (or it is wrong: every mistake is reported)."""
    if value is None:
        return None
    spec = check.mapping(value, PATH, SECTION_KEYS)
    if spec is None:
        return None
    before = len(check.problems)
    feed = None
    if spec.get("feed") is not None:
        feed = site_data.data_file(check, spec["feed"], (*PATH, "feed"), base_dir)
        if feed is not None and feed.suffix.lower() not in FEED_SUFFIXES:
            check.report((*PATH, "feed"), "a product feed is a .csv or a .json file")
    share = spec.get("serendipity", SERENDIPITY)
    if not is_number(share) or not 0 <= share <= 0.5:
        check.report(
            (*PATH, "serendipity"),
            f"expected a share from 0 to 0.5 (0.2 is a fifth of each list), got {describe(share)}",
        )
        share = SERENDIPITY
    strategies: dict[str, Strategy] = {}
    for name, options in _strategies(check, spec.get("strategies")):
        try:
            strategies[name] = make_strategy(name, options, serendipity=float(share))
        except StrategyError as exc:
            check.report((*PATH, *exc.path), exc.message)
    if len(check.problems) > before:
        return None
    if not strategies:
        strategies = make_strategies(None, serendipity=float(share))
    return Recommendations(feed=feed, strategies=strategies)


def _strategies(check: Checker, value: Any) -> Iterator[tuple[str, Any]]:
    path: YPath = (*PATH, "strategies")
    if value is None:
        return
    if not isinstance(value, dict):
        check.report(path, f"expected a mapping of strategies to options, got {describe(value)}")
        return
    if len(value) > MAX_STRATEGIES:
        check.report(path, f"at most {MAX_STRATEGIES} strategies")
        return
    for name, options in value.items():
        if not isinstance(name, str) or not STRATEGY_NAME.fullmatch(name) or name == "top":
            check.report(
                (*path, str(name)),
                f"'{str(name)[:40]}' is not a strategy name: lower-case letters, digits, '-' "
                "and '_' (at most 40)",
            )
        elif options is not None and not isinstance(options, dict):
            said = describe(options)
            check.report((*path, name), f"expected a mapping of options (or nothing), got {said}")
        else:
            yield name, options


def strategy_names(value: Any) -> Collection[str] | None:
    """The strategy names a section writes (even those with a mistake, so that a call of one
    is not reported as well); None when the file has no section."""
    if value is None:
        return None
    strategies = value.get("strategies") if isinstance(value, dict) else None
    if not isinstance(strategies, dict) or not strategies:
        return KINDS
    return {name for name in strategies if isinstance(name, str)}


class Calls:
    """The ``recommendations(...)`` calls of a parsed file's templates, checked as they are
    found; those that name products are kept for ``check_products`` (the feed comes later)."""

    def __init__(self, check: Checker) -> None:
        self.check = check
        self.with_products: list[tuple[TemplateSource, Called, tuple[str, ...]]] = []

    def check_templates(
        self, data: Any, known: Collection[str] | None, shown_dir: Path, base_dir: Path
    ) -> None:
        """Every call in every template of ``data``; ``known``: the strategy names of the
        section (None: there is none)."""
        for source in template_sources(data, shown_dir, base_dir):
            try:
                calls = template_calls(source.text, RECOMMENDATIONS)
            except (TemplateSyntaxError, RecursionError):
                continue  # the loader reports it
            for call in calls:
                self._call(source, call, known)

    def _call(self, source: TemplateSource, call: Called, known: Collection[str] | None) -> None:
        if known is None:
            self._report(
                source, call, "recommendations() needs a 'recommendations' section in this file"
            )
            return
        named = dict(zip(CALL_ARGUMENTS, call.args, strict=False))
        if len(call.args) > len(CALL_ARGUMENTS) or any(
            key not in CALL_ARGUMENTS or key in named for key in call.kwargs
        ):
            self._report(
                source, call, "recommendations() takes strategy, n and products (once each)"
            )
            return
        named.update(call.kwargs)
        if "strategy" not in named and not call.spread:
            self._report(source, call, "recommendations() needs a strategy's name")
            return
        problem = _strategy_problem(named.get("strategy", VARIABLE), known)
        problem = problem or _size_problem(named.get("n", VARIABLE))
        products = named.get("products", VARIABLE)
        problem = problem or _products_problem(products)
        if problem is not None:
            self._report(source, call, problem)
        elif isinstance(products, list | tuple) and products:
            self.with_products.append((source, call, tuple(products)))

    def check_products(self, feed: Feed) -> None:
        """Each product a call names must be in the feed (read from its file; a feed not
        written yet has none to hold them against)."""
        if not len(feed):
            return
        for source, call, products in self.with_products:
            for product in products:
                if product not in feed:
                    shown, name = product[:40], Path(feed.source or "").name
                    problem = f"product '{shown}' is not in the feed ({name})"
                    self._report(source, call, problem + hint(shown, feed.products))
                    break

    def _report(self, source: TemplateSource, call: Called, message: str) -> None:
        if source.file is not None:
            field = field_name(source.path)
            self.check.problems.append(Problem(source.file, call.line, field, message))
        else:
            where = f" (line {call.line} of the template)" if call.line > 1 else ""
            self.check.report(source.path, message + where)


def _strategy_problem(name: Any, known: Collection[str]) -> str | None:
    if name is VARIABLE:
        return None
    if not isinstance(name, str):
        return f"a strategy is named by text, not {describe(name)}"
    if name not in known:
        listed = ", ".join(sorted(known))
        said = f"no strategy '{name[:40]}' in recommendations.strategies ({listed})"
        return said + hint(name, known)
    return None


def _size_problem(n: Any) -> str | None:
    if n is VARIABLE or (isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_N):
        return None
    return f"n is how many items: a whole number from 0 to {MAX_N}, not {describe(n)}"


def _products_problem(products: Any) -> str | None:
    if products is VARIABLE or products is None:
        return None
    if not isinstance(products, list | tuple) or len(products) > MAX_SEEDS:
        return f"products is a list of at most {MAX_SEEDS} product ids"
    for product in products:
        if not (isinstance(product, str) and 0 < len(product) <= 100):
            return f"a product id is text of 1-100 characters, not {describe(product)}"
    return None
