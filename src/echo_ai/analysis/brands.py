"""Brand and competitor definitions, validated with hard size limits.

These are what the extractor matches answers against. Limits keep a single experiment's
matching work (and its stored configuration) bounded whatever a client sends.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from echo_ai.text import SingleLine

MAX_COMPETITORS = 50
MAX_ALIASES = 20
MAX_DOMAINS = 20
MAX_EXCLUDE_TERMS = 50
MAX_NAME_LENGTH = 100
MAX_TERM_LENGTH = 100
MAX_DOMAIN_LENGTH = 253
MAX_DOMAIN_INPUT_LENGTH = 2_048
"""A domain may be given as a URL (``https://www.hubspot.com/pricing``): only its host is
kept, and that must be a domain name of at most ``MAX_DOMAIN_LENGTH``."""
MIN_TERM_LENGTH = 3
"""Shortest name or alias matched case-insensitively ("Box" yes, "hp" no)."""
MIN_CASE_SENSITIVE_TERM_LENGTH = 2
"""Shortest name or alias at all; two-letter terms ("HP", "GE") must be case-sensitive."""

_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$",
)


Name = Annotated[str, SingleLine(min_length=1, max_length=MAX_NAME_LENGTH)]
Term = Annotated[str, SingleLine(min_length=1, max_length=MAX_TERM_LENGTH)]
"""An alias, an exclude term, a keyword."""


def _clean(text: str) -> str:
    return " ".join(text.split())


class BrandTerm(BaseModel):
    """A name or alias. ``case_sensitive=None`` lets the extractor decide (common words are)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: Term
    case_sensitive: StrictBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return _clean(value)

    @model_validator(mode="after")
    def _long_enough(self) -> BrandTerm:
        length = len(self.text)
        if length < MIN_CASE_SENSITIVE_TERM_LENGTH:
            raise ValueError(
                f"brand term {self.text!r} is too short "
                f"(at least {MIN_CASE_SENSITIVE_TERM_LENGTH} characters)"
            )
        if length < MIN_TERM_LENGTH and self.case_sensitive is not True:
            raise ValueError(
                f"brand term {self.text!r} is shorter than {MIN_TERM_LENGTH} characters: "
                "mark it case_sensitive so that it only matches as written"
            )
        return self


class BrandDefinition(BaseModel):
    """One tracked brand: the target or a competitor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    case_sensitive: StrictBool | None = None
    """Case rule for the name itself; ``None`` = automatic (see :class:`BrandTerm`)."""
    aliases: Annotated[list[BrandTerm], Field(max_length=MAX_ALIASES)] = []
    domains: Annotated[
        list[Annotated[str, SingleLine(max_length=MAX_DOMAIN_INPUT_LENGTH)]],
        Field(max_length=MAX_DOMAINS),
    ] = []
    exclude_terms: Annotated[list[Term], Field(max_length=MAX_EXCLUDE_TERMS)] = []
    """Phrases in which a match is not this brand ("toolbox", "zoom in")."""

    @field_validator("name")
    @classmethod
    def _normalise_name(cls, value: str) -> str:
        value = _clean(value)
        if not value:
            raise ValueError("brand name must not be blank")
        return value

    @field_validator("domains")
    @classmethod
    def _valid_domains(cls, values: list[str]) -> list[str]:
        cleaned: list[str] = []
        for raw in values:
            domain = re.sub(r"^[a-z]+://", "", raw.strip().lower()).split("/", 1)[0]
            domain = domain.removeprefix("www.")
            if len(domain) > MAX_DOMAIN_LENGTH or not _DOMAIN_RE.match(domain):
                raise ValueError(f"{raw!r} is not a valid domain name (e.g. 'hubspot.com')")
            if domain not in cleaned:
                cleaned.append(domain)
        return cleaned

    @model_validator(mode="after")
    def _name_is_a_valid_term(self) -> BrandDefinition:
        BrandTerm(text=self.name, case_sensitive=self.case_sensitive)
        return self

    @property
    def terms(self) -> list[BrandTerm]:
        """The name followed by the aliases, without repeats."""
        seen: set[str] = set()
        out: list[BrandTerm] = []
        for term in [BrandTerm(text=self.name, case_sensitive=self.case_sensitive), *self.aliases]:
            if term.text.casefold() not in seen:
                seen.add(term.text.casefold())
                out.append(term)
        return out


class BrandSet(BaseModel):
    """The target brand and its competitors, as an experiment tracks them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: BrandDefinition
    competitors: Annotated[list[BrandDefinition], Field(max_length=MAX_COMPETITORS)] = []

    @model_validator(mode="after")
    def _unique_names(self) -> BrandSet:
        seen: set[str] = set()
        for brand in self.all:
            key = brand.name.casefold()
            if key in seen:
                raise ValueError(f"brand {brand.name!r} is listed twice")
            seen.add(key)
        return self

    @property
    def all(self) -> list[BrandDefinition]:
        return [self.target, *self.competitors]

    @property
    def names(self) -> list[str]:
        return [brand.name for brand in self.all]
