"""The product feed: the catalogue recommendations are drawn from.

From a file (``load_feed``), CSV with a header row or a JSON array of objects, with the
columns/keys ``id``, ``name``, ``url`` (required) and ``price``, ``category``, ``image``,
``in_stock`` (default true), ``excluded`` (default false); other columns are ignored and named
in ``Feed.ignored``. Every field is checked as the events' products are (``cart.clean_product``):
an id of 1-100 characters, a price from 0, a url that is a path or an http(s) URL. One bad row
rejects the whole file with ``file:line: field: message`` for each mistake, so the caller keeps
serving the feed it had.

Without a file, ``Feed.from_pages`` learns the catalogue from the product pages visitors view
(``product_from_page``), keeping the ``max_products`` most recently seen.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opmaat.cart import MAX_NAME_CHARS, ProductError, clean_product
from opmaat.errors import ConfigError, Problem

MAX_FEED_BYTES = 64 * 1024 * 1024
MAX_FEED_ROWS = 1_000_000
MAX_PROBLEMS = 50
REQUIRED = ("id", "name", "url")
OPTIONAL = ("price", "category", "image", "in_stock", "excluded")
_PRICE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,6})?")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


@dataclass(frozen=True, slots=True)
class Product:
    """One product of the catalogue."""

    id: str
    name: str
    url: str
    price: float | None = None
    category: str | None = None
    image: str | None = None
    in_stock: bool = True
    excluded: bool = False

    @property
    def available(self) -> bool:
        """Whether it may be recommended: in stock and not excluded."""
        return self.in_stock and not self.excluded


class Feed:
    """The products by id. A feed read from a file is fixed (replace it whole on reload); one
    made with ``from_pages`` grows as product pages are viewed (``note``)."""

    def __init__(
        self,
        products: Iterable[Product] = (),
        *,
        source: str | None = None,
        ignored: tuple[str, ...] = (),
        learns: bool = False,
        max_products: int = 10_000,
    ) -> None:
        self.products: dict[str, Product] = {p.id: p for p in products}
        self.source = source
        self.ignored = ignored
        self.learns = learns
        self.max_products = max_products

    @classmethod
    def from_pages(cls, max_products: int = 10_000) -> Feed:
        """An empty feed that learns products from the pages visitors view."""
        return cls(learns=True, max_products=max_products)

    def get(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self.products

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products.values())

    def note(self, product: Product) -> bool:
        """Take a product seen on a page (a feed from a file ignores it: the file is the
        catalogue). The least recently seen goes when there are ``max_products``."""
        if not self.learns:
            return False
        self.products.pop(product.id, None)
        self.products[product.id] = product
        while len(self.products) > self.max_products:
            del self.products[next(iter(self.products))]
        return True


_Row = dict[str, Any] | str  # a row's cells by column, or what makes it unreadable


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message


def _checked(field: str, value: Any) -> Any:
    # The events' own product check, one field at a time, so each mistake names its field.
    payload = {"id": value} if field == "id" else {"id": "-", field: value}
    try:
        return clean_product(payload)[field]
    except ProductError as exc:
        raise _Bad(field, str(exc).removeprefix(f"product.{field} ")) from None


def _price(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not _PRICE.fullmatch(text):
            raise _Bad("price", f"{text[:40]!r} is not a price: digits, a dot for decimals")
        return float(text)
    return value


def _flag(field: str, value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Bad(field, f"{str(value)[:40]!r} is not true or false")


def _product(row: Mapping[str, Any]) -> tuple[Product | None, list[tuple[str, str]]]:
    """The product of one row, or the mistakes in it as (field, message)."""
    values: dict[str, Any] = {}
    wrong: list[tuple[str, str]] = []
    for field in (*REQUIRED, *OPTIONAL):
        raw = row.get(field)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if field in REQUIRED:
                wrong.append((field, "missing"))
            continue
        try:
            if field in ("in_stock", "excluded"):
                values[field] = _flag(field, raw, field == "in_stock")
            else:
                values[field] = _checked(field, _price(raw) if field == "price" else raw)
        except _Bad as bad:
            wrong.append((bad.field, bad.message))
    if wrong:
        return None, wrong
    if "price" in values:
        values["price"] = float(values["price"])
    return Product(**values), []


def _fail(filename: str, line: int, field: str, message: str) -> ConfigError:
    return ConfigError([Problem(filename, line, field, message)])


def _columns(cells: list[str], filename: str) -> tuple[list[str], set[str]]:
    names = [c.strip().lower().replace(" ", "_").replace("-", "_") for c in cells]
    for name in REQUIRED:
        if name not in names:
            raise _fail(
                filename, 1, "header", f"no {name} column (the columns: {', '.join(names[:20])})"
            )
    for number, name in enumerate(names, 1):
        if name in names[: number - 1]:
            raise _fail(filename, 1, "header", f"column {number} repeats {name!r}")
    known = (*REQUIRED, *OPTIONAL)
    return names, {n for n in names if n not in known}


def _rows_csv(text: str, filename: str) -> tuple[Iterator[tuple[int, _Row]], set[str]]:
    first = io.StringIO(text, newline="").readline()
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def unreadable(exc: csv.Error) -> ConfigError:
        return _fail(filename, reader.line_num, "row", f"not readable as CSV: {exc}")

    try:
        names, ignored = _columns(next(reader), filename)
    except csv.Error as exc:
        raise unreadable(exc) from None

    def rows() -> Iterator[tuple[int, _Row]]:
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise unreadable(exc) from None
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                yield start, f"has {len(cells)} cells, the header has {len(names)}"
            else:
                yield start, dict(zip(names, cells, strict=True))

    return rows(), ignored


def _rows_json(text: str, filename: str) -> tuple[Iterator[tuple[int, _Row]], set[str]]:
    decoder = json.JSONDecoder()
    at = len(text) - len(text.lstrip())
    if not text.startswith("[", at):
        raise _fail(filename, 1, "products", "a JSON feed is an array of product objects")
    known = (*REQUIRED, *OPTIONAL)
    ignored: set[str] = set()

    def rows() -> Iterator[tuple[int, _Row]]:
        pos, line, counted = at + 1, 1, 0
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            line += text.count("\n", counted, pos)
            counted = pos
            if pos >= len(text):
                raise _fail(filename, line, "products", "the array is not closed")
            if text[pos] == "]":
                if text[pos + 1 :].strip():
                    raise _fail(filename, line, "products", "text after the array")
                return
            try:
                row, pos = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError) as exc:
                raise _fail(filename, line, "products", f"not JSON: {exc}") from None
            if isinstance(row, dict):
                ignored.update(k for k in row if k not in known)
                yield line, row
            else:
                yield line, "not an object"

    return rows(), ignored  # filled as the rows are read


def parse_feed(text: str, *, filename: str, kind: str) -> Feed:
    """The feed in ``text`` (``kind`` ``csv`` or ``json``); raises ConfigError listing each
    mistake as ``file:line: field: message`` (at most MAX_PROBLEMS of them)."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise _fail(filename, 1, "header", "the file is empty")
    reader = _rows_csv if kind == "csv" else _rows_json
    rows, ignored = reader(text, filename)
    products: dict[str, Product] = {}
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for count, (line, row) in enumerate(rows, 1):
        if count > MAX_FEED_ROWS:
            raise _fail(filename, line, "row", f"more than {MAX_FEED_ROWS} products")
        product, wrong = _product(row) if isinstance(row, dict) else (None, [("row", row)])
        problems.extend(Problem(filename, line, field, message) for field, message in wrong)
        if product is not None:
            if product.id in first:
                message = f"duplicate id {product.id!r}, first on line {first[product.id]}"
                problems.append(Problem(filename, line, "id", message))
            first.setdefault(product.id, line)
            products[product.id] = product
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise ConfigError(problems[:MAX_PROBLEMS])
    if not products:
        raise _fail(filename, 1, "products", "no products")
    return Feed(products.values(), source=filename, ignored=tuple(sorted(ignored)))


