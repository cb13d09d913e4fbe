"""Recording and reading audit events."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import keyset_after
from echo_ai.privacy.models import AuditEvent

MAX_USER_AGENT = 300


class Action(enum.StrEnum):
    REGISTERED = "user.registered"
    LOGIN_SUCCEEDED = "auth.login_succeeded"
    LOGIN_FAILED = "auth.login_failed"
    PASSWORD_CHANGED = "auth.password_changed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_NARROWED = "api_key.narrowed"
    """A key lost its write scope (its creator's role no longer writes)."""
    EXPERIMENT_CREATED = "experiment.created"
    EXPERIMENT_DELETED = "experiment.deleted"
    EXPERIMENT_CANCELLED = "experiment.cancelled"
    EXPERIMENT_RESCORED = "experiment.rescored"
    EXPERIMENT_SENTIMENT_JUDGED = "experiment.sentiment_judged"
    TRACKER_CREATED = "tracker.created"
    TRACKER_PROMPTS_ADDED = "tracker.prompts_added"
    TRACKER_DELETED = "tracker.deleted"
    EXPERIMENT_RESUMED = "experiment.resumed"
    RUN_STARTED = "experiment.run_started"
    """A recurring experiment's scheduled run was queued."""
    RUN_SKIPPED = "experiment.run_skipped"
    """A recurring experiment's scheduled run was not started (``details.reason`` says why)."""
    SCHEDULE_SET = "experiment.schedule_set"
    SCHEDULE_REMOVED = "experiment.schedule_removed"
    SCHEDULE_PAUSED = "experiment.schedule_paused"
    SCHEDULE_RESUMED = "experiment.schedule_resumed"
    EXPORTED = "experiment.exported"
    BRAND_PROFILE_CREATED = "brand_profile.created"
    BRAND_PROFILE_REPLACED = "brand_profile.replaced"
    BRAND_PROFILE_DELETED = "brand_profile.deleted"
    ALERT_RULE_CREATED = "alert_rule.created"
    ALERT_RULE_REPLACED = "alert_rule.replaced"
    ALERT_RULE_DELETED = "alert_rule.deleted"
    ALERT_FIRED = "alert.fired"
    """A rule found a significant change in a run (actor ``system``; ``details``: the rule,
    the run, the changes' labels)."""
    WORKSPACE_CREATED = "workspace.created"
    WORKSPACE_RENAMED = "workspace.renamed"
    WORKSPACE_PLAN_CHANGED = "workspace.plan_changed"
    MEMBER_INVITED = "member.invited"
    INVITATION_REVOKED = "member.invitation_revoked"
    MEMBER_ADDED = "member.added"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    BILLING_CHECKOUT_STARTED = "billing.checkout_started"
    """An owner was sent to Stripe Checkout to subscribe to a plan."""
    BILLING_PORTAL_OPENED = "billing.portal_opened"
    SUBSCRIPTION_SYNCED = "billing.subscription_synced"
    """The workspace's subscription was read from Stripe after a webhook (``details``: the
    event, the status before and after)."""
    PAYMENT_FAILED = "billing.payment_failed"
    """A subscription's payment failed: the plan is kept until ``details.grace_until``."""
    PAYMENT_RECOVERED = "billing.payment_recovered"
    BILLING_EVENT_UNMATCHED = "billing.event_unmatched"
    """A Stripe event named this workspace but another customer than the workspace's: not
    applied (``details``: the event, both customer ids)."""
    PROVIDER_KEY_SET = "provider_key.set"
    """A workspace stored (or replaced) its key for a vendor: ``details`` name the vendor,
    the key's last four characters and the base URL, never the key."""
    PROVIDER_KEY_DELETED = "provider_key.deleted"
    PROVIDER_KEYS_ROTATED = "provider_keys.rotated"
    """An operator re-encrypted the stored provider keys under the current secret key."""
    BUDGET_SET = "workspace.budget_set"
    """The workspace's monthly budget was set or changed (``details``: ``from``, ``to``)."""
    BUDGET_CLEARED = "workspace.budget_cleared"
    EXPERIMENT_BUDGET_SET = "experiment.budget_set"
    """An experiment's own monthly cap was set or changed (``details``: ``from``, ``to``)."""
    EXPERIMENT_BUDGET_CLEARED = "experiment.budget_cleared"
    BUDGET_ALERT = "workspace.budget_alert"
    """A workspace's month cost reached the alert share of its budget (written by
    :mod:`echo_ai.metering.alerts`, actor ``system``)."""
    # E-mail (issue 13): address verification and password reset by mailed links.
    EMAIL_VERIFIED = "auth.email_verified"
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested"
    """A reset link was mailed to an existing account (nothing is recorded for an unknown
    address)."""
    PASSWORD_RESET = "auth.password_reset"
    """The password was set with a mailed link; every session of the user was ended."""
    EMAIL_CHANGE_REQUESTED = "auth.email_change_requested"
    """A link confirming a new address was mailed to it (``details``: ``to``, the new
    address; erasure pseudonymises it with the account's own addresses)."""
    EMAIL_CHANGED = "auth.email_changed"
    """The account's address changed, confirmed from the new one (``details``: ``from``,
    ``to``; erasure finds the former addresses here)."""
    # Retention and scrubbing (issue 13, accounts.retention / accounts.privacy_settings)
    ANSWER_RETENTION_SET = "workspace.answer_retention_set"
    """The workspace's own retention of raw answers was set or cleared (``details``:
    ``from``, ``to`` in days, None: the plan's)."""
    SCRUBBING_SET = "workspace.scrubbing_set"
    """Scrubbing of e-mail addresses and phone numbers was turned on or off (``details``:
    ``from``, ``to``)."""
    # Export and erasure of accounts, access records (issue 13, §3 and §4)
    ACCOUNT_EXPORT_REQUESTED = "account.export_requested"
    """A user (or an operator, actor ``cli``) asked for an export of everything about them."""
    ACCOUNT_EXPORT_DOWNLOADED = "account.export_downloaded"
    """An account export was downloaded (``details``: its size), from where the actor says."""
    ACCOUNT_DELETED = "account.deleted"
    """An account was erased; its actor and target are the user's audit pseudonym
    (``details``: the workspaces deleted with it, the memberships removed)."""
    ITERATIONS_READ = "experiment.iterations_read"
    """A page of an experiment's stored answers was read through the API (``details``:
    how many)."""
    # Account security and consent (issue 13, §4-5)
    TWO_FACTOR_ENABLED = "auth.2fa_enabled"
    TWO_FACTOR_DISABLED = "auth.2fa_disabled"
    TWO_FACTOR_RESET = "auth.2fa_reset"
    """An operator turned a user's 2FA off (``echo-ai account reset-2fa``: device and
    recovery codes lost), ending their sessions (``details``: ``sessions_revoked``)."""
    RECOVERY_CODES_REGENERATED = "auth.recovery_codes_regenerated"
    WORKSPACE_2FA_REQUIREMENT_SET = "workspace.2fa_requirement_set"
    """An owner required (or stopped requiring) 2FA of the members (``details``: ``to``)."""
    SESSION_REVOKED = "auth.session_revoked"
    SESSIONS_REVOKED = "auth.sessions_revoked"
    """Sign out everywhere (``details``: ``count``, ``kept_current``)."""
    CONSENT_GIVEN = "privacy.consent_given"
    """Terms and privacy policy accepted (``details``: the versions)."""
    MARKETING_CONSENT_CHANGED = "privacy.marketing_consent_changed"
    # Review fixes of issue 13: confirmations by password and 2FA code
    CONFIRMATION_FAILED = "auth.confirmation_failed"
    """A wrong password or 2FA code confirming a sensitive change of one's account (turning
    2FA off, new recovery codes, deleting it) (``details``: ``purpose``, ``reason``)."""


class ActorKind(enum.StrEnum):
    USER = "user"
    API_KEY = "api_key"
    ANONYMOUS = "anonymous"
    """A request before sign-in (registration, a failed login)."""
    CLI = "cli"
    """Someone at this machine's command line (``echo-ai run``...)."""
    SCHEDULER = "scheduler"
    """The scheduler starting a recurring experiment's run."""
    STRIPE = "stripe"
    """Stripe's webhooks: a subscription's change applied to the workspace."""
    SYSTEM = "system"
    """The service itself (a budget alert raised as runs store their costs)."""


@dataclass(frozen=True)
class Actor:
    """Who did it and from where. Every use case takes one and audits in its name: the
    API fills it from the request, the CLI and the scheduler use their own."""

    kind: ActorKind = ActorKind.ANONYMOUS
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        return cls(kind=ActorKind.CLI)

    @classmethod
    def scheduler(cls) -> Actor:
        return cls(kind=ActorKind.SCHEDULER)

    @classmethod
    def stripe(cls) -> Actor:
        return cls(kind=ActorKind.STRIPE)


async def record(
    session: AsyncSession,
    action: Action,
    *,
    actor: Actor,
    workspace_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        action=str(action),
        workspace_id=workspace_id,
        actor_type=str(actor.kind),
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:MAX_USER_AGENT] or None,
        details=details or {},
    )
    session.add(event)
    await session.flush()
    return event


async def page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
    action: str | None = None,
    actor_user_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """A workspace's events, newest first; ``before`` continues a listing. Optional
    filters: one ``action``, one acting user, a time range (``since`` included, ``until``
    excluded). The time range narrows the ``(workspace_id, created_at)`` index range the
    listing reads; the other filters are checked on its rows."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.workspace_id == workspace_id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(
            keyset_after((AuditEvent.created_at, AuditEvent.id), before, descending=True)
        )
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor_user_id is not None:
        query = query.where(AuditEvent.actor_user_id == actor_user_id)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    return list(await session.scalars(query))


class WorkspaceRow(Protocol):
    """A row that belongs to a workspace (an experiment, a brand profile...)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def workspace_id(self) -> uuid.UUID | None: ...


async def record_about(
    session: AsyncSession,
    action: Action,
    target: WorkspaceRow,
    *,
    target_type: str,
    actor: Actor,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """:func:`record` an event about ``target``, in the target's workspace."""
    return await record(
        session,
        action,
        actor=actor,
        workspace_id=target.workspace_id,
        target_type=target_type,
        target_id=target.id,
        details=details,
    )
