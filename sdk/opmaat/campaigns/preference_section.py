"""The campaign file's ``preferences`` section: the preference fields visitors may set, and the
offers file those fields filter for the ``offers`` of a profile (docs/campaign-types.md).

```yaml
preferences:
  fields:
    size: {label: Size, values: [40, 41, 42, 43, 44], column: sizes}
    budget: {label: Budget, type: number, min: 0, max: 1000, column: price}
  offers: offers.csv
```
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from opmaat.campaigns.checker import Checker, describe, is_number
from opmaat.campaigns.site_data import data_file
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.cart import ProductError, clean_product
from opmaat.errors import ConfigError, Problem
from opmaat.offers import index_offers
from opmaat.preference_fields import (
    FIELD_NAME,
    FIELD_TYPES,
    MAX_FIELDS,
    MAX_VALUE_CHARS,
    MAX_VALUES,
    RESERVED,
    Offer,
    PreferenceField,
    Preferences,
)

SECTION_KEYS = ("fields", "offers")
FIELD_KEYS = ("label", "type", "values", "min", "max", "column")
MAX_LABEL = 60
MAX_OFFERS = 500
MAX_OFFERS_BYTES = 1024 * 1024
MAX_PROBLEMS = 50
OFFER_COLUMNS = ("id", "name", "url", "price", "category", "image", "in_stock")
REQUIRED_COLUMNS = ("id", "name", "url")
_TRUE = frozenset({"true", "yes", "y", "1", ""})
_FALSE = frozenset({"false", "no", "n", "0"})


def section(check: Checker, value: Any, base_dir: Path) -> Preferences:
    """The section as the file writes it (the offers file is named, not read: ``load_offers``)."""
    path: YPath = ("preferences",)
    if value is None:
        return Preferences()
    spec = check.mapping(value, path, SECTION_KEYS)
    if spec is None:
        return Preferences()
    fields = _fields(check, spec.get("fields"), (*path, "fields"))
    offers_file = None
    if spec.get("offers") is not None:
        offers_file = data_file(check, spec["offers"], (*path, "offers"), base_dir)
    elif any(f.column for f in fields.values()):
        named = next(f.name for f in fields.values() if f.column)
        check.report(
            (*path, "fields", named, "column"),
            "a column filters the offers file: name it under preferences.offers",
        )
    return Preferences(fields=fields, offers_file=offers_file)


def _fields(check: Checker, value: Any, path: YPath) -> dict[str, PreferenceField]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        check.report(path, f"expected a mapping of field names to fields, got {describe(value)}")
        return {}
    if len(value) > MAX_FIELDS:
        check.report(path, f"at most {MAX_FIELDS} preference fields")
        return {}
    out: dict[str, PreferenceField] = {}
    for name, spec in value.items():
        where = (*path, name)
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
            check.report(where, f"'{str(name)[:40]}' is not a field name: use a-z, 0-9 and '_'")
        elif name in RESERVED:
            check.report(where, f"'{name}' is prefs.{name} already; give the field another name")
        else:
            found = _field(check, name, spec, where)
            if found is not None:
                out[name] = found
    return out


def _field(check: Checker, name: str, value: Any, path: YPath) -> PreferenceField | None:
    spec = {} if value is None else check.mapping(value, path, FIELD_KEYS)
    if spec is None:
        return None
    before = len(check.problems)
    label = check.text(spec.get("label", name.replace("_", " ").capitalize()), (*path, "label"))
    if label is not None and (not label.strip() or len(label) > MAX_LABEL):
        check.report((*path, "label"), f"a label is one line of 1 to {MAX_LABEL} characters")
    kind = check.choice(spec.get("type", "choice"), (*path, "type"), FIELD_TYPES)
    column = None
    if spec.get("column") is not None:
        column = check.text(spec["column"], (*path, "column"))
        if column is not None and column.strip().lower() != column:
            check.report((*path, "column"), f"write the column as a lower-case header: '{column}'")
    values: tuple[str, ...] = ()
    low, high = 0.0, 1_000_000_000.0
    if kind == "choice":
        values = _values(check, spec.get("values"), (*path, "values"))
        for key in ("min", "max"):
            if key in spec:
                check.report((*path, key), f"'{key}' is for a number field (type: number)")
    elif kind == "number":
        if "values" in spec:
            check.report((*path, "values"), "'values' is for a choice field")
        low = _bound(check, spec.get("min", low), (*path, "min"))
        high = _bound(check, spec.get("max", high), (*path, "max"))
        if low > high:
            check.report((*path, "max"), f"max ({high:g}) is below min ({low:g})")
    if len(check.problems) > before or label is None or kind is None:
        return None
    return PreferenceField(name, label.strip(), kind, values, low, high, column)


def _values(check: Checker, value: Any, path: YPath) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        check.report(path, f"a choice field lists its values, got {describe(value)}")
        return ()
    if len(value) > MAX_VALUES:
        check.report(path, f"at most {MAX_VALUES} values")
        return ()
    out: list[str] = []
    for index, item in enumerate(value):
        text = (f"{item:g}" if isinstance(item, float) else str(item)) if is_number(item) else item
        if not isinstance(text, str) or not 0 < len(text) <= MAX_VALUE_CHARS:
            check.report((*path, index), f"a value is text of 1 to {MAX_VALUE_CHARS} characters")
        elif not text.isprintable() or "|" in text:
            check.report((*path, index), "a value is one line, without '|'")
        elif text in out:
            check.report((*path, index), f"'{text}' is listed twice")
        else:
            out.append(text)
    return tuple(out)


def _bound(check: Checker, value: Any, path: YPath) -> float:
    if is_number(value) and -1e9 <= value <= 1e9:
        return float(value)
    check.report(path, f"expected a number from -1e9 to 1e9, got {describe(value)}")
    return 0.0


# The offers file ---------------------------------------------------------------------------


def load_offers(preferences: Preferences) -> Preferences:
    """The section with its offers file read; raises ConfigError naming file:line: field for
    each mistake. No file named, or none there yet, is no offers."""
    path = preferences.offers_file
    if path is None:
        return preferences
    name = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_OFFERS_BYTES + 1)
    except FileNotFoundError:
        return preferences
    except OSError as exc:
        raise _fail(name, 1, "file", f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_OFFERS_BYTES:
        raise _fail(name, 1, "file", f"larger than {MAX_OFFERS_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise _fail(name, data.count(b"\n", 0, exc.start) + 1, "file", "not UTF-8 text") from None
    offers = _read(text, name, preferences)
    return Preferences(preferences.fields, path, offers, index_offers(preferences.fields, offers))


def _fail(file: str, line: int, field: str, message: str) -> ConfigError:
    return ConfigError([Problem(file, line, field, message)])


def _read(text: str, name: str, preferences: Preferences) -> tuple[Offer, ...]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip().lower().replace(" ", "_") for cell in next(reader, [])]
    except csv.Error as exc:
        raise _fail(name, 1, "header", f"not readable as CSV: {exc}") from None
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise _fail(name, 1, "header", f"no {column} column (the columns: {', '.join(header)})")
    for pref in preferences.fields.values():
        if pref.column is not None and pref.column not in header:
            message = f"no {pref.column} column, which preferences.fields.{pref.name} filters on"
            raise _fail(name, 1, "header", message)
    problems: list[Problem] = []
    offers: list[Offer] = []
    first: dict[str, int] = {}
    line = 2
    while len(problems) < MAX_PROBLEMS:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            problems.append(Problem(name, reader.line_num, "row", f"not readable as CSV: {exc}"))
            break
        if cells is None:
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(offers) >= MAX_OFFERS:
            raise _fail(name, start, "row", f"more than {MAX_OFFERS} offers")
        if len(cells) != len(header):
            message = f"has {len(cells)} cells, the header has {len(header)}"
            problems.append(Problem(name, start, "row", message))
            continue
        row = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        offer, wrong = _offer(row, len(offers), preferences)
        problems.extend(Problem(name, start, field, message) for field, message in wrong)
        if offer is None:
            continue
        if offer.id in first:
            message = f"duplicate id {offer.id!r}, first on line {first[offer.id]}"
            problems.append(Problem(name, start, "id", message))
        first.setdefault(offer.id, start)
        offers.append(offer)
    if problems:
        raise ConfigError(problems[:MAX_PROBLEMS])
    return tuple(offers)


def _offer(
    row: dict[str, str], position: int, preferences: Preferences
) -> tuple[Offer | None, list[tuple[str, str]]]:
    given: dict[str, Any] = {k: row[k] for k in OFFER_COLUMNS[:-1] if row.get(k)}
    wrong: list[tuple[str, str]] = []
    for column in REQUIRED_COLUMNS:
        if column not in given:
            wrong.append((column, "missing"))
    if "price" in given:
        price = _price(given["price"])
        if price is None:
            wrong.append(("price", f"{given['price'][:40]!r} is not a price"))
        given["price"] = price
    stock = row.get("in_stock", "").lower()
    if stock not in _TRUE | _FALSE:
        wrong.append(("in_stock", f"{stock[:40]!r} is not true or false"))
    choices: dict[str, frozenset[str]] = {}
    numbers: dict[str, float] = {}
    for pref in preferences.fields.values():
        cell = row.get(pref.column or "", "")
        if pref.column is None or not cell:
            continue
        if pref.type == "choice":
            choices[pref.column] = frozenset(p.strip() for p in cell.split("|") if p.strip())
            continue
        number = _price(cell) if pref.column != "price" else given.get("price")
        if number is None:
            wrong.append((pref.column, f"{cell[:40]!r} is not a number"))
        else:
            numbers[pref.column] = number
    if wrong:
        return None, wrong
    try:
        product = clean_product(given)
    except ProductError as exc:
        field = str(exc).removeprefix("product.").split(" ", 1)[0]
        return None, [(field, str(exc))]
    return Offer(
        id=product["id"],
        name=product["name"],
        url=product["url"],
        position=position,
        price=product.get("price"),
        category=product.get("category"),
        image=product.get("image"),
        in_stock=stock not in _FALSE,
        choices=choices,
        numbers=numbers,
    ), []


def _price(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 1_000_000_000 else None


# The section in the campaign file's JSON Schema (json_schema.py) -------------------------

SCHEMA_TOP = {
    "$ref": "#/$defs/preferences",
    "description": "preference fields visitors set on /me, and the offers they filter "
    "(docs/campaign-types.md#personalized-filters-and-offers)",
}


def schema_defs() -> dict[str, Any]:
    """The ``$defs`` entries of the section."""
    field = {
        "label": {"type": "string", "maxLength": MAX_LABEL, "description": "what /me calls it"},
        "type": {"enum": list(FIELD_TYPES), "description": "choice (default) or number"},
        "values": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_VALUES,
            "items": {"type": ["string", "number"]},
            "description": "a choice field's values",
        },
        "min": {"type": "number", "description": "a number field's lowest value (default 0)"},
        "max": {"type": "number", "description": "a number field's highest value"},
        "column": {
            "type": "string",
            "description": "the offers file's column it filters: a choice column lists values "
            "separated by '|', a number column is at most the visitor's value",
        },
    }
    return {
        "preferences": {
            "type": "object",
            "properties": {
                "fields": {
                    "type": "object",
                    "maxProperties": MAX_FIELDS,
                    "propertyNames": {
                        "pattern": f"^(?:{FIELD_NAME.pattern})$",
                        "not": {"enum": list(RESERVED)},
                    },
                    "additionalProperties": {"$ref": "#/$defs/preference_field"},
                    "description": "the fields, by name: prefs.<name> in the profile",
                },
                "offers": {
                    "type": "string",
                    "description": "the offers file (CSV), relative to this file",
                },
            },
            "additionalProperties": False,
        },
        "preference_field": {
            "type": "object",
            "properties": field,
            "additionalProperties": False,
        },
    }
