"""Brands typed in a form: the target with its aliases, domains and exclude terms, and
the competitors one a line. The new-experiment form and the re-score form share them
(the template macro ``brand_inputs`` in ``experiments/form_brands.html``).

What is typed:

- ``target_name``; ``target_aliases`` and ``target_exclude`` separated by commas;
  ``target_domains`` separated by commas or spaces.
- ``competitors``: one a line, ``Name = alias, alias`` (the aliases are optional).
- ``competitor_domains`` and ``competitor_exclude``: one competitor a line,
  ``Name = value, value``, naming a competitor of the list above.
- A name or alias in double quotes (``"Notion"``) matches only as written
  (case-sensitive); so do names of two characters (``HP``), which cannot match
  otherwise.

The text becomes the input of :class:`~echo_ai.analysis.brands.BrandSet`, validated by
the schema itself; :func:`brand_field` says beside which field a schema error goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from echo_ai.analysis.brands import MIN_TERM_LENGTH, BrandDefinition, BrandSet, BrandTerm

HINT_COMPETITORS = (
    'One competitor a line: Name = alias, alias (aliases optional), e.g. "HubSpot = HubSpot '
    'CRM, HubSpot Sales". Put a name in double quotes to match it only as written.'
)
HINT_PER_COMPETITOR = "One competitor a line: Name = {what}, e.g. {example}."

_LIST = re.compile(r"\s*,\s*")
_DOMAINS = re.compile(r"[\s,]+")


@dataclass
class BrandFields:
    """The brand inputs of a form, as typed (kept when the form is shown again)."""

    target_name: str = ""
    target_aliases: str = ""
    target_domains: str = ""
    target_exclude: str = ""
    competitors: str = ""
    competitor_domains: str = ""
    competitor_exclude: str = ""

    @classmethod
    def from_form(cls, form: dict[str, str]) -> BrandFields:
        return cls(**{f.name: form.get(f.name, "") for f in fields(cls)})

    @classmethod
    def of(cls, brands: BrandSet) -> BrandFields:
        """Stored brands as the form shows them."""
        target = brands.target
        return cls(
            target_name=_term_text(
                BrandTerm(text=target.name, case_sensitive=target.case_sensitive)
            ),
            target_aliases=", ".join(_term_text(alias) for alias in target.aliases),
            target_domains=", ".join(target.domains),
            target_exclude=", ".join(target.exclude_terms),
            competitors="\n".join(_competitor_line(c) for c in brands.competitors),
            competitor_domains="\n".join(
                f"{c.name} = {', '.join(c.domains)}" for c in brands.competitors if c.domains
            ),
            competitor_exclude="\n".join(
                f"{c.name} = {', '.join(c.exclude_terms)}"
                for c in brands.competitors
                if c.exclude_terms
            ),
        )

    @property
    def blank(self) -> bool:
        return not any(getattr(self, f.name).strip() for f in fields(self))

    def brand_set_input(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The input of a :class:`BrandSet` (to validate with the schema) and the errors
        of the text's own form (a line without a name, a domain line for no competitor)."""
        errors: dict[str, str] = {}
        target: dict[str, Any] = {
            **_term(self.target_name, key="name"),
            "aliases": [_term(alias) for alias in _split(self.target_aliases)],
            "domains": [d for d in _DOMAINS.split(self.target_domains.strip()) if d],
            "exclude_terms": _split(self.target_exclude),
        }
        competitors: list[dict[str, Any]] = []
        for number, line in _lines(self.competitors):
            name, _, aliases = line.partition("=")
            if not name.strip():
                errors.setdefault("competitors", f"line {number}: give the competitor's name")
                continue
            competitors.append(
                {**_term(name, key="name"), "aliases": [_term(a) for a in _split(aliases)]}
            )
        by_name = {str(c["name"]).casefold(): c for c in competitors}
        for field, key in (
            ("competitor_domains", "domains"),
            ("competitor_exclude", "exclude_terms"),
        ):
            for number, line in _lines(getattr(self, field)):
                name, sep, values = line.partition("=")
                competitor = by_name.get(_unquoted(name).casefold())
                if not sep or competitor is None:
                    errors.setdefault(
                        field,
                        f"line {number}: write Name = values, with the name of a competitor "
                        "listed above",
                    )
                    continue
                items = _DOMAINS.split(values.strip()) if key == "domains" else _split(values)
                competitor[key] = [*competitor.get(key, []), *(v for v in items if v)]
        return {"target": target, "competitors": competitors}, errors


def brand_field(location: tuple[str | int, ...]) -> str:
    """The form field of a schema error at ``location`` inside a :class:`BrandSet`
    (``("competitors", 2, "domains", 0)`` → ``competitor_domains``)."""
    if not location:
        return "competitors"  # a whole-set rule: a brand listed twice
    if location[0] == "target":
        part = str(location[1]) if len(location) > 1 else "name"
        suffix = {"aliases": "aliases", "domains": "domains", "exclude_terms": "exclude"}
        return f"target_{suffix.get(part, 'name')}"
    part = str(location[2]) if len(location) > 2 else ""
    return {"domains": "competitor_domains", "exclude_terms": "competitor_exclude"}.get(
        part, "competitors"
    )


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _split(text: str) -> list[str]:
    return [item for item in _LIST.split(text.strip()) if item]


def _unquoted(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].strip()
    return text


def _term(text: str, *, key: str = "text") -> dict[str, Any]:
    """A name or alias: quoted, or shorter than matching ignoring case allows, it is
    case-sensitive; otherwise automatic."""
    stripped = text.strip()
    bare = _unquoted(stripped)
    quoted = bare != stripped
    term: dict[str, Any] = {key: bare}
    if quoted or (0 < len(bare) < MIN_TERM_LENGTH):
        term["case_sensitive"] = True
    return term


def _term_text(term: BrandTerm) -> str:
    if term.case_sensitive and len(term.text) >= MIN_TERM_LENGTH:
        return f'"{term.text}"'
    return term.text


def _competitor_line(brand: BrandDefinition) -> str:
    name = _term_text(BrandTerm(text=brand.name, case_sensitive=brand.case_sensitive))
    if not brand.aliases:
        return name
    return f"{name} = {', '.join(_term_text(alias) for alias in brand.aliases)}"
