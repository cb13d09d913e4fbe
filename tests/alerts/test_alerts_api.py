"""Alerts end to end over the API, on both databases: a rule, runs of an experiment, the
alert fired once on the run that changed, its signed webhook (verified by a local
receiver), its e-mail in the outbox, retries with back-off on a clock the test moves, and
the delivery log."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from echo_ai.alerts import delivery, evaluation, signing
from echo_ai.alerts.models import Alert, AlertEvaluation
from echo_ai.credentials.vault import Vault
from echo_ai.db import transaction
from echo_ai.mail import listing
from echo_ai.mail.models import OutboundMail
from tests.alerts.receiver import Receiver
from tests.experiments.test_significance_api import BODY, run_again
from tests.kit import app_runtime, create_team, register_and_login, wait_finished, wait_until

pytestmark = pytest.mark.usefixtures("backend")


def rule_body(experiment_id: str, receiver: Receiver, **change: Any) -> dict[str, Any]:
    return {
        "name": "HubSpot visibility",
        "experiment_id": experiment_id,
        "metrics": ["visibility"],
        "min_effect_points": 10,
        "email_to": ["alerts@example.com"],
        "webhook_url": receiver.url,
        **change,
    }


async def first_run(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    user = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/experiments", headers=user, json=BODY)
    assert created.status_code == 202, created.text
    experiment_id = str(created.json()["id"])
    await wait_finished(client, experiment_id, user)
    return experiment_id, user


async def alerts_of(client: httpx.AsyncClient, user: dict[str, str], experiment_id: str) -> Any:
    response = await client.get("/v1/alerts", headers=user, params={"experiment_id": experiment_id})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_changed_run_fires_once_with_a_signed_webhook_and_an_email(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    experiment_id, user = await first_run(client)
    created = await client.post(
        "/v1/alerts/rules", headers=user, json=rule_body(experiment_id, receiver)
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    secret = rule["webhook_secret"]
    assert secret.startswith("whsec_")
    listed = await client.get("/v1/alerts/rules", headers=user)
    assert [r["id"] for r in listed.json()] == [rule["id"]]
    assert "webhook_secret" not in listed.json()[0]

    await run_again(app, experiment_id, {"HubSpot": 0.95})  # run 2: visibility 30% -> 95%
    await wait_until(lambda: len(receiver.received) == 1, message="no webhook arrived")

    # The receiver's check (docs/alerts.md): the signature over "timestamp.body".
    request = receiver.received[0]
    timestamp = request.headers[signing.TIMESTAMP_HEADER]
    assert request.headers[signing.SIGNATURE_HEADER].startswith("sha256=")
    assert signing.verify(
        secret,
        timestamp=timestamp,
        body=request.body,
        signed=request.headers[signing.SIGNATURE_HEADER],
        now=float(timestamp) + 10,
    )
    assert not signing.verify(
        secret,
        timestamp=timestamp,
        body=request.body + b" ",
        signed=request.headers[signing.SIGNATURE_HEADER],
        now=float(timestamp),
    )
    assert not signing.verify(  # an old request replayed
        secret,
        timestamp=timestamp,
        body=request.body,
        signed=request.headers[signing.SIGNATURE_HEADER],
        now=float(timestamp) + signing.TOLERANCE_SECONDS + 1,
    )
    sent = json.loads(request.body)
    assert sent["type"] == "alert.fired" and sent["round"] == 2 and sent["compared_with"] == [1]
    assert sent["synthetic"] is True and "SYNTHETIC" in sent["synthetic_notice"]
    labels = [change["label"] for change in sent["changes"]]
    assert "visibility, all providers" in labels
    assert all(change["points"] >= 10 for change in sent["changes"])

    await wait_until(
        lambda: _delivered(client, user, experiment_id), message="the delivery log shows no 200"
    )
    (alert,) = await alerts_of(client, user, experiment_id)
    assert alert["round"] == 2 and alert["rule_id"] == rule["id"]
    by_channel = {d["channel"]: d for d in alert["deliveries"]}
    assert by_channel["email"]["status"] == "mailed"
    assert by_channel["email"]["target"] == "alerts@example.com"
    assert [entry["status_code"] for entry in by_channel["webhook"]["log"]] == [200]

    runtime = app_runtime(app)
    async with transaction(runtime.session_factory) as session:
        mails = list(
            await session.scalars(select(OutboundMail).where(OutboundMail.kind == "alert"))
        )
        assert [m.to_address for m in mails] == ["alerts@example.com"]
        assert "HubSpot visibility" in mails[0].subject
        text = " ".join(listing.text_of(mails[0], runtime.settings).split())
        assert "run 2 against run 1" in text
        assert re.search(r"visibility, all providers: \d+% → \d+% \(\+\d+\.\d points, q ", text)
        assert "SYNTHETIC DATA" in text and f"/experiments/{experiment_id}/alerts" in text

        # Evaluated once: asking again (a re-delivered job, a tick) does nothing.
        again = await evaluation.evaluate_round(
            session, uuid.UUID(experiment_id), 2, settings=runtime.settings
        )
        assert again is None
    assert len(await alerts_of(client, user, experiment_id)) == 1

    events = (await client.get("/v1/audit-events", headers=user)).json()["items"]
    actions = [event["action"] for event in events]
    assert "alert_rule.created" in actions and "alert.fired" in actions


async def _delivered(client: httpx.AsyncClient, user: dict[str, str], experiment_id: str) -> bool:
    found = await alerts_of(client, user, experiment_id)
    return bool(found) and any(
        d["channel"] == "webhook" and d["status"] == "sent" for d in found[0]["deliveries"]
    )


async def test_two_evaluations_at_once_alert_a_run_once(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    experiment_id, user = await first_run(client)
    body = rule_body(experiment_id, receiver, webhook_url=None, email_to=[])
    assert (await client.post("/v1/alerts/rules", headers=user, json=body)).status_code == 201
    await run_again(app, experiment_id, {"HubSpot": 0.95})
    await wait_until(lambda: _count_alerts(app), message="no alert")
    runtime = app_runtime(app)
    # Forget the evaluation, as if the run had just completed, and race two of them.
    async with transaction(runtime.session_factory) as session:
        await session.execute(delete(Alert))
        await session.execute(delete(AlertEvaluation).where(AlertEvaluation.round == 2))

    async def evaluate() -> Any:
        async with transaction(runtime.session_factory) as session:
            return await evaluation.evaluate_round(
                session, uuid.UUID(experiment_id), 2, settings=runtime.settings
            )

    results = await asyncio.gather(evaluate(), evaluate())
    done = [r for r in results if r is not None]
    assert len(done) == 1 and len(done[0].alerts) == 1
    async with transaction(runtime.session_factory) as session:
        assert await session.scalar(select(func.count()).select_from(Alert)) == 1

    # The scheduler's catch-up finds nothing left to evaluate; forgotten again, it
    # evaluates the run once, and a second tick does nothing more.
    assert await evaluation.evaluate_pending(runtime.session_factory, runtime.settings) == []
    async with transaction(runtime.session_factory) as session:
        await session.execute(delete(Alert))
        await session.execute(delete(AlertEvaluation).where(AlertEvaluation.round == 2))
    (caught,) = await evaluation.evaluate_pending(runtime.session_factory, runtime.settings)
    assert caught.round == 2 and len(caught.alerts) == 1
    assert await evaluation.evaluate_pending(runtime.session_factory, runtime.settings) == []


async def _count_alerts(app: FastAPI) -> bool:
    async with transaction(app_runtime(app).session_factory) as session:
        return bool(await session.scalar(select(func.count()).select_from(Alert)))


async def test_retries_on_500_and_429_honour_retry_after_and_log_every_try(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    receiver.script = [(500, {}), (429, {"Retry-After": "3000"})]
    experiment_id, user = await first_run(client)
    created = await client.post(
        "/v1/alerts/rules", headers=user, json=rule_body(experiment_id, receiver, email_to=[])
    )
    assert created.status_code == 201
    await run_again(app, experiment_id, {"HubSpot": 0.95})

    async def first_try_logged() -> bool:
        found = await alerts_of(client, user, experiment_id)
        return bool(found) and bool(found[0]["deliveries"][0]["log"])

    await wait_until(first_try_logged, message="the first try was not logged")
    (alert,) = await alerts_of(client, user, experiment_id)
    (webhook,) = alert["deliveries"]
    assert webhook["status"] == "pending" and webhook["last_status_code"] == 500
    (first,) = webhook["log"]
    tried_at = _time(first["at"])
    assert _time(first["retry_at"]) - tried_at == timedelta(seconds=600)

    runtime = app_runtime(app)
    vault = Vault(app.state.service.keys)
    now = tried_at + timedelta(seconds=601)
    second = await delivery.deliver_due(runtime.session_factory, runtime.settings, vault, now=now)
    assert len(second.retrying) == 1  # 429, Retry-After 3000 s: longer than the 1200 s back-off
    assert receiver.received[-1].headers[signing.TIMESTAMP_HEADER] == str(int(now.timestamp()))
    early = await delivery.deliver_due(
        runtime.session_factory, runtime.settings, vault, now=now + timedelta(seconds=1201)
    )
    assert not (early.sent or early.retrying or early.failed)
    last = await delivery.deliver_due(
        runtime.session_factory, runtime.settings, vault, now=now + timedelta(seconds=3001)
    )
    assert len(last.sent) == 1 and len(receiver.received) == 3
    # One delivery id on every try, for receivers to drop repeats.
    assert len({r.headers[signing.DELIVERY_HEADER] for r in receiver.received}) == 1

    (alert,) = await alerts_of(client, user, experiment_id)
    (webhook,) = alert["deliveries"]
    assert webhook["status"] == "sent" and webhook["attempts"] == 3
    log = [(entry["attempt"], entry["status_code"]) for entry in webhook["log"]]
    assert log == [(1, 500), (2, 429), (3, 200)]
    assert "HTTP 429" in webhook["log"][1]["error"]
    assert _time(webhook["log"][1]["retry_at"]) == now + timedelta(seconds=3000)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_only_owners_and_admins_manage_rules_and_private_urls_are_refused(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    team = await create_team(client, ["admin", "member"])
    body = {"name": "Any change", "metrics": ["visibility", "mention_rate"]}
    member = await client.post("/v1/alerts/rules", headers=team.as_["member"], json=body)
    assert member.status_code == 403
    admin = await client.post("/v1/alerts/rules", headers=team.as_["admin"], json=body)
    assert admin.status_code == 201 and admin.json()["webhook_secret"] is None
    rule_id = admin.json()["id"]
    assert (await client.get("/v1/alerts/rules", headers=team.as_["member"])).status_code == 200
    gone = await client.delete(f"/v1/alerts/rules/{rule_id}", headers=team.as_["member"])
    assert gone.status_code == 403

    app_runtime(app).settings.alerts.allow_private_webhook_urls = False
    private = await client.post(
        "/v1/alerts/rules", headers=team.as_["owner"], json={**body, "webhook_url": receiver.url}
    )
    assert private.status_code == 422
    assert "webhook URL" in private.json()["error"]["message"]
    bad = await client.post(
        "/v1/alerts/rules", headers=team.as_["owner"], json={**body, "metrics": ["vibes"]}
    )
    assert bad.status_code == 422
    unknown = await client.post(
        "/v1/alerts/rules",
        headers=team.as_["owner"],
        json={**body, "experiment_id": str(uuid.uuid4())},
    )
    assert unknown.status_code == 404
    assert (
        await client.delete(f"/v1/alerts/rules/{rule_id}", headers=team.as_["owner"])
    ).status_code == 204


async def test_a_workspace_wide_rule_fires_and_a_url_turned_private_is_not_called(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    experiment_id, user = await first_run(client)
    body = {**rule_body(experiment_id, receiver, email_to=[]), "experiment_id": None}
    assert (await client.post("/v1/alerts/rules", headers=user, json=body)).status_code == 201
    # The operator stops allowing private addresses: the stored URL is checked again.
    app_runtime(app).settings.alerts.allow_private_webhook_urls = False
    await run_again(app, experiment_id, {"HubSpot": 0.95})

    async def given_up() -> bool:
        found = await alerts_of(client, user, experiment_id)
        return bool(found) and found[0]["deliveries"][0]["status"] == "failed"

    await wait_until(given_up, message="the delivery was not given up")
    (alert,) = await alerts_of(client, user, experiment_id)
    (webhook,) = alert["deliveries"]
    assert webhook["attempts"] == 1 and webhook["last_status_code"] is None
    assert (
        "private" in webhook["last_error"] and "ALLOW_PRIVATE_WEBHOOK_URLS" in webhook["last_error"]
    )
    assert receiver.received == []
