"""Team workspaces: creation, invitations by token and member management; and the
account use cases whose audit events go to the personal workspace (register, sign in,
change password), built on :mod:`echo_ai.auth.service`.

Plain functions over a session; the caller owns the transaction. Every function that
takes a ``workspace_id`` only ever sees rows of that workspace: an id from another
workspace is :class:`~echo_ai.errors.NotFound`, as if it did not exist. Every use case
that changes something takes the acting :class:`~echo_ai.privacy.audit.Actor` and
records its audit event.

Rules enforced here (the API layer checks only *who* is calling):

- Members may leave; only owners and admins remove others.
- Only owners may grant the owner role or take it away (invite, promote, demote or
  remove an owner); admins manage admins, members and viewers.
- A workspace always keeps an owner: the last one cannot be demoted or removed, nor
  leave (:class:`~echo_ai.errors.Conflict`).
- Personal workspaces have exactly one member: nobody can be invited into one.

Invitation tokens are opaque random strings like refresh tokens: the database keeps only
their SHA-256 hash, and a token is single use. An invitation is vouched for by its
inviter: it can be accepted only while the inviter is still an owner or admin of the
workspace (an owner, for an invitation as owner), and when the inviter leaves or loses
the right to invite, their pending invitations are revoked (``revoked_at``, audited).
What a member's departure does to their API keys is in :mod:`echo_ai.api_keys.members`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth import service as auth_service
from echo_ai.auth import twofactor
from echo_ai.auth.models import User
from echo_ai.auth.schemas import Credentials, PasswordChange, Registration
from echo_ai.billing.plans import PlanName
from echo_ai.config import Settings
from echo_ai.db import rows_changed, utcnow
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.mail import compose, notices
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor, ActorKind
from echo_ai.security.credentials import Refusal
from echo_ai.security.keys import KeyRing
from echo_ai.security.refresh import hash_token
from echo_ai.workspaces import quotas, recovery
from echo_ai.workspaces.models import Invitation, Membership, Role, Workspace
from echo_ai.workspaces.personal import personal_workspace_id

INVITATION_TOKEN_PREFIX = "echo_inv_"
"""Lets secret scanners spot leaked invitation tokens and tells token kinds apart."""

_RANDOM_BYTES = 32  # 256 bits

NO_SUCH_INVITATION = (
    "no such invitation: the token is unknown, expired, already used or revoked, "
    "or was issued for another email address"
)
"""One answer for every reason, so a token's holder learns nothing about it."""


class NoSuchInvitation(NotFound):
    """Every refusal of an invitation token, with the same message (:data:`NO_SUCH_INVITATION`).

    ``refusal`` is for the guess counting only (:mod:`echo_ai.security.guesses`): whether
    the token was never issued (``UNKNOWN``) or is one of ours that no longer works."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(NO_SUCH_INVITATION)
        self.refusal = refusal


class NotAllowed(AppError):
    """The caller's role does not allow this change (e.g. an admin touching an owner)."""

    status_code = 403
    code = "forbidden"


def new_invitation_token() -> tuple[str, str]:
    """Return ``(token, token_hash)``: give the token to the inviter, store the hash."""
    token = INVITATION_TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return token, hash_token(token)


def _default_plan(settings: Settings) -> PlanName:
    """The plan of a new workspace (``ECHO_AI_BILLING__DEFAULT_PLAN``, ``free`` unless set;
    e.g. ``self_hosted`` for a self-hosted server whose workspaces have no limits)."""
    return PlanName(settings.billing.default_plan)


async def register(
    session: AsyncSession, data: Registration, *, actor: Actor, settings: Settings
) -> User | None:
    """Sign up: the user and their personal workspace, on the plan
    ``billing.default_plan``; ``None`` if the email is taken (answered like a success by
    the caller, see :func:`echo_ai.auth.service.create_user`), also when a sign-up of the
    same address at the same moment got it first."""
    user = await auth_service.create_user(session, data)
    if user is None:
        return None
    workspace = Workspace(
        name=data.display_name or data.email, personal=True, plan=_default_plan(settings)
    )
    session.add(workspace)
    await session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.OWNER))
    await session.flush()
    await audit.record(
        session,
        Action.REGISTERED,
        actor=replace(actor, kind=ActorKind.USER, user_id=user.id),
        workspace_id=workspace.id,
        target_type="user",
        target_id=user.id,
    )
    await recovery.send_verification(session, user, settings=settings)
    return user


