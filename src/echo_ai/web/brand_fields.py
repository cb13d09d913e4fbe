"""The brand editor: the one way pages take brands (brand profiles, the new-experiment
form, re-score), with the template macro ``brand_editor`` in ``brands/_fields.html``.

One fieldset per brand, the user's brand first (input names ``brand.<input>``), then the
competitors (``competitors.<n>.<input>``). A brand's inputs:

- ``name``, and ``case_sensitive``: how capital letters count in it: ``""`` automatic
  (the extractor's rule: a name of everyday words must look like a name), ``"1"`` only
  as written, ``"0"`` in any case;
- ``aliases`` (automatic), ``case_aliases`` (only as written), ``any_case_aliases``
  (in any case), ``domains`` (commas also separate them) and ``exclude_terms``: one per
  line.

Every setting of a :class:`~echo_ai.analysis.brands.BrandDefinition` has its input, so a
stored brand shown in the form and sent back unchanged is the same brand (aliases are
grouped by case rule, in their order within each group).

Without JavaScript, "Add another competitor" is a submit button named ``action`` with
the value :data:`ADD_COMPETITOR`: the page shows the form again, everything typed kept,
with one more empty competitor. Empty competitor fieldsets are ignored.

The input is validated by the pages' schemas (``BrandProfileIn``, ``ExperimentCreate``,
``RescoreIn``); :meth:`BrandsForm.input_of` says beside which input an error of the
brands goes (``competitors.1.aliases.0``: the first alias of the second competitor
given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from echo_ai.analysis.brands import MAX_COMPETITORS, BrandDefinition, BrandSet
from echo_ai.web.forms import FORM_ERROR

ADD_COMPETITOR = "add_competitor"
"""The ``action`` of the "Add another competitor" button."""
BRANDS_ERROR = "brands"
"""The key of an error about the brands as a whole (shown above the brand editor)."""
NEW_FORM_COMPETITORS = 3
"""Empty competitor fieldsets of a form with none yet."""
EMPTY_COMPETITORS = 2
"""Empty competitor fieldsets offered below the filled ones of a stored set."""

CASE_RULES: dict[str, bool | None] = {"": None, "1": True, "0": False}
"""The ``case_sensitive`` choice of a name → the definition's ``case_sensitive``."""
LIST_INPUTS = ("aliases", "case_aliases", "any_case_aliases", "domains", "exclude_terms")
ALIAS_INPUTS: dict[bool | None, str] = {
    None: "aliases",
    True: "case_aliases",
    False: "any_case_aliases",
}
"""The aliases box of each case rule, in the order the aliases are sent."""

_COMPETITOR_KEY = re.compile(r"competitors\.(\d+)\.")
_DOMAIN_SEPARATORS = re.compile(r"[\n,]+")


