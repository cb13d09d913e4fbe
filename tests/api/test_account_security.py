"""Account security and consent over HTTP: 2FA at sign-in, a workspace's 2FA
requirement, sessions and their revocation, consents and the marketing opt-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.auth.models import Consent, User
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.mail.listing import text_of
from echo_ai.mail.models import OutboundMail
from echo_ai.mail.notices import CHANGES
from tests.kit import (
    PASSWORD,
    ManualClock,
    api_key,
    app_runtime,
    bearer,
    create_team,
    login,
    register,
    register_and_login,
)

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def throttle_clock(started_app: FastAPI) -> ManualClock:
    """The sign-in throttle's clock: its delays pass only when a test says so."""
    frozen = ManualClock()
    started_app.state.sign_in_throttle.clock = frozen
    return frozen


async def _enable(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[pyotp.TOTP, list[str]]:
    """Turn 2FA on (confirmed with the previous step's code, so that the current and next
    steps' codes are still unused) : the app's TOTP and the recovery codes."""
    begun = await client.post("/v1/account/2fa", headers=headers, json={"password": PASSWORD})
    assert begun.status_code == 200, begun.text
    totp = pyotp.TOTP(begun.json()["secret"])
    assert begun.json()["otpauth_uri"] == totp.provisioning_uri(
        name=begun.json()["otpauth_uri"].split(":")[2].split("?")[0].replace("%40", "@"),
        issuer_name="Echo AI",
    )
    previous = totp.at(utcnow() - timedelta(seconds=30))
    confirmed = await client.post(
        "/v1/account/2fa/confirm", headers=headers, json={"code": previous}
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp, confirmed.json()["recovery_codes"]


async def _sign_in(
    client: httpx.AsyncClient, email: str, code: str | None = None, **headers: str
) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "password": PASSWORD}
    if code is not None:
        body["totp_code"] = code
    return await client.post("/auth/login", json=body, headers=headers)


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def _audit_actions(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get("/v1/audit-events", headers=headers, params={"limit": 100})
    assert response.status_code == 200, response.text
    return [event["action"] for event in response.json()["items"]]


async def test_sign_in_with_two_factor_codes_and_recovery_codes(
    client: httpx.AsyncClient, throttle_clock: ManualClock
) -> None:
    headers = await register_and_login(client)
    key = await api_key(client, headers, ["read"])
    me = await client.get("/auth/me", headers=headers)
    assert me.json()["two_factor_enabled"] is False
    totp, codes = await _enable(client, headers)
    assert len(codes) == 10
    me = await client.get("/auth/me", headers=headers)
    assert me.json()["two_factor_enabled"] is True
    status = await client.get("/v1/account/2fa", headers=headers)
    assert status.json()["enabled"] is True and status.json()["recovery_codes_left"] == 10

    assert _error(await _sign_in(client, "ada@example.com")) == (401, "second_factor_required")
    wrong = "123456" if totp.now() != "123456" else "654321"
    assert _error(await _sign_in(client, "ada@example.com", wrong)) == (
        401,
        "invalid_second_factor",
    )
    # A wrong password is refused as before, whatever the code.
    refused = await client.post(
        "/auth/login",
        json={"email": "ada@example.com", "password": "wrong password!", "totp_code": totp.now()},
    )
    assert _error(refused) == (401, "invalid_credentials")
    throttle_clock.advance(3600)  # past the throttle's delays after three failures

    current = totp.now()
    assert (await _sign_in(client, "ada@example.com", current)).status_code == 200
    # The same code again (a replay) is refused; the next step's code is accepted.
    assert _error(await _sign_in(client, "ada@example.com", current)) == (
        401,
        "invalid_second_factor",
    )
    upcoming = totp.at(utcnow() + timedelta(seconds=30))
    assert (await _sign_in(client, "ada@example.com", upcoming)).status_code == 200
    # A recovery code signs in once.
    assert (await _sign_in(client, "ada@example.com", codes[0])).status_code == 200
    assert _error(await _sign_in(client, "ada@example.com", codes[0]))[1] == "invalid_second_factor"
    throttle_clock.advance(3600)
    status = await client.get("/v1/account/2fa", headers=headers)
    assert status.json()["recovery_codes_left"] == 9
    # API keys are unaffected.
    assert (await client.get("/v1/whoami", headers=key)).status_code == 200

    actions = await _audit_actions(client, headers)
    assert "auth.2fa_enabled" in actions
    assert actions.count("auth.login_failed") >= 4


async def test_setting_2fa_up_needs_the_password(client: httpx.AsyncClient) -> None:
    """A stolen session alone cannot put an attacker's authenticator on the account."""
    headers = await register_and_login(client)
    missing = await client.post("/v1/account/2fa", headers=headers)
    assert missing.status_code == 422
    wrong = await client.post("/v1/account/2fa", headers=headers, json={"password": "guess"})
    assert _error(wrong) == (401, "invalid_credentials")
    # Refused before any secret was made: confirming with a code of no app finds none.
    confirm = await client.post("/v1/account/2fa/confirm", headers=headers, json={"code": "1"})
    assert confirm.status_code == 401
    assert (await client.get("/v1/account/2fa", headers=headers)).json()["enabled"] is False
    listed = await client.get("/v1/audit-events", headers=headers, params={"limit": 100})
    failed = [e for e in listed.json()["items"] if e["action"] == "auth.confirmation_failed"]
    assert failed[0]["details"] == {"purpose": "enable_2fa", "reason": "invalid_credentials"}
    _totp, codes = await _enable(client, headers)
    assert len(codes) == 10


async def test_failed_second_factors_count_as_failed_sign_ins(
    client: httpx.AsyncClient, throttle_clock: ManualClock
) -> None:
    headers = await register_and_login(client)
    totp, _ = await _enable(client, headers)
    wrong = "000000" if totp.now() != "000000" else "111111"
    answers = [(await _sign_in(client, "ada@example.com", wrong)).status_code for _ in range(4)]
    # The sign-in throttle slows the address down as after wrong passwords.
    assert answers == [401, 401, 401, 429]
    throttle_clock.advance(1)
    assert (await _sign_in(client, "ada@example.com", totp.now())).status_code == 200


async def test_turning_2fa_off_and_new_codes_need_password_and_code(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    headers = await register_and_login(client)
    _totp, codes = await _enable(client, headers)
    again = await client.post("/v1/account/2fa", headers=headers, json={"password": PASSWORD})
    assert _error(again) == (409, "conflict")
    # Setting up counted two confirmations by password: a new hour's allowance for the rest.
    await started_app.state.rate_limiter.reset()

    no_password = await client.request(
        "DELETE",
        "/v1/account/2fa",
        headers=headers,
        json={"password": "not my password", "code": codes[0]},
    )
    assert _error(no_password) == (401, "invalid_credentials")
    bad_code = await client.post(
        "/v1/account/2fa/recovery-codes",
        headers=headers,
        json={"password": PASSWORD, "code": "nope-nope"},
    )
    assert _error(bad_code) == (401, "invalid_second_factor")
    renewed = await client.post(
        "/v1/account/2fa/recovery-codes",
        headers=headers,
        json={"password": PASSWORD, "code": codes[0]},
    )
    assert renewed.status_code == 200
    fresh = renewed.json()["recovery_codes"]
    assert not set(fresh) & set(codes)
    old = await client.request(
        "DELETE", "/v1/account/2fa", headers=headers, json={"password": PASSWORD, "code": codes[1]}
    )
    assert _error(old) == (401, "invalid_second_factor")
    off = await client.request(
        "DELETE", "/v1/account/2fa", headers=headers, json={"password": PASSWORD, "code": fresh[0]}
    )
    assert off.status_code == 204
    assert (await _sign_in(client, "ada@example.com")).status_code == 200
    actions = await _audit_actions(client, headers)
    assert {"auth.2fa_disabled", "auth.recovery_codes_regenerated"} <= set(actions)
    # Each change was told to the account's address.
    assert await _notices(app_runtime(started_app), "ada@example.com") == [
        "2fa_enabled",
        "recovery_codes",
        "2fa_disabled",
    ]


async def _notices(runtime: Runtime, email: str) -> list[str]:
    """The change notices queued for ``email``, oldest first: what each says changed."""
    async with transaction(runtime.session_factory) as session:
        mails = await session.scalars(
            select(OutboundMail)
            .where(OutboundMail.to_address == email, OutboundMail.kind == "notice")
            .order_by(OutboundMail.created_at)
        )
        return [
            what
            for mail in mails
            for what, said in CHANGES.items()
            if said in text_of(mail, runtime.settings)
        ]


async def test_a_workspace_can_require_two_factor_authentication(
    client: httpx.AsyncClient,
) -> None:
    team = await create_team(client, ["admin", "member"])
    member_key = await api_key(client, team.as_["admin"], ["read"])
    # Only owners, and only with 2FA on their own account.
    by_admin = await client.put(
        "/v1/workspace/security", headers=team.as_["admin"], json={"require_2fa": True}
    )
    assert _error(by_admin) == (403, "forbidden")
    without = await client.put(
        "/v1/workspace/security", headers=team.as_["owner"], json={"require_2fa": True}
    )
    assert _error(without) == (409, "conflict")
    await _enable(client, team.as_["owner"])
    required = await client.put(
        "/v1/workspace/security", headers=team.as_["owner"], json={"require_2fa": True}
    )
    assert required.status_code == 200 and required.json() == {"require_2fa": True}

    refused = await client.get("/v1/members", headers=team.as_["member"])
    assert _error(refused) == (403, "two_factor_required")
    assert "/settings/security" in refused.json()["error"]["message"]
    # The member's own personal workspace is not affected, and the account's 2FA routes
    # stay reachable even with the team's header.
    personal = {"Authorization": team.as_["member"]["Authorization"]}
    assert (await client.get("/v1/members", headers=personal)).status_code == 200
    assert (await client.get("/v1/account/2fa", headers=team.as_["member"])).status_code == 200
    # API keys keep working (documented).
    assert (await client.get("/v1/whoami", headers=member_key)).status_code == 200

    await _enable(client, team.as_["member"])
    assert (await client.get("/v1/members", headers=team.as_["member"])).status_code == 200
    actions = await _audit_actions(client, team.as_["owner"])
    assert "workspace.2fa_requirement_set" in actions


async def test_sessions_are_listed_and_revoked(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Safari/605.1"
    first = (await _sign_in(client, "ada@example.com", **{"User-Agent": chrome})).json()
    second = (await _sign_in(client, "ada@example.com", **{"User-Agent": iphone})).json()
    third = (await _sign_in(client, "ada@example.com", **{"User-Agent": "curl/8.5"})).json()
    headers = bearer(first["access_token"])

    listed = await client.get("/v1/account/sessions", headers=headers)
    assert listed.status_code == 200
    sessions = listed.json()
    assert sorted(s["device"] for s in sessions) == ["Chrome on Linux", "Safari on iOS", "curl"]
    assert [s["device"] for s in sessions if s["current"]] == ["Chrome on Linux"]
    assert all(s["ip"] for s in sessions)

    # A refresh keeps the session (same id, device) and moves its last use.
    rotated = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    headers = bearer(rotated.json()["access_token"])
    again = (await client.get("/v1/account/sessions", headers=headers)).json()
    assert {s["id"] for s in again} == {s["id"] for s in sessions}
    assert [s["device"] for s in again if s["current"]] == ["Chrome on Linux"]

    iphone_id = next(s["id"] for s in sessions if s["device"] == "Safari on iOS")
    revoked = await client.delete(f"/v1/account/sessions/{iphone_id}", headers=headers)
    assert revoked.status_code == 204
    refused = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert refused.status_code == 401
    gone = await client.delete(f"/v1/account/sessions/{iphone_id}", headers=headers)
    assert _error(gone) == (404, "not_found")

    everywhere = await client.post("/v1/account/sessions/revoke-all", headers=headers, json={})
    assert everywhere.json() == {"revoked": 1}
    refused = await client.post("/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert refused.status_code == 401
    left = (await client.get("/v1/account/sessions", headers=headers)).json()
    assert [s["device"] for s in left] == ["Chrome on Linux"]
    actions = await _audit_actions(client, headers)
    assert {"auth.session_revoked", "auth.sessions_revoked"} <= set(actions)

    # Another user cannot see or end these sessions.
    other = await register_and_login(client, "bob@example.com")
    assert len((await client.get("/v1/account/sessions", headers=other)).json()) == 1
    theirs = await client.delete(f"/v1/account/sessions/{left[0]['id']}", headers=other)
    assert theirs.status_code == 404
    all_of_them = await client.post(
        "/v1/account/sessions/revoke-all", headers=headers, json={"keep_current": False}
    )
    assert all_of_them.json() == {"revoked": 1}
    rotated_token = rotated.json()["refresh_token"]
    refused = await client.post("/auth/refresh", json={"refresh_token": rotated_token})
    assert refused.status_code == 401


async def test_consent_is_recorded_at_sign_up_and_asked_again_for_a_new_version(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    missing = await client.post(
        "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["details"] == [
        {
            "field": "accept_terms",
            "location": "body",
            "message": "Field required",
            "type": "missing",
        }
    ]
    refused = await client.post(
        "/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "accept_terms": False},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "accept_terms"
    assert "accept the terms" in refused.json()["error"]["details"][0]["message"]
    registered = await client.post(
        "/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "accept_terms": True},
        headers={"User-Agent": "signup-agent/1.0"},
    )
    assert registered.status_code == 201
    tokens = await login(client, "ada@example.com")
    assert tokens["consent_required"] is None
    headers = bearer(tokens["access_token"])
    state = (await client.get("/v1/account/consents", headers=headers)).json()
    privacy = runtime.settings.privacy
    assert state["consent_required"] is False and state["marketing_opt_in"] is False
    assert sorted((row["kind"], row["version"], row["granted"]) for row in state["history"]) == [
        ("privacy", privacy.privacy_version, True),
        ("terms", privacy.terms_version, True),
    ]
    assert {row["user_agent"] for row in state["history"]} == {"signup-agent/1.0"}
    assert all(row["ip"] for row in state["history"])

    # The accepted version is older than the one in force now (as after an update).
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Consent).where(Consent.kind == "terms").values(version="2020-01-01")
        )
    tokens = await login(client, "ada@example.com")
    assert tokens["consent_required"] == {
        "terms_version": privacy.terms_version,
        "privacy_version": privacy.privacy_version,
    }
    headers = bearer(tokens["access_token"])
    stale = await client.post(
        "/v1/account/consents", headers=headers, json={"terms_version": "2020-01-01"}
    )
    assert _error(stale) == (409, "conflict")
    accepted = await client.post("/v1/account/consents", headers=headers, json={})
    assert accepted.status_code == 200 and accepted.json()["consent_required"] is False
    assert (await login(client, "ada@example.com"))["consent_required"] is None
    assert "privacy.consent_given" in await _audit_actions(client, headers)


async def test_marketing_opt_in_and_withdrawal_are_each_recorded(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    registered = await client.post(
        "/auth/register",
        json={
            "email": "ada@example.com",
            "password": PASSWORD,
            "accept_terms": True,
            "marketing_opt_in": True,
        },
    )
    assert registered.status_code == 201
    headers = bearer((await login(client, "ada@example.com"))["access_token"])
    assert (await client.get("/auth/me", headers=headers)).json()["marketing_opt_in"] is True
    off = await client.put("/v1/account/marketing", headers=headers, json={"opt_in": False})
    assert off.status_code == 200 and off.json()["marketing_opt_in"] is False
    on = await client.put("/v1/account/marketing", headers=headers, json={"opt_in": True})
    assert on.json()["marketing_opt_in"] is True
    marketing = [row["granted"] for row in on.json()["history"] if row["kind"] == "marketing"]
    assert marketing == [True, False, True]
    async with transaction(runtime.session_factory) as session:
        user = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert user is not None and user.marketing_opt_in is True
    actions = await _audit_actions(client, headers)
    assert actions.count("privacy.marketing_consent_changed") == 3


async def test_guessing_the_password_or_code_to_turn_2fa_off_is_audited_and_limited(
    client: httpx.AsyncClient,
) -> None:
    headers = await register_and_login(client)
    _totp, codes = await _enable(client, headers)
    for _ in range(3):
        wrong = await client.request(
            "DELETE", "/v1/account/2fa", headers=headers, json={"password": "guess", "code": "1"}
        )
        assert _error(wrong) == (401, "invalid_credentials")
    # Setting 2FA up was one of the hour's five confirmations by password: this is the last.
    wrong = await client.post(
        "/v1/account/2fa/recovery-codes",
        headers=headers,
        json={"password": PASSWORD, "code": "nope-nope"},
    )
    assert _error(wrong) == (401, "invalid_second_factor")
    limited = await client.request(
        "DELETE", "/v1/account/2fa", headers=headers, json={"password": PASSWORD, "code": codes[0]}
    )
    assert _error(limited) == (429, "rate_limited")
    assert (await client.get("/v1/account/2fa", headers=headers)).json()["enabled"] is True
    actions = await _audit_actions(client, headers)
    assert actions.count("auth.confirmation_failed") == 4


async def test_turning_2fa_on_ends_the_other_sessions_and_keeps_this_one(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ada@example.com")
    current = await login(client, "ada@example.com")
    other = await login(client, "ada@example.com")  # another sign-in, before 2FA
    headers = bearer(current["access_token"])
    begun = await client.post("/v1/account/2fa", headers=headers, json={"password": PASSWORD})
    totp = pyotp.TOTP(begun.json()["secret"])
    confirmed = await client.post(
        "/v1/account/2fa/confirm",
        headers=headers,
        json={"code": totp.at(utcnow() - timedelta(seconds=30))},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["sessions_ended"] == 1

    refused = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refused.status_code == 401
    # The session that turned it on goes on: its access token and its refresh token.
    assert (await client.get("/auth/me", headers=headers)).status_code == 200
    kept = await client.post("/auth/refresh", json={"refresh_token": current["refresh_token"]})
    assert kept.status_code == 200, kept.text
    sessions = await client.get("/v1/account/sessions", headers=headers)
    assert [s["current"] for s in sessions.json()] == [True]