def load_feed(path: Path) -> Feed:
    """The feed in a ``.csv`` or ``.json`` file; raises ConfigError naming file:line: field."""
    name = str(path)
    kind = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json"}.get(path.suffix.lower())
    if kind is None:
        raise _fail(name, 1, "file", "a feed is a .csv or a .json file")
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FEED_BYTES + 1)
    except OSError as exc:
        raise _fail(name, 1, "file", f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_FEED_BYTES:
        raise _fail(name, 1, "file", f"larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(name, line, "file", "not UTF-8 text") from None
    return parse_feed(text, filename=name, kind=kind)


def product_from_page(page: Mapping[str, Any]) -> Product | None:
    """The product a page shows, from the page data the snippet (or the middleware) sends:
    ``product`` (the JSON-LD sku, productID or name), ``product_name``, ``category``,
    ``price`` and the page's ``path`` as its url. None when the page names no product, or
    none with a name and a url."""
    # Imported here: opmaat.tracking needs the campaign loader, which reads this package.
    from opmaat.tracking import page_product

    found = page_product(page)
    if found is None or not found.get("name") or "url" not in found:
        return None
    name = str(found["name"])[:MAX_NAME_CHARS]
    price = found.get("price")
    return Product(
        id=found["id"],
        name=name,
        url=found["url"],
        price=float(price) if price is not None else None,
        category=found.get("category"),
    )
