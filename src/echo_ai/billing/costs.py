"""Cost reports: what a workspace's LLM calls cost, per month, provider, experiment or
purpose.

Read from the report lines the writer keeps as iterations are stored
(:class:`~echo_ai.metering.models.SpendLine`: workspace × month × experiment × provider ×
purpose), never from the iterations themselves, so a report over three years costs a few hundred
rows at most. Lines of deleted experiments stay (the money was spent) and are labelled as
such. The offline demo provider's iterations are synthetic (made-up answers, no cost):
each line says whether its iterations were.

Calls made outside an experiment's answers (:mod:`echo_ai.billing.auxiliary`: candidate
prompts, the sentiment judge) add cost and no iterations. By purpose they are lines of
their own ("Candidate prompts", "Sentiment judge" beside "Answers"); by experiment, a
judge's cost is its experiment's and calls made for no experiment are the line
:data:`NO_EXPERIMENT_LABEL`; by month or provider they count with the answers.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing.auxiliary import PURPOSE_LABELS
from echo_ai.errors import AppError
from echo_ai.metering.models import NO_EXPERIMENT, SpendLine
from echo_ai.metering.units import month_of, to_usd, usd_text
from echo_ai.runs.models import Experiment
from echo_ai.text import spreadsheet_safe

from .spend_schemas import CostLineOut, CostReportOut, GroupBy

MAX_MONTHS = 36
"""The longest month range one report covers."""
SYNTHETIC_VENDORS = frozenset({"demo"})
DELETED_LABEL = "(deleted experiment)"
NO_EXPERIMENT_LABEL = "(no experiment: candidate prompts)"
GROUPS: tuple[GroupBy, ...] = ("month", "provider", "experiment", "purpose")

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class InvalidMonths(AppError):
    """A month range a report cannot cover: not ``YYYY-MM``, reversed, or too long."""

    status_code = 422
    code = "invalid_months"


def _parse(name: str, value: str) -> tuple[int, int]:
    match = _MONTH.fullmatch(value.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise InvalidMonths(f"{name} must be a month as YYYY-MM (e.g. 2026-01), not {value!r}")
    return int(match.group(1)), int(match.group(2))


def _index(year: int, month: int) -> int:
    return year * 12 + month - 1


def month_range(from_month: str | None, to_month: str | None, *, now: datetime) -> tuple[str, str]:
    """The checked ``(from, to)`` months (``YYYY-MM``, both included): ``to`` defaults to
    this month, ``from`` to ``to``'s; ``from`` after ``to`` or a range over
    :data:`MAX_MONTHS` months is :class:`InvalidMonths`."""
    last = _parse("to", to_month) if to_month else _parse("to", month_of(now))
    first = _parse("from", from_month) if from_month else last
    if _index(*first) > _index(*last):
        raise InvalidMonths(
            f"from ({first[0]:04d}-{first[1]:02d}) is after to ({last[0]:04d}-{last[1]:02d})"
        )
    if _index(*last) - _index(*first) + 1 > MAX_MONTHS:
        raise InvalidMonths(f"a report covers at most {MAX_MONTHS} months")
    return f"{first[0]:04d}-{first[1]:02d}", f"{last[0]:04d}-{last[1]:02d}"


def is_synthetic(provider: str) -> bool:
    return provider.split(":", 1)[0] in SYNTHETIC_VENDORS


Synthetic = Literal["yes", "no", "partly"]


@dataclass(frozen=True, slots=True)
class CostLine:
    key: str
    label: str
    iterations: int
    cost_usd: Decimal
    synthetic_iterations: int
    real_lines: int
    """Spend lines of real providers in the group: their answers, or calls outside
    experiments (a real model judging a demo run's answers makes its line partly real)."""
    deleted: bool = False

    @property
    def synthetic(self) -> Synthetic:
        if self.synthetic_iterations and not self.real_lines:
            return "yes"
        return "partly" if self.synthetic_iterations else "no"


@dataclass(frozen=True, slots=True)
class CostReport:
    from_month: str
    to_month: str
    group_by: GroupBy
    lines: list[CostLine]

    @property
    def iterations(self) -> int:
        return sum(line.iterations for line in self.lines)

    @property
    def cost_usd(self) -> Decimal:
        return sum((line.cost_usd for line in self.lines), Decimal(0))

    def out(self) -> CostReportOut:
        return CostReportOut(
            from_month=self.from_month,
            to_month=self.to_month,
            group_by=self.group_by,
            lines=[
                CostLineOut(
                    key=line.key,
                    label=line.label,
                    iterations=line.iterations,
                    cost_usd=usd_text(line.cost_usd),
                    synthetic=line.synthetic,
                    deleted=line.deleted,
                )
                for line in self.lines
            ],
            iterations=self.iterations,
            cost_usd=usd_text(self.cost_usd),
        )


async def cost_report(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    from_month: str,
    to_month: str,
    group_by: GroupBy = "month",
) -> CostReport:
    """The workspace's iterations and cost from ``from_month`` to ``to_month`` (checked
    ``YYYY-MM`` months, see :func:`month_range`), one line per month (oldest first),
    provider, experiment or purpose (costliest first)."""
    key = {
        "month": SpendLine.month,
        "provider": SpendLine.provider,
        "experiment": SpendLine.experiment_id,
        "purpose": SpendLine.purpose,
    }[group_by]
    demo = SpendLine.provider.like("demo:%")
    synthetic = case((demo, SpendLine.iterations), else_=0)
    real = case((demo, 0), else_=1)
    cost = func.sum(SpendLine.cost_nusd)
    query = (
        select(
            key.label("key"),
            func.sum(SpendLine.iterations).label("iterations"),
            cost.label("cost"),
            func.sum(synthetic).label("synthetic"),
            func.sum(real).label("real_lines"),
        )
        .where(
            SpendLine.workspace_id == workspace_id,
            SpendLine.month >= from_month,
            SpendLine.month <= to_month,
        )
        .group_by(key)
    )
    query = query.order_by(key) if group_by == "month" else query.order_by(cost.desc(), key)
    rows = (await session.execute(query)).all()
    names: dict[uuid.UUID, str] = {}
    if group_by == "experiment" and rows:
        found = await session.execute(
            select(Experiment.id, Experiment.name).where(
                Experiment.id.in_([row.key for row in rows]),
                Experiment.workspace_id == workspace_id,
            )
        )
        names = {row.id: row.name for row in found}
    lines = []
    for row in rows:
        deleted = group_by == "experiment" and row.key not in names and row.key != NO_EXPERIMENT
        if group_by == "experiment":
            label = (
                NO_EXPERIMENT_LABEL
                if row.key == NO_EXPERIMENT
                else DELETED_LABEL
                if deleted
                else names[row.key]
            )
        elif group_by == "purpose":
            label = PURPOSE_LABELS.get(str(row.key), str(row.key))
        else:
            label = str(row.key)
        lines.append(
            CostLine(
                key=str(row.key),
                label=label,
                iterations=int(row.iterations or 0),
                cost_usd=to_usd(int(row.cost or 0)),
                synthetic_iterations=int(row.synthetic or 0),
                real_lines=int(row.real_lines or 0),
                deleted=deleted,
            )
        )
    return CostReport(from_month, to_month, group_by, lines)


async def report_of(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    from_month: str | None,
    to_month: str | None,
    group_by: GroupBy,
    now: datetime,
) -> CostReport:
    """The report of the months a client asked for (unchecked text, see
    :func:`month_range`): :class:`InvalidMonths` when they cannot be reported on."""
    first, last = month_range(from_month, to_month, now=now)
    return await cost_report(
        session, workspace_id, from_month=first, to_month=last, group_by=group_by
    )


CSV_COLUMNS = {
    "month": ("month",),
    "provider": ("provider",),
    "experiment": ("experiment_id", "experiment", "deleted"),
    "purpose": ("purpose",),
}


def csv_rows(report: CostReport) -> Iterator[str]:
    """The report as CSV text, a header then one line per row: the group's columns,
    ``iterations``, ``cost_usd`` (a plain decimal string) and ``synthetic`` (``yes``,
    ``no`` or ``partly``: iterations of the offline demo provider)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([*CSV_COLUMNS[report.group_by], "iterations", "cost_usd", "synthetic"])
    yield take()
    for line in report.lines:
        if report.group_by == "experiment":
            group = [line.key, spreadsheet_safe(line.label), "yes" if line.deleted else "no"]
        else:
            group = [spreadsheet_safe(line.label)]
        writer.writerow([*group, line.iterations, usd_text(line.cost_usd), line.synthetic])
        yield take()


def csv_filename(report: CostReport) -> str:
    return f"costs-{report.from_month}-to-{report.to_month}-by-{report.group_by}.csv"
