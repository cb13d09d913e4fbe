"""Erasure of an account (GDPR Art. 17).

:func:`preview` says what deleting an account takes with it and what blocks it; :func:`erase`
does it in the caller's transaction:

- a workspace the user owns alone (no other member) is deleted with everything in it;
  one with other members where the user is the only owner blocks the deletion (another
  member must be made owner first); memberships elsewhere are removed, with the API keys
  the user created there revoked;
- sign-ins (refresh tokens), e-mailed tokens, recovery codes, consents, exports (their
  files too, also one being written), invitations and queued mails to the address are
  deleted, and the address leaves the alert rules that mail it (their e-mail deliveries
  deleted: ``forget``): the current
  address and every other the account had or asked for (:func:`account_addresses`: former
  ones, pending changes), unless another account has that address now;
- other users' exports that name the user: a ready one whose ZIP holds one of the
  addresses is withdrawn (file deleted, status ``withdrawn``: its owner may ask again),
  one being written starts over once the erasure has committed
  (:func:`echo_ai.accounts.export.withdraw_naming`, ``restart_others``);
- the user row keeps only what the retention purge needs: the e-mail becomes a pseudonym
  (``deleted-<hmac>@invalid``), the password can never match, the name and 2FA are
  cleared, ``deleted_at`` is set (the row is purged ``privacy.deleted_account_days``
  later); the account is inactive at once, so its access tokens stop working too;
- in the audit log, the user's id, addresses, devices and e-mails become keyed pseudonyms
  (HMAC-SHA256 with :attr:`~echo_ai.security.keys.KeyRing.audit_pseudonym_key`): the same
  pseudonym in every event, so the log stays consistent without naming them.

On SQLite the old bytes go too: every connection zeroes what it deletes
(``secure_delete``, :mod:`echo_ai.db`), and once the erasure has committed the
write-ahead log, which still holds the pages as they were, is copied into the database
and emptied (:func:`echo_ai.db.truncate_wal`). PostgreSQL keeps dead row versions until
``VACUUM`` (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, Text, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from echo_ai.accounts import export as exports
from echo_ai.accounts.models import DataExport
from echo_ai.accounts.security import confirm_password, confirm_second_factor
from echo_ai.api_keys import service as api_keys
from echo_ai.auth.models import Consent, RecoveryCode, RefreshToken, User, UserToken
from echo_ai.db import after_commit, truncate_wal, utcnow
from echo_ai.errors import Conflict
from echo_ai.mail import erasure as mail_erasure
from echo_ai.metering.models import ExperimentMonth, SpendLine, UsageMonth, WorkspaceBudget
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor, ActorKind
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import Experiment
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces.models import Invitation, Membership, Role, Workspace

AddressForgetter = Callable[[AsyncSession, str], Awaitable[None]]
"""Removes what a layer above keeps of an e-mail address (lower case)."""

UNUSABLE_PASSWORD = "!erased"
"""Not a hash any password verifies against."""

ERASURE_LOCK = 0x45_52_41_53_45
"""The PostgreSQL advisory lock (transaction-scoped) that erasures take in turn."""


@dataclass(frozen=True)
class WorkspaceRef:
    id: uuid.UUID
    name: str
    role: Role


@dataclass(frozen=True)
class DeletionPreview:
    deleted: list[WorkspaceRef] = field(default_factory=list)
    """Workspaces the user owns alone: deleted with the account."""
    left: list[WorkspaceRef] = field(default_factory=list)
    """Workspaces the user leaves (memberships removed)."""
    blocking: list[WorkspaceRef] = field(default_factory=list)
    """Workspaces with other members where the user is the only owner."""

    @property
    def allowed(self) -> bool:
        return not self.blocking


class DeletionBlocked(Conflict):
    code = "account_deletion_blocked"

    def __init__(self, blocking: list[WorkspaceRef]) -> None:
        names = ", ".join(f"“{w.name}”" for w in blocking)
        super().__init__(
            f"you are the only owner of {names}, which other members use: "
            "make another member owner first (or remove the other members)"
        )
        self.details = {"workspaces": [{"id": str(w.id), "name": w.name} for w in blocking]}


async def preview(session: AsyncSession, user: User) -> DeletionPreview:
    """What deleting ``user`` would do: three queries, nothing changed."""
    mine = (
        await session.execute(
            select(Membership.workspace_id, Membership.role, Workspace.name)
            .join(Workspace, Workspace.id == Membership.workspace_id)
            .where(Membership.user_id == user.id)
            .order_by(Workspace.created_at)
        )
    ).all()
    owned = [row.workspace_id for row in mine if row.role is Role.OWNER]
    others: dict[uuid.UUID, tuple[int, int]] = {}
    if owned:
        counts = await session.execute(
            select(
                Membership.workspace_id,
                func.count(),
                func.count().filter(Membership.role == Role.OWNER),
            )
            .where(Membership.workspace_id.in_(owned), Membership.user_id != user.id)
            .group_by(Membership.workspace_id)
        )
        others = {row[0]: (int(row[1]), int(row[2])) for row in counts}
    result = DeletionPreview()
    for row in mine:
        ref = WorkspaceRef(id=row.workspace_id, name=row.name, role=row.role)
        members, owners = others.get(row.workspace_id, (0, 0))
        if row.role is not Role.OWNER or owners > 0:
            result.left.append(ref)
        elif members == 0:
            result.deleted.append(ref)
        else:
            result.blocking.append(ref)
    return result


def pseudonym_id(key: bytes, user_id: uuid.UUID) -> uuid.UUID:
    """The user's id in the audit log once erased (a UUID made of the HMAC)."""
    digest = hmac.new(key, f"user:{user_id}".encode(), hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16])


