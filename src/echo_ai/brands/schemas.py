"""Request and response bodies of brand profiles (the definitions are in
:mod:`echo_ai.analysis.brands`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from echo_ai.analysis.brands import MAX_COMPETITORS, BrandDefinition, BrandSet, Term
from echo_ai.brands.models import BrandProfile
from echo_ai.text import MultiLine

MAX_DESCRIPTION_LENGTH = 2_000
MAX_KEYWORDS = 50


class BrandProfileIn(BaseModel):
    """A brand profile as clients send it: the brand, its competitors, and the queries it
    wants to be recommended for."""

    model_config = ConfigDict(extra="forbid")

    brand: BrandDefinition
    competitors: Annotated[list[BrandDefinition], Field(max_length=MAX_COMPETITORS)] = []
    description: Annotated[str, MultiLine(max_length=MAX_DESCRIPTION_LENGTH)] | None = None
    target_keywords: Annotated[list[Term], Field(max_length=MAX_KEYWORDS)] = []

    @model_validator(mode="after")
    def _valid_set(self) -> BrandProfileIn:
        self.brand_set()
        return self

    def brand_set(self) -> BrandSet:
        return BrandSet(target=self.brand, competitors=self.competitors)


class BrandProfileOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    brands: dict[str, Any]
    """The brand (``target``) and its ``competitors``, ready to use in an experiment."""
    target_keywords: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, profile: BrandProfile) -> BrandProfileOut:
        return cls.model_validate(profile, from_attributes=True)