async def sign_in(
    session: AsyncSession,
    data: Credentials,
    *,
    actor: Actor,
    keys: KeyRing | None = None,
    second_factor: str | None = None,
) -> User | AppError | None:
    """The user with these credentials, or ``None``: refused (unknown email or wrong
    password alike). A user with 2FA on must also give ``second_factor`` (a current code
    or a recovery code, checked with the server's ``keys``): without it or with a wrong
    one, the refusal (:class:`~echo_ai.auth.twofactor.SecondFactorRequired` or
    :class:`~echo_ai.auth.twofactor.InvalidSecondFactor`) is returned, audited as a
    failed sign-in.

    Both outcomes are audited in the account's personal workspace (a failure for an
    unknown email in none). A refusal is returned, not raised, so that the caller can
    commit the record of the failed attempt and then answer
    :class:`~echo_ai.auth.service.InvalidCredentials`.
    """
    try:
        user = await auth_service.authenticate(session, data)
    except auth_service.InvalidCredentials:
        await audit.record(
            session,
            Action.LOGIN_FAILED,
            actor=actor,
            workspace_id=await personal_workspace_id(session, data.email),
        )
        return None
    if twofactor.enabled(user):
        try:
            if keys is None:
                raise twofactor.SecondFactorRequired()
            await twofactor.check(session, user, second_factor, keys=keys, now=utcnow())
        except (twofactor.SecondFactorRequired, twofactor.InvalidSecondFactor) as refused:
            await audit.record(
                session,
                Action.LOGIN_FAILED,
                actor=actor,
                workspace_id=await personal_workspace_id(session, user.email),
                details={"reason": refused.code},
            )
            return refused
    await audit.record(
        session,
        Action.LOGIN_SUCCEEDED,
        actor=replace(actor, kind=ActorKind.USER, user_id=user.id),
        workspace_id=await personal_workspace_id(session, user.email),
    )
    return user


async def change_password(
    session: AsyncSession, user: User, data: PasswordChange, *, actor: Actor, settings: Settings
) -> None:
    """Check the current password, set the new one and end every session of the user
    (see :func:`echo_ai.auth.service.change_password`); the user gets a change notice."""
    await auth_service.change_password(session, user, data)
    await notices.notify_change(session, user.email, "password", settings)
    await audit.record(
        session,
        Action.PASSWORD_CHANGED,
        actor=actor,
        workspace_id=await personal_workspace_id(session, user.email),
    )


async def memberships(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[Membership, Workspace]]:
    rows = await session.execute(
        select(Membership, Workspace)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.personal.desc(), Workspace.created_at)
    )
    return [(membership, workspace) for membership, workspace in rows]


async def create_workspace(
    session: AsyncSession, user: User, name: str, *, actor: Actor, settings: Settings
) -> Workspace:
    """A team workspace whose only member, ``user``, is its owner, on the plan
    ``billing.default_plan``."""
    workspace = Workspace(name=name, personal=False, plan=_default_plan(settings))
    session.add(workspace)
    await session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.OWNER))
    await session.flush()
    await audit.record(
        session,
        Action.WORKSPACE_CREATED,
        actor=actor,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
    )
    return workspace


