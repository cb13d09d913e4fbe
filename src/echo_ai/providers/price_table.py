"""The price table: reading ``prices.toml`` and an operator's file of the same shape.

The shipped table (``prices.toml`` next to this module) is read once; an operator's file
(``ECHO_AI_PRICES_FILE``) replaces fields of the families it names and adds the ones it
does not find. A file that cannot be read is refused with its line (TOML syntax) or its
entry and field (anything else), so a service never starts on a price it misread.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, Final

CONTEXT_SIZES: Final = ("low", "medium", "high")
"""Search context sizes a request fee may depend on (Perplexity's ``search_context_size``)."""

FLAT: Final = ""
"""The key of a request fee that does not depend on the search context size."""

_PRICES: Final = ("input_per_million", "output_per_million")
_OPTIONAL_PRICES: Final = (
    "reasoning_per_million",
    "citation_per_million",
    "search_per_thousand",
    "grounded_answer_per_thousand",
)
_FIELDS: Final = frozenset(
    (*_PRICES, *_OPTIONAL_PRICES, "request_per_thousand", "default_context", "read", "source")
)


class PriceFileError(ValueError):
    """A price file that cannot be used; the message names the file and where it is wrong."""


@dataclass(frozen=True, slots=True)
class FamilyPrice:
    """What one model family costs (USD); None: not known, never free."""

    vendor: str
    family: str
    input_per_million: Decimal | None
    output_per_million: Decimal | None
    read: str
    """When the prices were read from the vendor (a date, or dates per part)."""
    source: str | None = None
    reasoning_per_million: Decimal | None = None
    """Reasoning tokens where the vendor prices them apart; else they are output tokens."""
    citation_per_million: Decimal | None = None
    """Tokens read from cited sources, where the vendor bills them apart."""
    search_per_thousand: Decimal | None = None
    """Each web search (search query) an answer ran."""
    grounded_answer_per_thousand: Decimal | None = None
    """Once per answer that searched, however many searches it ran."""
    request_per_thousand: Mapping[str, Decimal] = field(default_factory=dict)
    """Every request: by search context size, or under :data:`FLAT` for all sizes."""
    default_context: str | None = None
    """The search context size the vendor uses when the request names none."""

    @property
    def bills_searches(self) -> bool:
        """Whether a search is paid for (apart, or by the request fee that covers it)."""
        return bool(
            self.search_per_thousand is not None
            or self.grounded_answer_per_thousand is not None
            or self.request_per_thousand
        )


PriceTable = dict[str, dict[str, FamilyPrice]]
"""Families by vendor, then by family name (lower case)."""


def _money(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PriceFileError(f'{where}: a price is a number or a string like "2.50"')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PriceFileError(f"{where}: {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise PriceFileError(f"{where}: a price is a number of dollars, 0 or more")
    return amount


def _request_fees(value: Any, where: str) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        return {FLAT: _money(value, where)}
    fees: dict[str, Decimal] = {}
    for size, amount in value.items():
        if size not in CONTEXT_SIZES:
            raise PriceFileError(
                f"{where}: {size!r} is not a search context size ({', '.join(CONTEXT_SIZES)})"
            )
        fees[size] = _money(amount, f"{where}.{size}")
    if not fees:
        raise PriceFileError(f"{where}: give a fee, or one per search context size")
    return fees


def _family(vendor: str, family: str, entry: Any, base: FamilyPrice | None) -> FamilyPrice:
    where = f"{vendor}.{family}"
    if not isinstance(entry, Mapping):
        raise PriceFileError(f'{where}: expected a table of prices ([{vendor}."{family}"])')
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise PriceFileError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_FIELDS))})"
        )
    if base is None:
        missing = [name for name in (*_PRICES, "read") if name not in entry]
        if missing:
            raise PriceFileError(
                f"{where}: a family not in the shipped table needs {', '.join(missing)}"
            )
    values: dict[str, Any] = {}
    for name in (*_PRICES, *_OPTIONAL_PRICES):
        if name in entry:
            values[name] = _money(entry[name], f"{where}.{name}")
    if "request_per_thousand" in entry:
        values["request_per_thousand"] = _request_fees(
            entry["request_per_thousand"], f"{where}.request_per_thousand"
        )
    for name in ("read", "source"):
        if name in entry:
            if not isinstance(entry[name], str) or not entry[name].strip():
                raise PriceFileError(f"{where}.{name}: expected text")
            values[name] = entry[name].strip()
    if "default_context" in entry:
        if entry["default_context"] not in CONTEXT_SIZES:
            raise PriceFileError(f"{where}.default_context: one of {', '.join(CONTEXT_SIZES)}")
        values["default_context"] = entry["default_context"]
    if base is None:
        return FamilyPrice(vendor=vendor, family=family, **values)
    return _replaced(base, values)


def _replaced(base: FamilyPrice, values: Mapping[str, Any]) -> FamilyPrice:
    return dataclasses.replace(base, **values)


def merge(table: PriceTable, document: Mapping[str, Any], *, vendors: frozenset[str]) -> PriceTable:
    """``table`` with the families of ``document`` (parsed TOML) replaced or added."""
    merged = {vendor: dict(families) for vendor, families in table.items()}
    for vendor, families in document.items():
        if vendor not in vendors:
            raise PriceFileError(f"{vendor}: not a vendor ({', '.join(sorted(vendors))})")
        if not isinstance(families, Mapping):
            raise PriceFileError(f'{vendor}: expected families ([{vendor}."model-family"])')
        known = merged.setdefault(vendor, {})
        for name, entry in families.items():
            family = name.strip().lower()
            if not family:
                raise PriceFileError(f"{vendor}: a family needs a name")
            known[family] = _family(vendor, family, entry, known.get(family))
    return merged


def parse(text: str, *, origin: str, table: PriceTable, vendors: frozenset[str]) -> PriceTable:
    """``table`` with the entries of the TOML ``text`` merged; errors name ``origin``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message ends with "(at line L, column C)".
        raise PriceFileError(f"{origin}: not valid TOML: {exc}") from None
    try:
        return merge(table, document, vendors=vendors)
    except PriceFileError as exc:
        raise PriceFileError(f"{origin}: {exc}") from None


def shipped(vendors: frozenset[str]) -> PriceTable:
    """The table shipped with Echo AI (``prices.toml``)."""
    text = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
    return parse(text, origin="prices.toml", table={}, vendors=vendors)


def with_file(table: PriceTable, path: Path, vendors: frozenset[str]) -> PriceTable:
    """``table`` with an operator's price file merged over it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceFileError(f"price file {path}: cannot be read ({exc})") from None
    return parse(text, origin=f"price file {path}", table=table, vendors=vendors)
