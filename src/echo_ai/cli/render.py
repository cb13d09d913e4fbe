"""How results look in a terminal (rich tables) and as one JSON document."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from echo_ai.analysis.metrics import BatchMetrics, Mean, Rate
from echo_ai.experiments.schemas import SYNTHETIC_NOTICE, ExperimentDetail, ExperimentReport
from echo_ai.runs.models import BatchRun, Experiment


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "–"
    return f"{percent(low)} – {percent(high)}"


def money(value: Decimal | None) -> str:
    """Unknown stays unknown; small amounts keep enough digits not to read as zero."""
    if value is None:
        return "unknown"
    return f"${value:.4f}" if value == 0 or value >= Decimal("0.01") else f"${value:.8f}"


def _rate_row(label: str, rate: Rate) -> tuple[str, str, str, str]:
    return (
        label,
        percent(rate.value),
        interval(rate.ci_low, rate.ci_high),
        f"{rate.numerator}/{rate.denominator}",
    )


def _mean_row(label: str, mean: Mean, digits: int = 2) -> tuple[str, str, str, str]:
    value = "–" if mean.value is None else f"{mean.value:.{digits}f}"
    return label, value, "", f"n={mean.n}"


def metrics_table(title: str, metrics: BatchMetrics) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("n", justify="right")
    sov = metrics.share_of_voice
    rows = [
        _rate_row("visibility rate", metrics.visibility),
        (
            "share of voice",
            percent(sov.value),
            interval(sov.ci_low, sov.ci_high),
            f"{sov.target_mentions}/{sov.all_mentions}",
        ),
        _mean_row("average position", metrics.average_position),
        _rate_row("top-1 rate", metrics.top1),
        _rate_row("top-3 rate", metrics.top3),
        _mean_row("position-weighted visibility", metrics.position_weighted_visibility, 3),
        (
            "consistency (Jaccard)",
            "–" if metrics.consistency is None else f"{metrics.consistency:.3f}",
            "",
            "",
        ),
        _rate_row("citation rate", metrics.citation_rate),
    ]
    for row in rows:
        table.add_row(*row)
    table.add_section()
    for brand, rate in metrics.mention_rates.items():
        table.add_row(*_rate_row(f"mentions: {brand}", rate))
    table.add_section()
    cost = metrics.cost
    table.add_row("cost (total)", money(cost.total_usd), "", f"priced {cost.priced_iterations}")
    table.add_row("cost per iteration", money(cost.per_iteration_usd), "", "")
    latency = metrics.latency
    table.add_row(
        "latency p50 / p95",
        "–" if latency.p50_ms is None else f"{latency.p50_ms:.0f} ms",
        "" if latency.p95_ms is None else f"p95 {latency.p95_ms:.0f} ms",
        f"n={latency.n}",
    )
    # Complete answers are the samples (every n above); the others are counted apart.
    apart = [f"{metrics.failed} failed"] + [
        f"{count} {kind}"
        for kind, count in (
            ("truncated", metrics.truncated),
            ("refused", metrics.refused),
            ("empty", metrics.empty),
        )
        if count
    ]
    table.add_row("complete answers", f"{metrics.succeeded}", "", ", ".join(apart))
    return table


def status_text(status: str, failed_providers: list[str]) -> str:
    """An experiment's status, with the providers that failed when there are any."""
    if not failed_providers:
        return status
    return f"{status} ({', '.join(failed_providers)} failed)"


def batch_error(batch: BatchRun) -> str:
    """Why a batch stopped, as ``code: sentence`` (empty if it did not), escaped for rich."""
    if not batch.error:
        return ""
    return escape(f"{batch.error_code}: {batch.error}" if batch.error_code else batch.error)


def report_renderable(report: ExperimentReport) -> Group:
    experiment = report.experiment
    parts: list[Any] = []
    if report.synthetic:
        parts.append(Panel(SYNTHETIC_NOTICE, style="bold yellow"))
    status = status_text(experiment.status, report.failed_providers)
    parts.append(
        f"[bold]{experiment.name}[/bold]  id {experiment.id}  status {status}\n"
        f"prompt: {experiment.prompt}"
    )
    for batch, metrics in report.batches:
        label = f"{batch.provider}:{batch.model}"
        if batch.synthetic:
            label += " (synthetic)"
        why = batch_error(batch)
        if metrics is None:
            parts.append(f"{label}: {batch.status}" + (f" — {why}" if why else ""))
            continue
        title = f"{label} — target {report_target(experiment)}"
        if why:
            title += f" — {batch.status}: {why}"
        parts.append(metrics_table(title, metrics))
    if report.combined is not None and len(report.batches) > 1:
        title = "all providers combined"
        if report.combined_partial:
            title = "combined so far (partial: " + ", ".join(report.combined_providers) + ")"
        parts.append(metrics_table(title, report.combined))
    return Group(*parts)


def report_target(experiment: Experiment) -> str:
    return str(experiment.brands["target"]["name"])


def report_document(report: ExperimentReport) -> dict[str, Any]:
    return ExperimentDetail.of_report(report).model_dump(mode="json")


def print_report(console: Console, report: ExperimentReport) -> None:
    console.print(report_renderable(report))
