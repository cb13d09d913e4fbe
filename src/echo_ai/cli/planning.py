"""``echo-ai plan``: the sample-size planner (:mod:`echo_ai.experiments.planning`)."""

from __future__ import annotations

from typing import Annotated

import typer

from echo_ai.cli.errors import friendly_errors


@friendly_errors
def plan(
    half_width: Annotated[
        float | None,
        typer.Option("--half-width", help="A precision: ±this fraction (0.05 = ±5 points)."),
    ] = None,
    expected_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="The rate to plan for (0.5: the worst case)."),
    ] = 0.5,
    max_answers: Annotated[
        int,
        typer.Option(min=30, max=100_000, help="Adaptive sampling's maximum per provider."),
    ] = 1_000,
    min_answers: Annotated[
        int,
        typer.Option(
            min=30, max=100_000, help="Adaptive sampling's minimum (complete answers) per provider."
        ),
    ] = 30,
    change_from: Annotated[
        float | None,
        typer.Option("--from", min=0.0, max=1.0, help="A change to detect: from this rate…"),
    ] = None,
    change_to: Annotated[
        float | None, typer.Option("--to", min=0.0, max=1.0, help="…to this one.")
    ] = None,
    power: Annotated[float, typer.Option(min=0.5, max=0.99)] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """How many answers to ask for: per provider for a precision (a fixed count, and
    adaptive sampling's expected cost), per run to detect a change (80% power, 5%
    significance). Example: echo-ai plan --half-width 0.05 --from 0.5 --to 0.6"""
    import json

    from echo_ai.experiments import planning

    found = planning.plan(
        half_width=half_width,
        expected_rate=expected_rate,
        max_answers=max_answers,
        min_answers=min_answers,
        change_from=change_from,
        change_to=change_to,
        power=power,
    )
    if as_json:
        print(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    if found.precision is not None:
        p = found.precision
        print(
            f"±{p.half_width * 100:g} points at {p.confidence:.0%} for a rate near "
            f"{p.expected_rate:g}: {p.fixed_answers:,} answers per provider (fixed count); "
            f"adaptive sampling asks about {p.adaptive_answers:,.0f} "
            f"(between {p.adaptive_min_answers:,} and {p.adaptive_max_answers:,})"
        )
        if p.adaptive_reaches_target < 0.95:
            print(
                f"warning: only {p.adaptive_reaches_target:.0%} of runs reach ±"
                f"{p.half_width * 100:g} points within {p.adaptive_max_answers:,} answers: "
                "raise --max-answers"
            )
    if found.change is not None:
        c = found.change
        print(
            f"a change from {c.before:g} to {c.after:g}: {c.answers_per_period:,} answers per "
            f"provider in each run compared ({c.power:.0%} power, {c.significance:g} "
            "significance)"
        )