async def rename(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, *, actor: Actor
) -> Workspace:
    """Give the workspace another name (already validated, e.g. by
    :class:`~echo_ai.workspaces.schemas.WorkspaceCreate`); audited only if it changed."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    previous = workspace.name
    if previous == name:
        return workspace
    workspace.name = name
    await session.flush()
    await audit.record(
        session,
        Action.WORKSPACE_RENAMED,
        actor=actor,
        workspace_id=workspace_id,
        target_type="workspace",
        target_id=workspace_id,
        details={"from": previous, "to": name},
    )
    return workspace


def _check_grant(actor_role: Role, *roles: Role) -> None:
    if Role.OWNER in roles and actor_role is not Role.OWNER:
        raise NotAllowed("only owners can grant or remove the owner role")


async def _membership_of(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    return await session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str
    """The token itself: returned once, never stored."""
    replaced: int
    """Pending invitations of the same address that this one replaced."""


async def invite(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    email: str,
    role: Role,
    invited_by: User,
    inviter_role: Role,
    ttl: timedelta,
    actor: Actor,
    settings: Settings,
) -> NewInvitation:
    """A pending invitation for ``email`` (already normalised) to join with ``role``.

    A pending invitation of the same address to the same workspace is replaced, so a
    lost token is fixed by inviting again. One past the plan's ``members`` (members and
    pending invitations) is refused (:class:`~echo_ai.workspaces.quotas.QuotaExceeded`).
    """
    _check_grant(inviter_role, role)
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    if workspace.personal:
        raise Conflict("a personal workspace has one member: create a team workspace to invite")
    member = await session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, User.email == email)
    )
    if member is not None:
        raise Conflict("this address already belongs to a member of the workspace")
    await quotas.admit_member(
        session, workspace_id, settings=settings, now=utcnow(), inviting=email
    )
    replaced = await rows_changed(
        session,
        delete(Invitation).where(
            Invitation.workspace_id == workspace_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        ),
    )
    token, token_hash = new_invitation_token()
    now = utcnow()
    invitation = Invitation(
        workspace_id=workspace_id,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by_id=invited_by.id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invitation)
    await session.flush()
    await audit.record(
        session,
        Action.MEMBER_INVITED,
        actor=actor,
        workspace_id=workspace_id,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": invitation.email, "role": str(invitation.role)},
    )
    await compose.enqueue(
        session,
        to=invitation.email,
        kind="invitation",
        context={
            "inviter": invited_by.display_name or invited_by.email,
            "workspace": workspace.name,
            "role": str(invitation.role),
            "email": invitation.email,
            "link": f"{compose.base_url(settings)}/invitations/{token}",
            "expires": invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        },
        settings=settings,
        now=now,
    )
    return NewInvitation(
        invitation=invitation,
        token=token,
        replaced=replaced,
    )


async def pending_invitations(session: AsyncSession, workspace_id: uuid.UUID) -> list[Invitation]:
    """Unaccepted, unrevoked, unexpired invitations of the workspace, oldest first."""
    return list(
        await session.scalars(
            select(Invitation)
            .where(
                Invitation.workspace_id == workspace_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at, Invitation.id)
        )
    )


async def revoke_invitation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    invitation_id: uuid.UUID,
    *,
    actor_role: Role,
    actor: Actor,
) -> Invitation:
    """Revoke a pending invitation: its token stops working (then answers 404)."""
    invitation = await session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id,
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    )
    if invitation is None:
        raise NotFound("no such invitation")
    _check_grant(actor_role, invitation.role)
    await _revoke_invitations(session, [invitation], actor=actor)
    return invitation


async def _revoke_invitations(
    session: AsyncSession,
    invitations: list[Invitation],
    *,
    actor: Actor,
    reason: str | None = None,
) -> None:
    """Mark the invitations revoked, one ``member.invitation_revoked`` event each."""
    now = utcnow()
    for invitation in invitations:
        invitation.revoked_at = now
    await session.flush()
    for invitation in invitations:
        details = {"email": invitation.email, "role": str(invitation.role)}
        await audit.record(
            session,
            Action.INVITATION_REVOKED,
            actor=actor,
            workspace_id=invitation.workspace_id,
            target_type="invitation",
            target_id=invitation.id,
            details=details if reason is None else {**details, "reason": reason},
        )


async def _revoke_invitations_by(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    inviter_id: uuid.UUID,
    *,
    reason: str,
    actor: Actor,
) -> None:
    """Revoke the pending invitations ``inviter_id`` made in the workspace: nobody who
    may invite stands behind them any more."""
    invitations = await session.scalars(
        select(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.invited_by_id == inviter_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .order_by(Invitation.created_at, Invitation.id)
    )
    await _revoke_invitations(session, list(invitations), actor=actor, reason=reason)


def _may_grant(inviter_role: Role | None, role: Role) -> bool:
    """Whether an inviter with this role (None: no longer a member) may still grant it."""
    if inviter_role is None or not inviter_role.can_manage:
        return False
    return role is not Role.OWNER or inviter_role is Role.OWNER


async def accept(
    session: AsyncSession, user: User, token: str, *, actor: Actor, settings: Settings
) -> tuple[Membership, Workspace]:
    """Join the invitation's workspace as ``user``, whose email must be the invited one.

    Unknown, expired, accepted and revoked tokens, a token for another address, and one
    whose inviter may no longer grant its role (left, or no longer an owner or admin)
    are all the same :class:`NoSuchInvitation` (404). An existing member gets
    :class:`Conflict` and the invitation stays usable until it expires; so does one that
    the plan's ``members`` no longer leaves room for
    (:class:`~echo_ai.workspaces.quotas.QuotaExceeded`).
    """
    now = utcnow()
    row = (
        await session.execute(
            select(Invitation, Membership.role)
            .outerjoin(
                Membership,
                and_(
                    Membership.workspace_id == Invitation.workspace_id,
                    Membership.user_id == Invitation.invited_by_id,
                ),
            )
            .where(Invitation.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        raise NoSuchInvitation(Refusal.UNKNOWN)
    invitation, inviter_role = row
    if (
        invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= now
        or invitation.email != user.email.lower()
        or not _may_grant(inviter_role, invitation.role)
    ):
        raise NoSuchInvitation(Refusal.ENDED)
    if await _membership_of(session, invitation.workspace_id, user.id) is not None:
        raise Conflict("you are already a member of this workspace")
    await quotas.admit_member(
        session, invitation.workspace_id, settings=settings, now=now, accepting=True
    )
    claimed = await rows_changed(
        session,
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(accepted_at=now),
    )
    if claimed != 1:
        raise NoSuchInvitation(Refusal.ENDED)  # accepted or revoked concurrently
    membership = Membership(
        workspace_id=invitation.workspace_id, user_id=user.id, role=invitation.role
    )
    session.add(membership)
    await session.flush()
    workspace = await session.get(Workspace, invitation.workspace_id)
    assert workspace is not None
    await audit.record(
        session,
        Action.MEMBER_ADDED,
        actor=actor,
        workspace_id=workspace.id,
        target_type="user",
        target_id=user.id,
        details={"role": str(membership.role), "via": "invitation"},
    )
    return membership, workspace


async def members(session: AsyncSession, workspace_id: uuid.UUID) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.created_at, User.email)
    )
    return [(membership, user) for membership, user in rows]


async def _member(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[Membership, User]:
    row = (
        await session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such member")
    return row[0], row[1]


async def _check_other_owner(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Refuse to take the owner role from the last owner.

    The owners' rows are locked (PostgreSQL; SQLite serialises writers anyway), so two
    owners demoting each other at the same time cannot leave the workspace without one.
    """
    owners = await session.scalars(
        select(Membership.id)
        .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER)
        .with_for_update()
    )
    if len(list(owners)) <= 1:
        raise Conflict("a workspace needs an owner: make someone else owner first")


