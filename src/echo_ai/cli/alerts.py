"""``echo-ai alerts ...``: alert rules on significant change (list, create, delete) and the
alerts they fired with their deliveries (history), for a workspace (by default the command
line's local one). The same use cases as ``/v1/alerts``; changes are audited as ``cli``."""

from __future__ import annotations

import json
import sys
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from echo_ai.alerts.schemas import AlertOut, AlertRuleCreated, AlertRuleOut
    from echo_ai.execution.runtime import Runtime

app = typer.Typer(
    help="Alert rules: an e-mail or a signed webhook when a run of an experiment differs "
    "significantly from the previous one (or a baseline), false discovery rate controlled."
)

WorkspaceOption = Annotated[
    uuid.UUID | None,
    typer.Option(
        "--workspace", help="The workspace's id (default: the command line's local workspace)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ExperimentOption = Annotated[
    uuid.UUID | None,
    typer.Option("--experiment", help="The experiment watched (default: every experiment)."),
]


async def _workspace_id(runtime: Runtime, workspace: uuid.UUID | None) -> uuid.UUID:
    from echo_ai.db import transaction
    from echo_ai.workspaces.local import local_workspace

    if workspace is not None:
        return workspace
    async with transaction(runtime.session_factory) as session:
        return (await local_workspace(session)).id


def _rule_line(rule: AlertRuleOut) -> str:
    watched = ", ".join(rule.metrics)
    scope = f"experiment {rule.experiment_id}" if rule.experiment_id else "every experiment"
    channels = [*rule.email_to, *([f"webhook ({rule.webhook_format})"] if rule.webhook_url else [])]
    state = "" if rule.enabled else "  [disabled]"
    return (
        f"{rule.id}  {rule.name}: {watched} on {scope}, vs {rule.compare_with}, "
        f"≥ {rule.min_effect_points:g} points, FDR {rule.level * 100:g}% → "
        f"{', '.join(channels) or 'no channel (shown in the list only)'}{state}"
    )


@app.command("list")
@friendly_errors
def list_rules(
    experiment: ExperimentOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the workspace's alert rules (with --experiment, those that watch it)."""
    from echo_ai.alerts import service
    from echo_ai.alerts.schemas import AlertRuleOut
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction

    async def go(runtime: Runtime) -> list[AlertRuleOut]:
        workspace_id = await _workspace_id(runtime, workspace)
        async with transaction(runtime.session_factory) as session:
            rules = await service.list_rules(session, workspace_id, experiment_id=experiment)
            return [AlertRuleOut.of(rule) for rule in rules]

    rules = flows.in_runtime(get_settings(), go)
    if as_json:
        print(json.dumps([rule.model_dump(mode="json") for rule in rules], indent=2))
        return
    if not rules:
        print("no alert rules", file=sys.stderr)
    for rule in rules:
        print(_rule_line(rule))


@app.command("create")
@friendly_errors
def create_rule(
    name: Annotated[str, typer.Argument(help="What the rule is called.")],
    experiment: ExperimentOption = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            help="A metric watched (repeat): visibility, mention_rate, top1, top3, "
            "citation_rate. Default: visibility."
        ),
    ] = None,
    brand: Annotated[
        list[str] | None,
        typer.Option(help="A brand whose mention rate is watched (repeat; default: all)."),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            help="A provider (vendor:model) watched, or 'all' for the providers pooled "
            "(repeat; default: every one)."
        ),
    ] = None,
    min_effect: Annotated[
        float, typer.Option(help="The smallest change that alerts, in points.")
    ] = 0.0,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--previous",
            help="Compare with the previous runs pooled (baseline) or the previous run.",
        ),
    ] = False,
    level: Annotated[
        float, typer.Option(help="The false discovery rate of the rule's tests.")
    ] = 0.05,
    email: Annotated[
        list[str] | None, typer.Option(help="An address the alerts are mailed to (repeat).")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="A URL the alerts are POSTed to, signed (docs/alerts.md).")
    ] = None,
    slack: Annotated[
        bool, typer.Option(help="Send the webhook Slack's incoming-webhook JSON.")
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an alert rule. With --webhook, its signing secret is printed this once."""
    from echo_ai.alerts import service
    from echo_ai.alerts.schemas import AlertRuleCreated, AlertRuleIn, AlertRuleOut
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.credentials.vault import Vault
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor
    from echo_ai.security.keys import load_key_ring

    settings = get_settings()
    vault = Vault(load_key_ring(settings))
    data = AlertRuleIn.model_validate(
        {
            "name": name,
            "experiment_id": experiment,
            "metrics": metric or ["visibility"],
            "brands": brand or [],
            "providers": provider or [],
            "min_effect_points": min_effect,
            "compare_with": "baseline" if baseline else "previous",
            "level": level,
            "email_to": email or [],
            "webhook_url": webhook,
            "webhook_format": "slack" if slack else "signed",
        }
    )

    async def go(runtime: Runtime) -> AlertRuleCreated:
        workspace_id = await _workspace_id(runtime, workspace)
        async with transaction(runtime.session_factory) as session:
            rule, secret = await service.create(
                session, workspace_id, data, actor=Actor.cli(), settings=settings, vault=vault
            )
            return AlertRuleCreated(**AlertRuleOut.of(rule).model_dump(), webhook_secret=secret)

    created = flows.in_runtime(settings, go)
    if as_json:
        print(json.dumps(created.model_dump(mode="json"), indent=2))
        return
    print(_rule_line(created))
    if created.webhook_secret:
        print(
            f"webhook signing secret (shown this once): {created.webhook_secret}",
            file=sys.stderr,
        )


@app.command("delete")
@friendly_errors
def delete_rule(
    rule_id: Annotated[uuid.UUID, typer.Argument(help="The rule's id (see `alerts list`).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Delete an alert rule and the alerts it fired."""
    from echo_ai.alerts import service
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor

    async def go(runtime: Runtime) -> None:
        workspace_id = await _workspace_id(runtime, workspace)
        async with transaction(runtime.session_factory) as session:
            await service.delete(session, workspace_id, rule_id, actor=Actor.cli())

    flows.in_runtime(get_settings(), go)
    print(f"deleted alert rule {rule_id}")


@app.command("history")
@friendly_errors
def history(
    experiment: ExperimentOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many alerts.")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The alerts fired, newest first, with each delivery and its log of tries."""
    from echo_ai.alerts import service
    from echo_ai.alerts.evaluation import change_line
    from echo_ai.alerts.schemas import AlertOut
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction

    async def go(runtime: Runtime) -> list[AlertOut]:
        workspace_id = await _workspace_id(runtime, workspace)
        async with transaction(runtime.session_factory) as session:
            found = await service.list_alerts(
                session, workspace_id, experiment_id=experiment, limit=limit
            )
            return [AlertOut.of(alert, deliveries) for alert, deliveries in found]

    alerts = flows.in_runtime(get_settings(), go)
    if as_json:
        print(json.dumps([alert.model_dump(mode="json") for alert in alerts], indent=2))
        return
    if not alerts:
        print("no alerts fired", file=sys.stderr)
    for alert in alerts:
        against = ", ".join(str(n) for n in alert.compared_with)
        notice = f"  {alert.synthetic_notice}" if alert.synthetic_notice else ""
        print(
            f"{alert.created_at:%Y-%m-%d %H:%M} UTC  experiment {alert.experiment_id} run "
            f"{alert.round} vs {against}{notice}"
        )
        for change in alert.changes:
            print(f"  {change_line(change.model_dump())}")
        for delivery in alert.deliveries:
            code = f" HTTP {delivery.last_status_code}" if delivery.last_status_code else ""
            print(
                f"  → {delivery.channel} {delivery.target}: {delivery.status}, "
                f"{delivery.attempts} attempt(s){code}"
            )
