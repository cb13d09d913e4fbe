"""HTTP routes of alert rules (owners and admins manage them) and the alerts they fired,
with each delivery's log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from echo_ai.alerts import service as alerts
from echo_ai.alerts.schemas import AlertOut, AlertRuleCreated, AlertRuleIn, AlertRuleOut
from echo_ai.api.auth import CurrentPrincipal, Forbidden, Principal, PrincipalActor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.credentials.vault import Vault


def require_rule_manager(principal: CurrentPrincipal) -> Principal:
    """Owners and admins, signed in or with an API key (whose role is its creator's
    current one, narrowed to its scope)."""
    if not (principal.can_write and principal.role.can_manage):
        raise Forbidden("only workspace owners and admins manage alert rules")
    return principal


ManagerPrincipal = Annotated[Principal, Depends(require_rule_manager)]

router = APIRouter(
    prefix="/v1/alerts", tags=["alerts"], responses=error_responses(*AUTH_ERRORS, 422)
)


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=AlertRuleCreated,
    responses=error_responses(*BODY_ERRORS, 409),
)
async def create_rule(
    data: AlertRuleIn,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> AlertRuleCreated:
    """A new alert rule (owners and admins). With a webhook, the response holds its signing
    secret, shown this once; a webhook URL on a private, loopback or link-local address is
    refused (422 `unsafe_base_url`)."""
    rule, secret = await alerts.create(
        session,
        principal.workspace_id,
        data,
        actor=actor,
        settings=state.settings,
        vault=Vault(state.keys),
    )
    return AlertRuleCreated(**AlertRuleOut.of(rule).model_dump(), webhook_secret=secret)


@router.get("/rules", response_model=list[AlertRuleOut])
async def list_rules(
    principal: CurrentPrincipal,
    session: SessionDep,
    experiment_id: Annotated[
        uuid.UUID | None,
        Query(description="Only the rules that watch this experiment (its own, workspace-wide)."),
    ] = None,
) -> list[AlertRuleOut]:
    """The workspace's alert rules, newest first (secrets are never shown again)."""
    rules = await alerts.list_rules(session, principal.workspace_id, experiment_id=experiment_id)
    return [AlertRuleOut.of(rule) for rule in rules]


@router.get("/rules/{rule_id}", response_model=AlertRuleOut)
async def get_rule(
    rule_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> AlertRuleOut:
    return AlertRuleOut.of(await alerts.get(session, principal.workspace_id, rule_id))


@router.put(
    "/rules/{rule_id}", response_model=AlertRuleCreated, responses=error_responses(*BODY_ERRORS)
)
async def replace_rule(
    rule_id: uuid.UUID,
    data: AlertRuleIn,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> AlertRuleCreated:
    """Change a rule (owners and admins). Its webhook keeps its secret (`webhook_secret`
    null); a webhook added to a rule without one gets a new secret, shown this once."""
    rule, secret = await alerts.replace(
        session,
        principal.workspace_id,
        rule_id,
        data,
        actor=actor,
        settings=state.settings,
        vault=Vault(state.keys),
    )
    return AlertRuleCreated(**AlertRuleOut.of(rule).model_dump(), webhook_secret=secret)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(
    rule_id: uuid.UUID, principal: ManagerPrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """Delete a rule and the alerts it fired (owners and admins)."""
    await alerts.delete(session, principal.workspace_id, rule_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=list[AlertOut])
async def list_alerts(
    principal: CurrentPrincipal,
    session: SessionDep,
    experiment_id: Annotated[uuid.UUID | None, Query(description="Only this experiment's.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[AlertOut]:
    """The alerts fired, newest first: the significant changes found, and each delivery
    (webhook, e-mail) with its log of tries (status code, error, time)."""
    found = await alerts.list_alerts(
        session, principal.workspace_id, experiment_id=experiment_id, limit=limit
    )
    return [AlertOut.of(alert, deliveries) for alert, deliveries in found]