def lines(text: str) -> list[str]:
    """The non-blank lines of a box, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _rule_choice(rule: object) -> str:
    return "1" if rule is True else "0" if rule is False else ""


PROFILE_OR_BRAND = "Choose a brand profile, or type your brand's name here."
"""The error of a form that takes a brand profile or typed brands and got neither."""


@dataclass
class BrandFields:
    """One brand's inputs as typed (or as stored, for an edit)."""

    name: str = ""
    case_sensitive: str = ""
    """``""`` automatic, ``"1"`` only as written, ``"0"`` in any case."""
    aliases: str = ""
    case_aliases: str = ""
    """Aliases matched only as written (capital letters matter), one per line."""
    any_case_aliases: str = ""
    """Aliases matched in any case, even everyday words, one per line."""
    domains: str = ""
    exclude_terms: str = ""

    @property
    def blank(self) -> bool:
        return not any(getattr(self, name).strip() for name in ("name", *LIST_INPUTS))

    def alias_boxes(self) -> list[tuple[str, bool | None, list[str]]]:
        """``(input, case rule, aliases)`` of each aliases box, in the order sent."""
        return [(box, rule, lines(getattr(self, box))) for rule, box in ALIAS_INPUTS.items()]

    def definition(self) -> dict[str, Any]:
        """The input of a :class:`BrandDefinition` (validated by the page's schema)."""
        aliases = [
            {"text": text, "case_sensitive": rule}
            for _, rule, texts in self.alias_boxes()
            for text in texts
        ]
        data: dict[str, Any] = {
            "name": self.name,
            "aliases": aliases,
            "domains": [d.strip() for d in _DOMAIN_SEPARATORS.split(self.domains) if d.strip()],
            "exclude_terms": lines(self.exclude_terms),
        }
        rule = CASE_RULES.get(self.case_sensitive.strip())
        if rule is not None:
            data["case_sensitive"] = rule
        return data

    @classmethod
    def of(cls, brand: BrandDefinition | Mapping[str, Any]) -> BrandFields:
        """A stored brand (a definition, or its stored JSON) as the form shows it."""
        data = brand.model_dump() if isinstance(brand, BrandDefinition) else brand
        boxes: dict[str, list[str]] = {box: [] for box in ALIAS_INPUTS.values()}
        for alias in data.get("aliases", []):
            text, rule = (
                (alias.get("text", ""), alias.get("case_sensitive"))
                if isinstance(alias, Mapping)
                else (str(alias), None)
            )
            boxes[ALIAS_INPUTS.get(rule, "aliases")].append(text)
        return cls(
            name=data.get("name", ""),
            case_sensitive=_rule_choice(data.get("case_sensitive")),
            **{box: "\n".join(texts) for box, texts in boxes.items()},
            domains="\n".join(data.get("domains", [])),
            exclude_terms="\n".join(data.get("exclude_terms", [])),
        )

    @classmethod
    def read(cls, form: Mapping[str, Any], prefix: str) -> BrandFields:
        def text(name: str) -> str:
            value = form.get(f"{prefix}.{name}")
            return value if isinstance(value, str) else ""

        return cls(
            name=text("name"),
            case_sensitive=text("case_sensitive"),
            **{name: text(name) for name in LIST_INPUTS},
        )