async def change_role(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role,
    *,
    actor_role: Role,
    actor: Actor,
) -> tuple[Membership, User, Role]:
    """Give a member another role; returns the membership, its user and the old role
    (audited only if the role changed). Taking away the right to invite revokes the
    member's pending invitations. Callers use :func:`echo_ai.api_keys.members.change_role`,
    which also narrows the member's API keys (keys are a layer above workspaces)."""
    membership, user = await _member(session, workspace_id, user_id)
    previous = membership.role
    if previous is role:
        return membership, user, previous
    _check_grant(actor_role, previous, role)
    if previous is Role.OWNER:
        await _check_other_owner(session, workspace_id)
    membership.role = role
    await session.flush()
    await audit.record(
        session,
        Action.MEMBER_ROLE_CHANGED,
        actor=actor,
        workspace_id=workspace_id,
        target_type="user",
        target_id=user_id,
        details={"from": str(previous), "to": str(role)},
    )
    if previous.can_manage and not role.can_manage:
        await _revoke_invitations_by(
            session, workspace_id, user_id, reason="inviter_role_changed", actor=actor
        )
    return membership, user, previous


async def remove_member(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    actor_role: Role,
    actor: Actor,
) -> tuple[Membership, User]:
    """Remove a member, or leave the workspace when ``user_id`` is the actor's own; the
    member's pending invitations to it are revoked. Callers use
    :func:`echo_ai.api_keys.members.remove_member`, which also revokes the member's API
    keys (keys are a layer above workspaces; a key lookup refuses them anyway)."""
    leaving = actor.user_id == user_id
    if not leaving and not actor_role.can_manage:
        raise NotAllowed("only workspace owners and admins can do this")
    membership, user = await _member(session, workspace_id, user_id)
    _check_grant(actor_role, membership.role)
    if membership.role is Role.OWNER:
        await _check_other_owner(session, workspace_id)
    await session.delete(membership)
    await session.flush()
    await audit.record(
        session,
        Action.MEMBER_REMOVED,
        actor=actor,
        workspace_id=workspace_id,
        target_type="user",
        target_id=user_id,
        details={"role": str(membership.role), "left": leaving},
    )
    reason = "inviter_left" if leaving else "inviter_removed"
    await _revoke_invitations_by(session, workspace_id, user_id, reason=reason, actor=actor)
    return membership, user


async def set_plan(
    session: AsyncSession, workspace_id: uuid.UUID, plan: PlanName, *, actor: Actor
) -> Workspace:
    """Move a workspace to a plan (an operator's action until billing does it)."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    await change_plan(session, workspace, plan, actor=actor)
    return workspace


async def change_plan(
    session: AsyncSession,
    workspace: Workspace,
    plan: PlanName,
    *,
    actor: Actor,
    reason: str | None = None,
) -> None:
    """Put the workspace on ``plan`` and audit ``workspace.plan_changed`` (with why, when
    given): the one way a plan changes, by an operator or by Stripe."""
    previous = workspace.plan
    workspace.plan = plan
    await session.flush()
    details = {"from": str(previous), "to": str(plan)}
    if reason is not None:
        details["reason"] = reason
    await audit.record(
        session,
        Action.WORKSPACE_PLAN_CHANGED,
        actor=actor,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        details=details,
    )


async def plan_of(session: AsyncSession, workspace_id: uuid.UUID) -> PlanName:
    plan = await session.scalar(select(Workspace.plan).where(Workspace.id == workspace_id))
    return plan or PlanName.FREE
