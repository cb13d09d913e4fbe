"""Accounts rules on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from echo_ai.api_keys import service as api_keys
from echo_ai.api_keys.models import ApiKey
from echo_ai.api_keys.schemas import ApiKeyCreate
from echo_ai.auth import service as accounts
from echo_ai.auth.models import RefreshToken, User
from echo_ai.auth.schemas import Credentials, PasswordChange, Registration, TokenPair
from echo_ai.db import transaction, utcnow
from echo_ai.errors import Conflict, NotFound
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Actor, ActorKind
from echo_ai.privacy.models import AuditEvent
from echo_ai.security.credentials import Refusal
from echo_ai.security.keys import KeyRing
from echo_ai.security.tokens import TokenSigner
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Membership, Role
from tests.kit import PASSWORD

pytestmark = pytest.mark.usefixtures("backend")

UNKNOWN, ENDED = Refusal.UNKNOWN, Refusal.ENDED


KEYS = KeyRing(current="k" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*")
VISITOR = Actor(ip="203.0.113.7", user_agent="test")
"""Someone not signed in (registering, signing in)."""


def _as(user: User) -> Actor:
    return Actor(kind=ActorKind.USER, user_id=user.id)


def _tokens() -> accounts.TokenSettings:
    return accounts.TokenSettings(
        signer=TokenSigner(KEYS.signing_keys(), issuer="echo-ai", audience="echo-ai-api"),
        refresh_ttl=timedelta(days=30),
        access_ttl=timedelta(minutes=15),
    )


async def _register(runtime: Runtime, email: str = "Ada@Example.com") -> User:
    async with transaction(runtime.session_factory) as session:
        user = await workspaces.register(
            session,
            Registration(email=email, password=PASSWORD, display_name="Ada", accept_terms=True),
            actor=VISITOR,
            settings=runtime.settings,
        )
    assert user is not None
    return user


async def test_registration_creates_a_personal_workspace_owned_by_the_user(
    runtime: Runtime,
) -> None:
    user = await _register(runtime)
    assert user.email == "ada@example.com"
    async with transaction(runtime.session_factory) as session:
        ((membership, workspace),) = await workspaces.memberships(session, user.id)
    assert workspace.personal and membership.role == Role.OWNER
    assert user.password_hash.startswith("$argon2id$")


async def test_registering_a_taken_email_changes_nothing(runtime: Runtime) -> None:
    user = await _register(runtime)
    async with transaction(runtime.session_factory) as session:
        again = await workspaces.register(
            session,
            Registration(
                email="ADA@example.com", password="another long password", accept_terms=True
            ),
            actor=VISITOR,
            settings=runtime.settings,
        )
        assert again is None
        stored = await session.get(User, user.id)
        assert stored is not None and stored.password_hash == user.password_hash
        assert len(list(await session.scalars(select(Membership)))) == 1


async def test_weak_passwords_are_refused(runtime: Runtime) -> None:
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(accounts.WeakPassword, match="at least 12"):
            await workspaces.register(
                session,
                Registration(email="a@b.co", password="short", accept_terms=True),
                actor=VISITOR,
                settings=runtime.settings,
            )


async def test_unknown_email_and_wrong_password_fail_alike(runtime: Runtime) -> None:
    await _register(runtime)
    async with transaction(runtime.session_factory) as session:
        for email, password in (("nobody@example.com", PASSWORD), ("ada@example.com", "wrong" * 4)):
            with pytest.raises(accounts.InvalidCredentials) as caught:
                await accounts.authenticate(session, Credentials(email=email, password=password))
            assert (caught.value.status_code, caught.value.message) == (
                401,
                "email or password is incorrect",
            )
        user = await accounts.authenticate(
            session, Credentials(email="ada@example.com", password=PASSWORD)
        )
        assert user.last_login_at is not None


async def test_sign_in_audits_both_outcomes_and_a_refusal_commits(runtime: Runtime) -> None:
    user = await _register(runtime)
    async with transaction(runtime.session_factory) as session:
        wrong = Credentials(email="ada@example.com", password="wrong" * 4)
        assert await workspaces.sign_in(session, wrong, actor=VISITOR) is None
        unknown = Credentials(email="nobody@example.com", password=PASSWORD)
        assert await workspaces.sign_in(session, unknown, actor=VISITOR) is None
    # The refusals were returned, not raised: the transaction committed their events.
    async with transaction(runtime.session_factory) as session:
        right = Credentials(email="ada@example.com", password=PASSWORD)
        signed_in = await workspaces.sign_in(session, right, actor=VISITOR)
        assert signed_in is not None and signed_in.id == user.id
    async with transaction(runtime.session_factory) as session:
        workspace_id = await workspaces.personal_workspace_id(session, user.email)
        assert workspace_id is not None
        events = await audit.page(session, workspace_id, limit=10)
        nowhere = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.workspace_id.is_(None)))
        )
    succeeded, failed, registered = events
    assert [succeeded.action, failed.action, registered.action] == [
        "auth.login_succeeded",
        "auth.login_failed",
        "user.registered",
    ]
    assert (succeeded.actor_type, succeeded.actor_user_id) == ("user", user.id)
    assert (failed.actor_type, registered.actor_type) == ("anonymous", "user")
    assert (failed.actor_user_id, failed.ip) == (None, "203.0.113.7")
    assert registered.actor_user_id == user.id and registered.target_id == str(user.id)
    # An unknown address has no workspace: its failure is kept, in none.
    assert [event.action for event in nowhere] == ["auth.login_failed"]


async def test_a_password_change_is_audited_in_the_personal_workspace(runtime: Runtime) -> None:
    user = await _register(runtime)
    async with transaction(runtime.session_factory) as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        change = PasswordChange(current_password=PASSWORD, new_password="a brand new passphrase")
        await workspaces.change_password(
            session, stored, change, actor=_as(user), settings=runtime.settings
        )
    async with transaction(runtime.session_factory) as session:
        workspace_id = await workspaces.personal_workspace_id(session, user.email)
        assert workspace_id is not None
        latest, _ = await audit.page(session, workspace_id, limit=10)
        assert await accounts.authenticate(
            session, Credentials(email=user.email, password="a brand new passphrase")
        )
    assert (latest.action, latest.actor_type, latest.actor_user_id) == (
        "auth.password_changed",
        "user",
        user.id,
    )


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(runtime: Runtime) -> None:
    user = await _register(runtime)
    tokens = _tokens()
    async with transaction(runtime.session_factory) as session:
        first = await accounts.issue_tokens(session, user, tokens=tokens)
    async with transaction(runtime.session_factory) as session:
        second = await accounts.refresh(session, first.refresh_token, tokens=tokens)
    assert isinstance(second, TokenPair) and second.refresh_token != first.refresh_token
    assert tokens.signer.verify(second.access_token).subject == str(user.id)

    async with transaction(runtime.session_factory) as session:  # replay of the used one
        assert await accounts.refresh(session, first.refresh_token, tokens=tokens) is ENDED
    async with transaction(runtime.session_factory) as session:  # ...killed the family
        assert await accounts.refresh(session, second.refresh_token, tokens=tokens) is ENDED
        rows = list(await session.scalars(select(RefreshToken)))
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)


async def test_expired_and_unknown_refresh_tokens_are_refused(runtime: Runtime) -> None:
    user = await _register(runtime)
    tokens = _tokens()
    async with transaction(runtime.session_factory) as session:
        pair = await accounts.issue_tokens(session, user, tokens=tokens)
        await session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(1)))
    async with transaction(runtime.session_factory) as session:
        assert await accounts.refresh(session, pair.refresh_token, tokens=tokens) is ENDED
        assert await accounts.refresh(session, "echo_rt_unknown", tokens=tokens) is UNKNOWN


async def test_logout_and_password_change_end_sessions(runtime: Runtime) -> None:
    user = await _register(runtime)
    tokens = _tokens()
    async with transaction(runtime.session_factory) as session:
        a = await accounts.issue_tokens(session, user, tokens=tokens)
        b = await accounts.issue_tokens(session, user, tokens=tokens)
        await accounts.logout(session, a.refresh_token)
    async with transaction(runtime.session_factory) as session:
        assert await accounts.refresh(session, a.refresh_token, tokens=tokens) is ENDED
        stored = await session.get(User, user.id)
        assert stored is not None
        with pytest.raises(accounts.InvalidCredentials):
            await accounts.change_password(
                session, stored, PasswordChange(current_password="x" * 12, new_password="y" * 16)
            )
        with pytest.raises(Conflict):
            await accounts.change_password(
                session, stored, PasswordChange(current_password=PASSWORD, new_password=PASSWORD)
            )
        await accounts.change_password(
            session,
            stored,
            PasswordChange(current_password=PASSWORD, new_password="a brand new passphrase"),
        )
    async with transaction(runtime.session_factory) as session:
        assert await accounts.refresh(session, b.refresh_token, tokens=tokens) is ENDED
        await accounts.authenticate(
            session, Credentials(email=user.email, password="a brand new passphrase")
        )


async def test_api_keys_authenticate_by_digest_and_can_be_revoked(runtime: Runtime) -> None:
    user = await _register(runtime)
    async with transaction(runtime.session_factory) as session:
        ((_, workspace),) = await workspaces.memberships(session, user.id)
        key, token = await api_keys.create(
            session,
            workspace.id,
            ApiKeyCreate(name="ci", scopes=["read"]),
            created_by=user.id,
            pepper=KEYS.peppers()[0],
            actor=_as(user),
        )
    assert token.startswith("echo_live_") and token.endswith(key.last4)
    async with transaction(runtime.session_factory) as session:
        found = await api_keys.authenticate(session, token, peppers=KEYS.peppers())
        assert isinstance(found, api_keys.KeyGrant)
        assert (found.key.id, found.key.scopes, found.role) == (key.id, ["read"], Role.VIEWER)
        tampered = token[:-1] + ("y" if token.endswith("x") else "x")  # always another key
        assert await api_keys.authenticate(session, tampered, peppers=KEYS.peppers()) is UNKNOWN
        stored = await session.get(ApiKey, key.id, populate_existing=True)
        assert stored is not None and stored.last_used_at is not None
    # A rotated secret keeps old keys working through the previous-keys list.
    rotated = KeyRing(
        current="N" * 4 + "w9#Lq2$Vz7!Kp5@Xr8%Tb3^Hm6&Jd1*Gs", previous=(KEYS.current,)
    )
    async with transaction(runtime.session_factory) as session:
        assert isinstance(
            await api_keys.authenticate(session, token, peppers=rotated.peppers()),
            api_keys.KeyGrant,
        )
        await api_keys.revoke(session, workspace.id, key.id, actor=_as(user))
        with pytest.raises(NotFound):
            await api_keys.revoke(session, user.id, key.id, actor=_as(user))  # another "workspace"
    async with transaction(runtime.session_factory) as session:
        assert await api_keys.authenticate(session, token, peppers=KEYS.peppers()) is ENDED


async def test_expired_api_keys_are_refused(runtime: Runtime) -> None:
    user = await _register(runtime)
    async with transaction(runtime.session_factory) as session:
        ((_, workspace),) = await workspaces.memberships(session, user.id)
        key, token = await api_keys.create(
            session,
            workspace.id,
            ApiKeyCreate(name="short", expires_in_days=1),
            created_by=user.id,
            pepper=KEYS.peppers()[0],
            actor=_as(user),
        )
        await session.execute(
            update(ApiKey).where(ApiKey.id == key.id).values(expires_at=utcnow() - timedelta(1))
        )
    async with transaction(runtime.session_factory) as session:
        assert await api_keys.authenticate(session, token, peppers=KEYS.peppers()) is ENDED
