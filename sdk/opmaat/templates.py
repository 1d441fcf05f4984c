"""Campaign content as sandboxed, autoescaped Jinja2 templates, compiled once at load."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping
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
# And this function: ``recommendations(strategy, n=4, products=[...])``, the items a strategy
# of the file's ``recommendations`` section lists for the visitor (docs/recommendations.md).
RECOMMENDATIONS = "recommendations"


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
    """One sandboxed environment for a campaign set, a count of failed renders, and the
    rendered texts of the templates whose output follows from a few values they read."""

    def __init__(self) -> None:
        self.environment = _Sandbox(autoescape=True, undefined=ChainableUndefined)
        self.errors = 0
        # Per template: the paths it reads, when those decide all it writes (else None).
        self._reads: dict[Template, tuple[_Path, ...] | None] = {}
        self._rendered: dict[tuple[Template, tuple[Any, ...]], str] = {}

    def compile(self, source: str, *, raw_utm: bool = False) -> Template:
        """Compile ``source``; raises ``jinja2.TemplateSyntaxError`` on a syntax error and
        ``RawUtmError`` for a template that reads ``utm.*`` unless ``raw_utm``."""
        tree = self.environment.parse(source)
        if not raw_utm:
            line = _reads_utm(tree)
            if line is not None:
                raise RawUtmError(line)
        template = self.environment.from_string(tree)
        paths = _cache_paths(tree, self.environment)
        self._reads[template] = None if paths is None else tuple(map(_path, paths))
        return template

    def render_for(
        self,
        template: Template,
        profile: Mapping[str, Any],
        campaign: Mapping[str, Any],
        variant: Mapping[str, Any],
        slot: Mapping[str, Any],
        label: str,
        recommend: Callable[..., Any],
    ) -> str | None:
        """``render`` with ``render_context(profile, campaign, variant, slot, recommend)``; a
        template whose output follows from the values it reads is rendered once per set of
        values (a bounded number of them are kept); one that lists recommendations never is."""
        paths = self._reads.get(template)
        key = _key(paths, profile, campaign, variant, slot) if paths is not None else None
        if key is not None:
            found = self._rendered.get((template, key))
            if found is not None:
                return found
        context = render_context(profile, campaign, variant, slot, recommend)
        html = self.render(template, context, label)
        if key is not None and html is not None:
            if len(self._rendered) >= RENDERED_CACHE:
                self._rendered.clear()  # rarely; single dict operations are thread-safe
            self._rendered[(template, key)] = html
        return html

    def render(self, template: Template, context: Mapping[str, Any], label: str) -> str | None:
        """The rendered text, or None (logged and counted) when the template fails."""
        try:
            return template.render(context)
        except Exception as exc:  # any template bug must leave the slot's default in place
            self.errors += 1
            message = str(exc).replace("\n", " ")[:300]
            logger.warning("template %s failed: %s: %s", label, type(exc).__name__, message)
            return None


# Rendered texts kept per campaign set; a cached key holds texts of at most this many characters.
RENDERED_CACHE = 4096
MAX_KEY_TEXT = 512
# Globals whose result follows from their arguments (lipsum() is random; a function handed in
# by the host may read anything).
_PURE_GLOBALS = frozenset({"range", "dict", "namespace", "cycler", "joiner"})
_MISSING = object()  # a value the template finds undefined
_SCALARS = (str, int, float, bool, type(None))


def _cache_paths(tree: nodes.Template, environment: _Sandbox) -> tuple[tuple[str, ...], ...] | None:
    # The paths whose values decide what ``tree`` writes, or None when anything else may: an
    # impure global or filter, an include or import, or a key given by a variable.
    loaded = {node.name for node in tree.find_all(nodes.Name) if node.ctx == "load"}
    if RECOMMENDATIONS in loaded or loaded & (set(environment.globals) - _PURE_GLOBALS):
        return None
    free = meta.find_undeclared_variables(tree)
    for node in tree.find_all((nodes.Filter, nodes.Include, nodes.Import, nodes.FromImport)):
        if not isinstance(node, nodes.Filter) or node.name == "random":
            return None
    for node in tree.find_all(nodes.Getitem):
        if not isinstance(node.arg, nodes.Const) or not isinstance(node.arg.value, str):
            return None
    paths = {read.path for read in _reads(tree) if read.path[0] in free}
    if free - {path[0] for path in paths}:
        return None  # a name used otherwise than read (called, or looped over as a whole)
    return tuple(sorted(paths))


# A path a template reads: where it starts (an index into `_key`'s named objects, or -1 for a
# profile section), the section's name, and the keys read inside it.
_Path = tuple[int, str, tuple[str, ...]]
_NAMED = ("profile", "campaign", "variant", "slot")


def _path(path: tuple[str, ...]) -> _Path:
    head = path[0]
    return (_NAMED.index(head) if head in _NAMED else -1), head, path[1:]


def _key(
    paths: tuple[_Path, ...],
    profile: Mapping[str, Any],
    campaign: Mapping[str, Any],
    variant: Mapping[str, Any],
    slot: Mapping[str, Any],
) -> tuple[Any, ...] | None:
    # The values at ``paths`` as the template would find them in render_context(...), typed
    # (1, 1.0 and True render differently), or None when one is not a plain value.
    if type(profile) is not dict:
        return None
    named = (profile, campaign, variant, slot)
    key: list[Any] = []
    for place, head, keys in paths:
        value: Any = named[place] if place >= 0 else profile.get(head, _MISSING)
        for name in keys:
            if value is _MISSING:
                break
            if type(value) is not dict or (name not in value and hasattr(value, name)):
                return None  # a method, or an attribute of something that is not an object
            value = value.get(name, _MISSING)
        if value is _MISSING:
            key.append(_MISSING)
        elif type(value) in (list, tuple):
            items = [_plain(item) for item in value]
            if any(item is None for item in items):
                return None
            key.append(("list", *items))
        else:
            plain = _plain(value)
            if plain is None:
                return None
            key.append(plain)
    return tuple(key)


def _plain(value: Any) -> tuple[type, Any] | None:
    kind = type(value)
    if kind is float:
        return kind, repr(value)  # -0.0 equals 0.0 but is written otherwise
    if kind in _SCALARS and (kind is not str or len(value) <= MAX_KEY_TEXT):
        return kind, value
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


# A call's argument that is not a constant in the template (a variable, an expression).
VARIABLE = object()


@dataclass(frozen=True, slots=True)
class Called:
    """A call of ``name(...)`` in a template: its line, and its arguments as their values
    where the template writes them as constants (else ``VARIABLE``); ``spread``: the call
    passes ``*args`` or ``**kwargs``, whose contents cannot be known."""

    line: int
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    spread: bool


def template_calls(source: str, name: str) -> list[Called]:
    """The calls of the context function ``name`` in ``source``; raises
    ``jinja2.TemplateSyntaxError``."""
    tree = _parser().parse(source)
    out = []
    for node in tree.find_all(nodes.Call):
        if isinstance(node.node, nodes.Name) and node.node.name == name:
            out.append(
                Called(
                    node.lineno,
                    tuple(_constant(arg) for arg in node.args),
                    {kw.key: _constant(kw.value) for kw in node.kwargs},
                    node.dyn_args is not None or node.dyn_kwargs is not None,
                )
            )
    return out


def _constant(node: nodes.Expr) -> Any:
    try:
        return node.as_const()
    except nodes.Impossible:
        return VARIABLE


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


def no_recommendations(*args: Any, **kwargs: Any) -> list[Any]:
    """``recommendations(...)`` where nothing recommends (the caller handed no function in):
    an empty list."""
    return []


def render_context(
    profile: Mapping[str, Any],
    campaign: Mapping[str, Any],
    variant: Mapping[str, Any],
    slot: Mapping[str, Any],
    recommend: Callable[..., Any] = no_recommendations,
) -> dict[str, Any]:
    """What a template sees: the profile's sections by name, plus the whole profile, the
    campaign, variant and slot it is rendered for, and ``recommendations`` (``recommend``)."""
    context = {key: value for key, value in profile.items() if isinstance(key, str)}
    context["profile"] = profile
    context["campaign"] = campaign
    context["variant"] = variant
    context["slot"] = slot
    context[RECOMMENDATIONS] = recommend
    return context
