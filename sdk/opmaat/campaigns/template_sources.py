"""The templates a campaign file holds or names, found in its parsed data: slot defaults and
variants, inline or in template files. Nothing here reports: the loader does that."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opmaat.campaigns.checker import Checker
from opmaat.campaigns.yamlines import Lines
from opmaat.campaigns.yamlines import Path as YPath


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """One template: where the campaign file has it, its text, the template file it was read
    from (as messages name it; None for inline html), whether it may read ``utm.*``, and the
    campaign it belongs to (None for a slot default)."""

    path: YPath
    text: str
    file: str | None
    raw_utm: bool
    campaign: int | None


def template_sources(data: Any, shown_dir: Path, base_dir: Path) -> Iterator[TemplateSource]:
    """Every template of the parsed file that can be read; ``base_dir`` (absolute) is where
    template files are found, ``shown_dir`` how messages name that folder."""
    if not isinstance(data, dict):
        return
    slots = data.get("slots")
    if isinstance(slots, dict):
        for name, spec in slots.items():
            if isinstance(spec, dict):
                yield from _sources(
                    spec, ("slots", name), ("default", "default_template"), shown_dir, base_dir
                )
    campaigns = data.get("campaigns")
    for index, campaign in enumerate(campaigns if isinstance(campaigns, list) else ()):
        variants = campaign.get("variants") if isinstance(campaign, dict) else None
        raw_utm = isinstance(campaign, dict) and campaign.get("raw_utm") is True
        for number, variant in enumerate(variants if isinstance(variants, list) else ()):
            if isinstance(variant, dict):
                path: YPath = ("campaigns", index, "variants", number)
                for found in _sources(variant, path, ("html", "template"), shown_dir, base_dir):
                    yield TemplateSource(found.path, found.text, found.file, raw_utm, index)


def _sources(
    spec: dict[str, Any], path: YPath, keys: tuple[str, str], shown_dir: Path, base_dir: Path
) -> Iterator[TemplateSource]:
    inline, named = keys
    if isinstance(spec.get(inline), str):
        yield TemplateSource((*path, inline), spec[inline], None, False, None)
    name = spec.get(named)
    if isinstance(name, str):
        text = read_template_file(base_dir, name)
        if text is not None:
            yield TemplateSource((*path, named), text, str(shown_dir / name), False, None)


def read_template_file(base_dir: Path, name: str) -> str | None:
    """The text of a template file inside ``base_dir``, or None when the loader would not
    read it (and says why)."""
    file = Checker("", Lines()).file_in(name, (), base_dir, "template file")
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
