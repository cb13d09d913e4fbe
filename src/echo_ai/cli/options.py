"""Turns command-line flags or a TOML file into a validated :class:`ExperimentCreate`."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from echo_ai.analysis.brands import BrandSet
from echo_ai.errors import AppError
from echo_ai.experiments.schemas import ExperimentCreate


def parse_brand(text: str) -> dict[str, Any]:
    """``"Zoho CRM=Zoho,Zoho One"`` → name ``Zoho CRM`` with aliases ``Zoho``, ``Zoho One``."""
    name, _, aliases = text.partition("=")
    return {
        "name": name.strip(),
        "aliases": [alias.strip() for alias in aliases.split(",") if alias.strip()],
    }


def parse_probability(text: str) -> tuple[str, float]:
    """``"HubSpot=0.6"`` → ``("HubSpot", 0.6)``."""
    name, sep, value = text.rpartition("=")
    try:
        probability = float(value)
    except ValueError:
        probability = -1.0
    if not sep or not name.strip() or not 0.0 <= probability <= 1.0:
        raise AppError(f"{text!r}: expected NAME=P with P between 0 and 1")
    return name.strip(), probability


def read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise AppError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AppError(f"{path}: cannot read it ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise AppError(f"{path}: not valid TOML ({error})") from None


def experiment_input(
    *,
    config: Path | None,
    prompt: str | None,
    persona: str | None,
    brand: str | None,
    aliases: list[str],
    domains: list[str],
    competitors: list[str],
    providers: list[str],
    iterations: int | None,
    temperature: float | None,
    grounding: bool | None,
    require_grounding: bool,
    demo_probabilities: list[str],
    precision: float | None,
    precision_metric: str | None,
    min_answers: int | None,
    place: Mapping[str, str | None] | None = None,
) -> ExperimentCreate:
    """Flags override what the file says; the result is validated as a whole. ``place``:
    the ``user_location`` parts given as flags (country, region, city, timezone), each
    replacing the file's."""
    data: dict[str, Any] = read_config(config) if config else {}
    if prompt is not None:
        data["prompt"] = prompt
    if persona is not None:
        data["persona"] = persona
    given = {key: value for key, value in (place or {}).items() if value is not None}
    if given:
        data["user_location"] = {**(data.get("user_location") or {}), **given}
    brands = dict(data.get("brands") or {})
    if brand is not None:
        brands["target"] = {**parse_brand(brand), "domains": domains}
        brands["target"]["aliases"] = [*brands["target"]["aliases"], *aliases]
    elif aliases or domains:
        raise AppError("--alias and --domain describe the target: give --brand too")
    if competitors:
        brands["competitors"] = [parse_brand(text) for text in competitors]
    if brands:
        data["brands"] = brands
    if providers:
        data["providers"] = providers
    if iterations is not None:
        data["iterations"] = iterations
    if precision is not None:
        data["precision"] = {**(data.get("precision") or {}), "half_width": precision}
    for key, value in (("metric", precision_metric), ("min_answers", min_answers)):
        if value is None:
            continue
        if "precision" not in data:
            raise AppError("--precision-metric and --min-answers go with --precision")
        data["precision"] = {**data["precision"], key: value}
    if temperature is not None:
        data["temperature"] = temperature
    if grounding is not None:
        data["grounding"] = grounding
    if require_grounding:
        data["grounding"] = data["require_grounding"] = True
    if demo_probabilities:
        data["demo_probabilities"] = dict(parse_probability(text) for text in demo_probabilities)
    if "prompt" not in data:
        raise AppError("give a prompt (--prompt TEXT) or an experiment file")
    if "target" not in brands:
        raise AppError("give the brand to track (--brand NAME) or an experiment file")
    return ExperimentCreate.model_validate(data)


def brands_from_file(path: Path) -> BrandSet:
    """The ``[brands]`` table of a TOML file (same layout as an experiment file)."""
    data = read_config(path)
    if "brands" not in data:
        raise AppError(f"{path}: no [brands] table")
    return BrandSet.model_validate(data["brands"])


def check_writable(path: Path) -> None:
    """Refuse an export path before the run is paid for, not after."""
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        raise AppError(f"{path}: the folder {folder} does not exist")
    if path.is_dir():
        raise AppError(f"{path}: is a folder, not a file")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise AppError(f"{path}: not writable")