def pseudonym_email(key: bytes, user_id: uuid.UUID) -> str:
    digest = hmac.new(key, f"email:{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"deleted-{digest[:24]}@invalid"


def pseudonym_value(key: bytes, kind: str, value: str | None) -> str | None:
    if value is None:
        return None
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"pseudonym-{digest[:24]}"


@dataclass(frozen=True)
class Erased:
    pseudonym: uuid.UUID
    email_pseudonym: str
    preview: DeletionPreview


async def erase(
    session: AsyncSession,
    user: User,
    *,
    pseudonym_key: bytes,
    data_dir: Path,
    actor: Actor,
    now: datetime | None = None,
    forget: Sequence[AddressForgetter] = (),
) -> Erased:
    """Erase ``user`` (see the module's docstring); :class:`DeletionBlocked` (409) when
    a workspace with other members would be left without an owner. ``actor`` is who asks
    (the user, or ``cli``); the deletion's own audit event names the user's pseudonym.
    ``forget``: what the layers above keep of an address, called with each of the
    account's (the alerts': :func:`echo_ai.alerts.erasure.forget_address`)."""
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # One erasure at a time: each locks other users' exports (to restart or withdraw
        # them) besides its own; two at once could wait on each other. SQLite has one
        # writer anyway.
        await session.execute(select(func.pg_advisory_xact_lock(ERASURE_LOCK)))
    plan = await preview(session, user)
    if not plan.allowed:
        raise DeletionBlocked(plan.blocking)
    user_id = user.id
    addresses = await account_addresses(session, user)
    for workspace in plan.left:
        await api_keys.revoke_keys_of(
            session, workspace.id, user_id, reason="account_deleted", actor=actor
        )
    deleted_ids = [workspace.id for workspace in plan.deleted]
    if deleted_ids:
        theirs = select(Experiment.id).where(Experiment.workspace_id.in_(deleted_ids))
        await session.execute(
            delete(ExperimentMonth).where(ExperimentMonth.experiment_id.in_(theirs))
        )
        await session.execute(delete(Experiment).where(Experiment.workspace_id.in_(deleted_ids)))
        for model in (WorkspaceBudget, UsageMonth, SpendLine):
            table = _table(model)
            await session.execute(delete(table).where(table.c.workspace_id.in_(deleted_ids)))
        await session.execute(delete(Workspace).where(Workspace.id.in_(deleted_ids)))
    await session.execute(delete(Membership).where(Membership.user_id == user_id))
    for owned in (RefreshToken, UserToken, RecoveryCode, Consent):
        table = _table(owned)
        await session.execute(delete(table).where(table.c.user_id == user_id))
    # Locked first: a preparation of one finishing now waits for this erasure, then finds
    # it gone and deletes its file (its files so far are deleted here, the partial too).
    for row in await session.scalars(
        select(DataExport).where(DataExport.user_id == user_id).with_for_update()
    ):
        exports.delete_file(data_dir, row)
    await session.execute(delete(DataExport).where(DataExport.user_id == user_id))
    # Other users' exports that name the user: those being written start over, the ready
    # ones that hold an address are withdrawn.
    await exports.restart_others(session, user_id)
    await exports.withdraw_naming(session, addresses, erased=user_id, data_dir=data_dir)
    await session.execute(delete(Invitation).where(func.lower(Invitation.email).in_(addresses)))
    for address in addresses:
        await mail_erasure.forget_address(session, address, data_dir=data_dir)
        for forget_in_layer in forget:
            await forget_in_layer(session, address)
    await session.flush()

    pseudonym = pseudonym_id(pseudonym_key, user_id)
    masked_email = pseudonym_email(pseudonym_key, user_id)
    await _pseudonymise_audit(session, pseudonym_key, user_id, addresses, pseudonym, masked_email)

    user.email = masked_email
    user.password_hash = UNUSABLE_PASSWORD
    user.display_name = None
    user.is_active = False
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.marketing_opt_in = False
    user.email_verified_at = None
    user.last_login_at = None
    user.deleted_at = now
    await session.flush()

    by_user = actor.kind is ActorKind.USER and actor.user_id == user_id
    await audit.record(
        session,
        Action.ACCOUNT_DELETED,
        actor=Actor(
            kind=ActorKind.USER,
            user_id=pseudonym,
            ip=pseudonym_value(pseudonym_key, "ip", actor.ip),
            user_agent=pseudonym_value(pseudonym_key, "ua", actor.user_agent),
        )
        if by_user
        else actor,
        target_type="user",
        target_id=pseudonym,
        details={
            "workspaces_deleted": [str(w.id) for w in plan.deleted],
            "memberships_removed": [str(w.id) for w in plan.left],
        },
    )
    engine = session.bind
    if isinstance(engine, AsyncEngine):

        async def forget_old_pages() -> None:
            await truncate_wal(engine)

        after_commit(session, forget_old_pages)
    return Erased(pseudonym=pseudonym, email_pseudonym=masked_email, preview=plan)


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_ADDRESS_EVENTS = {
    str(Action.EMAIL_CHANGE_REQUESTED): ("to",),
    str(Action.EMAIL_CHANGED): ("from", "to"),
}


async def account_addresses(session: AsyncSession, user: User) -> list[str]:
    """Every address of ``user``, lower-cased: the current one, the former ones and the
    ones a change was asked for (from the e-mailed tokens and the audit of e-mail
    changes), but those another account has now (theirs, not this user's to erase)."""
    found = {user.email.lower()}
    found.update(
        email.lower()
        for email in await session.scalars(
            select(UserToken.email).where(
                UserToken.user_id == user.id, UserToken.email.is_not(None)
            )
        )
        if email
    )
    events = await session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.target_type == "user",
            AuditEvent.target_id == str(user.id),
            AuditEvent.action.in_(list(_ADDRESS_EVENTS)),
        )
    )
    for details in events:
        if isinstance(details, dict):
            for key in ("from", "to"):
                if isinstance(details.get(key), str):
                    found.add(details[key].lower())
    others = set(
        await session.scalars(
            select(func.lower(User.email)).where(
                func.lower(User.email).in_(found), User.id != user.id
            )
        )
    )
    return sorted(found - others)