@dataclass
class BrandsForm:
    """The user's brand and the competitors, as typed."""

    brand: BrandFields = field(default_factory=BrandFields)
    competitors: list[BrandFields] = field(default_factory=list)

    max_competitors = MAX_COMPETITORS

    @property
    def blank(self) -> bool:
        return self.brand.blank and all(competitor.blank for competitor in self.competitors)

    @property
    def can_add(self) -> bool:
        """Whether "Add another competitor" is offered."""
        return len(self.competitors) < MAX_COMPETITORS

    def with_empty_competitors(self, count: int = 1) -> BrandsForm:
        """``count`` more empty competitors (as many as the limit leaves room for)."""
        room = max(0, MAX_COMPETITORS - len(self.competitors))
        self.competitors += [BrandFields() for _ in range(min(count, room))]
        return self

    def padded(self, empty: int = EMPTY_COMPETITORS) -> BrandsForm:
        """At least ``empty`` empty competitors to fill (fewer at the limit)."""
        missing = empty - sum(1 for competitor in self.competitors if competitor.blank)
        return self.with_empty_competitors(missing) if missing > 0 else self

    def filled(self) -> list[int]:
        """Form indexes of the competitors given (blank fieldsets are ignored)."""
        return [index for index, brand in enumerate(self.competitors) if not brand.blank]

    def brand_set_input(self) -> dict[str, Any]:
        """The input of a :class:`BrandSet` (a profile takes the same two lists)."""
        return {
            "target": self.brand.definition(),
            "competitors": [self.competitors[index].definition() for index in self.filled()],
        }

    @classmethod
    def of(cls, brands: BrandSet | Mapping[str, Any]) -> BrandsForm:
        """A stored brand set (or its stored JSON: ``target`` and ``competitors``)."""
        if isinstance(brands, BrandSet):
            return cls(
                brand=BrandFields.of(brands.target),
                competitors=[BrandFields.of(brand) for brand in brands.competitors],
            )
        return cls(
            brand=BrandFields.of(brands["target"]),
            competitors=[BrandFields.of(brand) for brand in brands.get("competitors", [])],
        )

    @classmethod
    def read(cls, form: Mapping[str, Any]) -> BrandsForm:
        """The brands of a submitted form (or query). The competitor fieldsets are those
        whose inputs were sent (browsers send empty inputs too)."""
        indexes = {
            int(found.group(1))
            for key in form
            if (found := _COMPETITOR_KEY.match(str(key))) is not None
        }
        count = min(max(indexes, default=-1) + 1, MAX_COMPETITORS + 1)
        return cls(
            brand=BrandFields.read(form, "brand"),
            competitors=[BrandFields.read(form, f"competitors.{index}") for index in range(count)],
        )

    def input_of(self, path: Sequence[str | int]) -> str:
        """The input beside which an error of the brands goes, from its path inside the
        brand set (``("competitors", 1, "aliases", 0)``, ``("target", "domains")``) or
        the profile (``("brand", "name")``); :data:`BRANDS_ERROR` for the whole set."""
        parts = [str(part) for part in path]
        if not parts:
            return self._repeated_name()
        if parts[0] in ("target", "brand"):
            prefix, brand, rest = "brand", self.brand, parts[1:]
        elif parts[0] == "competitors" and len(parts) > 1 and parts[1].isdigit():
            filled = self.filled()
            position = int(parts[1])
            if position >= len(filled):
                return BRANDS_ERROR
            index = filled[position]
            prefix, brand, rest = f"competitors.{index}", self.competitors[index], parts[2:]
        else:
            return BRANDS_ERROR
        if rest and rest[0] == "aliases":
            if len(rest) > 1 and rest[1].isdigit():
                position = int(rest[1])
                for box, _, texts in brand.alias_boxes():
                    if position < len(texts):
                        return f"{prefix}.{box}"
                    position -= len(texts)
            return f"{prefix}.aliases"
        if rest and rest[0] in ("domains", "exclude_terms"):
            return f"{prefix}.{rest[0]}"
        return f"{prefix}.name"

    def _repeated_name(self) -> str:
        """The name input of the first brand given twice (the set's own rule)."""
        seen: set[str] = set()
        named = [("brand", self.brand)] + [
            (f"competitors.{index}", self.competitors[index]) for index in self.filled()
        ]
        for prefix, brand in named:
            key = " ".join(brand.name.split()).casefold()
            if key and key in seen:
                return f"{prefix}.name"
            seen.add(key)
        return BRANDS_ERROR

    def errors(self, errors: Mapping[str, str], *, within: str = "") -> dict[str, str]:
        """Schema errors (by dotted path) by input: those under ``within`` (``brands``
        for an experiment, the root for a profile) go beside the brand inputs, the others
        keep their key. The first message of each input is kept."""
        shown: dict[str, str] = {}
        for path, message in errors.items():
            parts = [] if path in ("", FORM_ERROR) else path.split(".")
            if within:
                if not parts or parts[0] != within:
                    shown.setdefault(path, message)
                    continue
                parts = parts[1:]
            elif parts and parts[0] not in ("brand", "target", "competitors"):
                shown.setdefault(path, message)
                continue
            shown.setdefault(self.input_of(parts), message)
        return shown

    @staticmethod
    def is_input(key: str) -> bool:
        """Whether ``key`` (of :meth:`errors`) is of the brand editor."""
        return key == BRANDS_ERROR or key.startswith(("brand.", "competitors."))

    def has_errors(self, errors: Mapping[str, str]) -> bool:
        return any(self.is_input(key) for key in errors)


def brands_input(profile_id: str, brands: BrandsForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The brands of a form that takes a stored brand profile or brands typed in place (the
    new-experiment and new-tracker forms): ``{"brand_profile_id": ...}`` when a profile is
    chosen (typed brands are then ignored), else ``{"brands": ...}``; and the error beside
    the brand's name when neither is given."""
    if profile_id:
        return {"brand_profile_id": profile_id}, {}
    if brands.blank:
        return {}, {"brand.name": PROFILE_OR_BRAND}
    return {"brands": brands.brand_set_input()}, {}
