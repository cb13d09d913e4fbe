"""Validated input for an experiment, whether it comes from the CLI, a TOML file or the API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from echo_ai.analysis.brands import BrandSet
from echo_ai.providers.registry import ProviderSpec
from echo_ai.schedules.schemas import ScheduleIn

MAX_ITERATIONS = 10_000
MAX_PROVIDERS = 10
MAX_PROMPT_LENGTH = 4_000


class UserLocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: Annotated[str | None, Field(pattern=r"^[A-Z]{2}$")] = None
    region: Annotated[str | None, Field(max_length=100)] = None
    city: Annotated[str | None, Field(max_length=100)] = None
    timezone: Annotated[str | None, Field(max_length=64)] = None


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(max_length=200)] = None
    prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_LENGTH)]
    brands: BrandSet | None = None
    """The brands to track; or give ``brand_profile_id`` to use a stored brand profile."""
    brand_profile_id: uuid.UUID | None = None
    """A brand profile of the workspace whose brands to track (copied: later edits of the
    profile do not change this experiment)."""
    providers: Annotated[list[str], Field(min_length=1, max_length=MAX_PROVIDERS)] = ["demo"]
    iterations: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] = 50
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0
    grounding: bool = False
    require_grounding: bool = False
    user_location: UserLocationIn | None = None
    demo_probabilities: Annotated[
        dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] | None,
        Field(max_length=51),
    ] = None
    """For the offline demo provider: brand name -> chance an answer mentions it."""
    schedule: ScheduleIn | None = None
    """Run the experiment again at these times (it also runs once now)."""

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("prompt must not be blank")
        return value

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, values: list[str]) -> list[str]:
        specs = [str(ProviderSpec.parse(value)) for value in values]
        if len(set(specs)) != len(specs):
            raise ValueError("a provider is listed twice")
        return specs

    @model_validator(mode="after")
    def _brands_given_once(self) -> ExperimentCreate:
        if (self.brands is None) == (self.brand_profile_id is None):
            raise ValueError("give either brands or brand_profile_id")
        if self.brands is not None:
            check_demo_probabilities(self.demo_probabilities, self.brands)
        return self

    def with_brands(self, brands: BrandSet) -> ExperimentCreate:
        """This input with the brands of a brand profile (validated again)."""
        check_demo_probabilities(self.demo_probabilities, brands)
        return self.model_copy(update={"brands": brands})

    @property
    def provider_specs(self) -> list[ProviderSpec]:
        return [ProviderSpec.parse(value) for value in self.providers]

    @property
    def display_name(self) -> str:
        return self.name or self.prompt[:80]


def check_demo_probabilities(probabilities: dict[str, float] | None, brands: BrandSet) -> None:
    unknown = set(probabilities or {}) - set(brands.names)
    if unknown:
        raise ValueError(f"demo probabilities name untracked brands: {sorted(unknown)}")