async def erase_confirmed(
    session: AsyncSession,
    user: User,
    *,
    password: str,
    code: str | None,
    keys: KeyRing,
    data_dir: Path,
    actor: Actor,
    now: datetime | None = None,
    forget: Sequence[AddressForgetter] = (),
) -> Erased:
    """A user's own deletion: their password (and a 2FA code when 2FA is on) first,
    refused as the other confirmations are (:func:`echo_ai.accounts.security.confirm_identity`)."""
    now = now or utcnow()
    await confirm_password(session, user, password, actor=actor, purpose="delete_account")
    # A blocked deletion is refused before a 2FA code is checked: a recovery code must not
    # be used up by a deletion that is then refused.
    plan = await preview(session, user)
    if not plan.allowed:
        raise DeletionBlocked(plan.blocking)
    await confirm_second_factor(
        session, user, code, keys=keys, now=now, actor=actor, purpose="delete_account"
    )
    return await erase(
        session,
        user,
        pseudonym_key=keys.audit_pseudonym_key,
        data_dir=data_dir,
        actor=actor,
        now=now,
        forget=forget,
    )


async def _pseudonymise_audit(
    session: AsyncSession,
    key: bytes,
    user_id: uuid.UUID,
    emails: list[str],
    pseudonym: uuid.UUID,
    masked_email: str,
) -> None:
    """Replace the user's id, e-mails, addresses and devices in every audit event that
    holds them: events they are the actor of, events about them, events naming one of
    their addresses (a failed sign-in, an invitation)."""
    details_text = func.lower(cast(AuditEvent.details, Text))
    query = select(AuditEvent).where(
        or_(
            AuditEvent.actor_user_id == user_id,
            AuditEvent.target_id == str(user_id),
            details_text.contains(str(user_id), autoescape=True),
            *(details_text.contains(email.lower(), autoescape=True) for email in emails),
        )
    )
    email_pattern = re.compile(
        "|".join(re.escape(email) for email in sorted(emails, key=len, reverse=True)),
        re.IGNORECASE,
    )
    for event in await session.scalars(query):
        theirs = event.actor_user_id == user_id or event.actor_type == str(ActorKind.ANONYMOUS)
        if event.actor_user_id == user_id:
            event.actor_user_id = pseudonym
        if theirs:
            event.ip = pseudonym_value(key, "ip", event.ip)
            event.user_agent = pseudonym_value(key, "ua", event.user_agent)
        if event.target_id == str(user_id):
            event.target_id = str(pseudonym)
        event.details = _replace(event.details, email_pattern, masked_email, user_id, pseudonym)
    await session.flush()


def _replace(
    value: Any, email: re.Pattern[str], masked: str, user_id: uuid.UUID, pseudonym: uuid.UUID
) -> Any:
    if isinstance(value, str):
        return email.sub(masked, value).replace(str(user_id), str(pseudonym))
    if isinstance(value, dict):
        return {k: _replace(v, email, masked, user_id, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, email, masked, user_id, pseudonym) for v in value]
    return value
