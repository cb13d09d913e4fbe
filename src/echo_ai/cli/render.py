"""How results look in a terminal (rich tables) and as one JSON document."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from echo_ai.analysis.metrics import (
    Average,
    BatchMetrics,
    CostStats,
    Mean,
    Rate,
    SentimentSummary,
)
from echo_ai.analysis.significance import ComparisonTests, RunSignificance
from echo_ai.experiments.history import SideBySide, place_text
from echo_ai.experiments.judge_schemas import SentimentJudgeOut
from echo_ai.experiments.schemas import (
    SYNTHETIC_NOTICE,
    ExperimentDetail,
    ExperimentReport,
    combinations_out,
    experiment_warnings,
)
from echo_ai.runs.adaptive import Progress
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


def fee_share(cost: CostStats) -> str:
    """How much of the cost fees make, to reconcile with the vendor's bill."""
    return "" if cost.fee_share is None else f"{percent(cost.fee_share)} of cost"


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


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _sentiment_rows(brand: str, found: SentimentSummary) -> list[tuple[str, str, str, str]]:
    """The mean score with its interval, then the shares positive / neutral / negative
    (kept narrow: the table must fit a terminal's 80 columns)."""
    score = found.score
    spread = "–" if score.ci_low is None else f"{signed(score.ci_low)} – {signed(score.ci_high)}"
    shares = "/".join(
        "–" if rate.value is None else f"{rate.value * 100:.0f}%"
        for rate in (found.positive, found.neutral, found.negative)
    )
    rows = [
        (f"sentiment: {brand}", signed(score.value), spread, f"n={found.answers}"),
        ("  pos/neu/neg", "", shares, ""),
    ]
    for scorer, answers in found.scorers.items():
        rows.append((f"  by {scorer}", "", "", f"n={answers}"))
    return rows


