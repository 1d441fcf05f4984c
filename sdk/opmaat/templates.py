"""Campaign content as sandboxed, autoescaped Jinja2 templates, compiled once at load."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from typing import Any, NoReturn

from jinja2 import ChainableUndefined, Template, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

logger = logging.getLogger("opmaat.templates")

RAW_UTM = "utm"
# What a template sees besides the profile's sections (see render_context): the whole profile,
# and these objects with these keys.
PROFILE = "profile"
RENDER_OBJECTS: Mapping[str, tuple[str, ...]] = {
    "campaign": ("id", "name"),
    "variant": ("key",),
    "slot": ("name",),
}


class RawUtmError(TemplateError):
    """A template reads ``utm.*`` (the link's own text) without being allowed to."""

    def __init__(self, lineno: int) -> None:
        super().__init__(f"the template reads {RAW_UTM}.* on line {lineno}")
        self.lineno = lineno


class _Sandbox(ImmutableSandboxedEnvironment):
    # Immutable: the profile is shared by every slot of a decision and stored afterwards, so a
    # template must not be able to change it (``profile.segments.append(...)``).
    # ChainableUndefined: visitor attributes are often absent (``geo.city`` without a geo
    # database), and a missing value should render as nothing, not fail the whole fragment.

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A plain dict instead of Jinja's ChainMap: the globals never change after load, and
        # iterating a ChainMap on every render was most of the cost of a small template.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Profile sections are dicts whose keys may be method names: ``cart.items`` must be the
        # cart's items, not ``dict.items``. A key wins; methods remain for names not in it.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        # The stock sandbox renders an unsafe attribute as an empty undefined; raising instead
        # turns an escape attempt into a failed render that is logged and counted.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


class TemplateRenderer:
    """One sandboxed environment for a campaign set, and a count of failed renders."""

    def __init__(self) -> None:
        self.environment = _Sandbox(autoescape=True, undefined=ChainableUndefined)
        self.errors = 0

    def compile(self, source: str, *, raw_utm: bool = False) -> Template:
        """Compile ``source``; raises ``jinja2.TemplateSyntaxError`` on a syntax error and
        ``RawUtmError`` for a template that reads ``utm.*`` unless ``raw_utm``."""
        tree = self.environment.parse(source)
        if not raw_utm:
            line = _reads_utm(tree)
            if line is not None:
                raise RawUtmError(line)
        return self.environment.from_string(tree)

    def render(self, template: Template, context: Mapping[str, Any], label: str) -> str | None:
        """The rendered text, or None (logged and counted) when the template fails."""
        try:
            return template.render(context)
        except Exception as exc:  # any template bug must leave the slot's default in place
            self.errors += 1
            message = str(exc).replace("\n", " ")[:300]
            logger.warning("template %s failed: %s: %s", label, type(exc).__name__, message)
            return None


def _reads_utm(tree: nodes.Template) -> int | None:
    # By name, as a template author writes it: utm.term, profile.utm, profile["utm"],
    # profile|attr("utm"). Looping over the whole profile is not caught.
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Const)):
        if isinstance(node, nodes.Name):
            named: object = node.name
        elif isinstance(node, nodes.Getattr):
            named = node.attr
        elif isinstance(node, nodes.Const):
            named = node.value
        if named == RAW_UTM:
            return node.lineno
    return None


@dataclass(frozen=True, slots=True)
class Read:
    """A name a template reads from its context, with the keys it reads inside it:
    ``{{ geo.nearest.name }}`` is ``("geo", "nearest", "name")``."""

    path: tuple[str, ...]
    line: int


@cache
def _parser() -> _Sandbox:
    return _Sandbox(autoescape=True, undefined=ChainableUndefined)


def template_reads(source: str) -> list[Read]:
    """What ``source`` reads from its context: names it does not set itself (nor Jinja's own
    globals), each with the keys read inside it as far as they are written out (a key given
    by a variable, ``interests[name]``, ends the path; a method call's name is not a key).
    Raises ``jinja2.TemplateSyntaxError``."""
    environment = _parser()
    tree = environment.parse(source)
    free = meta.find_undeclared_variables(tree) - set(environment.globals)
    return [read for read in _reads(tree) if read.path[0] in free]


def error_line(source: str, *, raw_utm: bool = False) -> int | None:
    """The line of the first thing that makes ``source`` fail to load (a syntax error, or
    reading ``utm.*`` without ``raw_utm``), or None when it loads."""
    try:
        tree = _parser().parse(source)
    except TemplateSyntaxError as exc:
        return exc.lineno
    return None if raw_utm else _reads_utm(tree)


def _reads(node: nodes.Node) -> Iterator[Read]:
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        # geo.get("city"): the method's name is not a key of geo.
        yield from _reads(node.node.node)
        for child in node.iter_child_nodes(exclude=("node",)):
            yield from _reads(child)
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        keys: list[str] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            if isinstance(current, nodes.Getattr):
                keys.append(current.attr)
            elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str | int):
                keys.append(str(current.arg.value))
            else:
                keys.clear()  # what follows a key given by a variable cannot be known
                yield from _reads(current.arg)
            current = current.node
        if isinstance(current, nodes.Name):
            if current.ctx == "load":
                yield Read((current.name, *reversed(keys)), node.lineno)
            return
        yield from _reads(current)
        return
    for child in node.iter_child_nodes():
        yield from _reads(child)


def render_context(
    profile: Mapping[str, Any],
    campaign: Mapping[str, Any],
    variant: Mapping[str, Any],
    slot: Mapping[str, Any],
) -> dict[str, Any]:
    """What a template sees: the profile's sections by name, plus the whole profile and the
    campaign, variant and slot it is rendered for."""
    context = {key: value for key, value in profile.items() if isinstance(key, str)}
    context["profile"] = profile
    context["campaign"] = campaign
    context["variant"] = variant
    context["slot"] = slot
    return context