def judge_lines(judged: SentimentJudgeOut) -> list[str]:
    """What a sentiment judging did, in a few lines (``experiments judge``, ``show``)."""
    synthetic = " (SYNTHETIC: the demo judge repeats the lexicon)" if judged.synthetic else ""
    failed = judged.failed
    scope = "every run" if judged.run is None else f"run {judged.run}"
    when = "" if judged.judged_at is None else f" on {judged.judged_at:%Y-%m-%d %H:%M} UTC"
    lines = [
        f"sentiment judging by {judged.provider}{synthetic} of {scope}: {judged.status}{when}: "
        f"{judged.judged} judged, {judged.read} of {judged.answers} complete answers done",
        f"  kept the lexicon's: {failed.invalid_output} invalid verdicts, "
        f"{failed.provider_error} failed calls, {failed.not_sent} not sent",
        f"  cost {money(None if judged.cost_usd is None else Decimal(judged.cost_usd))}",
    ]
    if judged.stopped:
        lines.append(f"  {judged.status}: {judged.stopped}")
    return lines


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
    if metrics.sentiment is not None:
        for brand, found in metrics.sentiment.items():
            if found.answers:
                for row in _sentiment_rows(brand, found):
                    table.add_row(*row)
        table.add_section()
    cost = metrics.cost
    table.add_row("cost (total)", money(cost.total_usd), "", f"priced {cost.priced_iterations}")
    table.add_row("  fees (request, search)", money(cost.fees_usd), "", fee_share(cost))
    table.add_row(
        "cost per answer",
        money(cost.per_iteration_usd),
        "",
        f"fees {money(cost.fees_per_iteration_usd)}",
    )
    latency = metrics.latency
    table.add_row(
        "latency p50 / p95",
        "–" if latency.p50_ms is None else f"{latency.p50_ms:.0f} ms",
        "" if latency.p95_ms is None else f"p95 {latency.p95_ms:.0f} ms",
        f"n={latency.n}",
    )
    # Complete answers are the samples (every n above); the others are counted apart.
    apart = [f"{metrics.failed} failed"] + [
        f"{count} {kind}" for kind, count in metrics.not_samples()
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


def change_lines(title: str, tests: ComparisonTests | None) -> list[str]:
    """A comparison's significant changes, family by family (real, then synthetic), one
    line each with its q-value, after a line saying how many tests were run and at which
    false discovery rate; a synthetic family's lines are labelled so."""
    if tests is None:
        return [f"{title}: not tested"]
    lines = [f"{title}:"]
    for family in tests.families:
        lines.append(f"  {family.statement}")
        if family.synthetic:
            lines.append(f"  {SYNTHETIC_NOTICE}")
        label = " (synthetic)" if family.synthetic else ""
        for test in family.significant:
            assert test.before is not None and test.after is not None
            assert test.points is not None
            arrow = "▲" if test.points > 0 else "▼"
            lines.append(
                f"    {arrow} {escape(test.figure.label)}{label} {test.points * 100:+.1f} pts "
                f"({percent(test.before.value)} → {percent(test.after.value)}), {test.q_text}"
            )
        if not family.significant:
            lines.append("    no significant change")
    if tests.pooled_note:
        lines.append(f"  all providers pooled: {escape(tests.pooled_note)}")
    return lines


def side_by_side_renderables(table: SideBySide) -> list[Any]:
    """Several experiments side by side: how each asked, a table of every figure with
    each one's interval and (for B, C, ...) its difference from A, significant ones
    marked, and what the joint adjustment controlled."""
    letters = [chr(ord("A") + n) for n in range(len(table.experiments))]
    found: list[Any] = []
    for letter, experiment, run, differs in zip(
        letters, table.experiments, table.runs, table.differences, strict=True
    ):
        asked = "; ".join(differs) if differs else ("the reference" if letter == "A" else "as A")
        found.append(
            f"{letter}: {escape(experiment.name)} (run {run.round}, {run.status}): {escape(asked)}"
        )
    grid = Table(title="Side by side (vs A)", title_justify="left", expand=False)
    grid.add_column("Figure")
    for letter, run in zip(letters, table.runs, strict=True):
        grid.add_column(f"{letter} (synthetic)" if run.synthetic else letter, justify="right")
    for row in table.rows:
        cells = []
        for cell in row.cells:
            text = "–" if cell.rate is None else percent(cell.rate.value)
            change = cell.change
            if change is not None:
                text += f" {change.points * 100:+.1f}{'*' if change.significant else ''}"
            cells.append(text)
        grid.add_row(escape(row.figure.label), *cells)
    found.append(grid)
    found.append(
        f"(percentage, then the change from A in points; * significant: "
        f"{escape(table.statement)})" + (f"\n{SYNTHETIC_NOTICE}" if table.synthetic else "")
    )
    return found


def changes_text(run: RunSignificance) -> str:
    """The run's "change since previous run" and "vs baseline" block."""
    # Some figure is the demo's (alone, or beside real providers, tested apart).
    label = " (includes synthetic data)" if run.synthetic else ""
    lines = [f"[bold]significance of run {run.round}{label}[/bold]"]
    if run.note:
        lines.append(run.note)
    if run.previous is not None:
        lines += change_lines(
            f"change since the previous run (run {run.previous})", run.vs_previous
        )
        pooled = ", ".join(str(r) for r in run.baseline)
        lines += change_lines(f"vs baseline (runs {pooled} pooled)", run.vs_baseline)
    return "\n".join(lines)


def report_renderable(report: ExperimentReport, changes: RunSignificance | None = None) -> Group:
    experiment = report.experiment
    parts: list[Any] = []
    if report.synthetic:
        parts.append(Panel(SYNTHETIC_NOTICE, style="bold yellow"))
    for warning in experiment_warnings(experiment, [batch for batch, _ in report.batches]):
        parts.append(Panel(escape(warning), title="warning", style="yellow"))
    if experiment.skipped_at is not None and experiment.skip_reason:
        parts.append(
            Panel(
                escape(
                    f"the scheduled run of {experiment.skipped_at:%Y-%m-%d %H:%M} UTC was "
                    f"skipped: {experiment.skip_reason}"
                ),
                title="scheduled run skipped",
                style="bold red",
            )
        )
    status = status_text(experiment.status, report.failed_providers)
    parts.append(
        f"[bold]{escape(experiment.name)}[/bold]  id {experiment.id}  status {status}\n"
        f"prompt: {escape(experiment.prompt)}"
        + (f"\npersona: {escape(experiment.persona)}" if experiment.persona else "")
        + (
            f"\nplace: {escape(place_text(experiment.user_location))}"
            if experiment.user_location
            else ""
        )
    )
    if experiment.sentiment_judge is not None:
        judged = SentimentJudgeOut.model_validate(experiment.sentiment_judge)
        parts.append(escape("\n".join(judge_lines(judged))))
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
        progress = Progress.of(batch)
        if progress is not None:
            parts.append(escape(f"adaptive sampling, {progress.text}"))
    parts.extend(combination_renderables(report))
    also = also_recommended(report)
    if also:
        parts.append(also)
    if changes is not None:
        parts.append(changes_text(changes))
    return Group(*parts)


ALSO_SHOWN = 5


def also_recommended(report: ExperimentReport) -> str:
    """One line naming the untracked brands the latest run's answers recommend most (all
    providers pooled), or nothing when none recurs."""
    from echo_ai.experiments.discovered import MIN_ANSWERS

    found = report.combined.discovered if report.combined is not None else None
    if found is None:
        return ""
    names = [item for item in found.names if item.mentions.numerator >= MIN_ANSWERS]
    if not names:
        return ""
    shown = ", ".join(
        f"{escape(item.name)} {percent(item.mentions.value)} "
        f"({interval(item.mentions.ci_low, item.mentions.ci_high)})"
        for item in names[:ALSO_SHOWN]
    )
    more = f" and {len(names) - ALSO_SHOWN} more" if len(names) > ALSO_SHOWN else ""
    reference = str(report.experiment.id)[:8]
    return (
        f"also recommended (not tracked; mention rate, 95% interval): {shown}{more}\n"
        f"  `echo-ai experiments discovered {reference}` lists them; "
        f"`echo-ai experiments add-competitor {reference} NAME` tracks one"
    )


def combination_renderables(report: ExperimentReport) -> list[Any]:
    """Each combination of the run's providers (real, then synthetic), titled with what
    it pools and who is missing, with the equal-weight average over providers under it."""
    if len(report.batches) < 2:
        return []
    parts: list[Any] = []
    for combination in combinations_out(report.combinations):
        pools = ", ".join(combination.providers) or "none finished yet"
        title = f"{combination.label} combined ({pools})"
        if combination.partial:
            title += " — partial, still running: " + ", ".join(combination.missing)
        if combination.pooled is None:
            parts.append(escape(title))
            continue
        parts.append(
            metrics_table(
                escape(title) + " — pooled: more complete answers, more weight", combination.pooled
            )
        )
        average = combination.equal_weight
        if average is not None:
            parts.append(
                f"  equal-weight average over {len(average.providers)} providers: "
                f"visibility {_average(average.visibility)}, "
                f"share of voice {_average(average.share_of_voice)}, "
                f"citation rate {_average(average.citation_rate)}"
            )
    return parts


def _average(figure: Average) -> str:
    if figure.value is None:
        return "–"
    return f"{percent(figure.value)} {interval(figure.ci_low, figure.ci_high)}"


def report_target(experiment: Experiment) -> str:
    return str(experiment.brands["target"]["name"])


def report_document(
    report: ExperimentReport, changes: RunSignificance | None = None
) -> dict[str, Any]:
    return ExperimentDetail.of_report(report, changes).model_dump(mode="json")


def print_report(
    console: Console, report: ExperimentReport, changes: RunSignificance | None = None
) -> None:
    console.print(report_renderable(report, changes))
