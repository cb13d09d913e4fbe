"""A workspace's own provider keys: set (create or replace), list, delete; and the
operator's re-encryption under the current secret key.

The key is stored encrypted (:mod:`echo_ai.credentials.vault`) and never comes back out
through a use case: listings show its last four characters. Runs of the workspace use it
in preference to the server's key for the vendor (:mod:`echo_ai.execution.providers`).
Managing them is for the workspace's owners and admins (the API's ``ManagerPrincipal``,
the dashboard's ``ManagerViewer``) and the operator at the command line; every change is
audited without the key.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth.models import User
from echo_ai.credentials import store
from echo_ai.credentials.models import ProviderCredential
from echo_ai.credentials.schemas import ProviderKeyIn, ProviderKeyOut
from echo_ai.credentials.vault import Vault
from echo_ai.errors import AppError, NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.security.outbound import check_base_url

TARGET_TYPE = "provider_key"


class UnknownVendor(AppError):
    status_code = 422
    code = "unknown_vendor"


class BaseURLRefused(AppError):
    """A base URL given for a vendor that does not take one, or missing where required."""

    status_code = 422
    code = "validation_error"


def vendor_name(text: str) -> str:
    """The stored name of a vendor a workspace can bring a key for (``openai-compatible``
    is accepted for ``openai_compatible``); :class:`UnknownVendor` otherwise."""
    vendor = text.strip().lower().replace("-", "_")
    if vendor not in store.STORABLE_VENDORS:
        known = ", ".join(store.STORABLE_VENDORS)
        raise UnknownVendor(f"a workspace can store keys for {known}; not {text[:40]!r}")
    return vendor


async def set_key(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    vendor: str,
    data: ProviderKeyIn,
    *,
    vault: Vault,
    allow_private_base_urls: bool,
    set_by: uuid.UUID | None,
    actor: Actor,
) -> ProviderCredential:
    """Store the workspace's key for ``vendor``, replacing any it had. ``openai_compatible``
    needs a base URL, which must not reach a private, loopback or link-local network
    unless the operator allows it (:mod:`echo_ai.security.outbound`); the other vendors
    take none (their requests go where the server sends them)."""
    vendor = vendor_name(vendor)
    base_url: str | None = None
    if vendor in store.BASE_URL_VENDORS:
        if data.base_url is None:
            raise BaseURLRefused(f"{vendor} needs a base_url (the server's API address)")
        base_url = await check_base_url(data.base_url, allow_private=allow_private_base_urls)
    elif data.base_url is not None:
        raise BaseURLRefused(
            f"{vendor} takes no base_url: only openai_compatible keys come with their server"
        )
    encrypted, last4 = vault.encrypt(data.api_key), data.api_key[-4:]
    row = await store.get(session, workspace_id, vendor)
    replaced = row is not None
    if row is None:
        try:
            async with session.begin_nested():
                row = ProviderCredential(
                    workspace_id=workspace_id,
                    vendor=vendor,
                    api_key_encrypted=encrypted,
                    last4=last4,
                    base_url=base_url,
                    created_by_id=set_by,
                )
                session.add(row)
        except IntegrityError:  # stored at the same moment by another request: replace it
            row = await store.get(session, workspace_id, vendor)
            assert row is not None
            replaced = True
    row.api_key_encrypted, row.last4 = encrypted, last4
    row.base_url, row.created_by_id = base_url, set_by
    await session.flush()
    await audit.record(
        session,
        Action.PROVIDER_KEY_SET,
        actor=actor,
        workspace_id=workspace_id,
        target_type=TARGET_TYPE,
        target_id=row.id,
        details={"vendor": vendor, "last4": row.last4, "base_url": base_url, "replaced": replaced},
    )
    return row


def show(row: ProviderCredential, email: str | None = None) -> ProviderKeyOut:
    """What may be shown of a stored key (never the key)."""
    return ProviderKeyOut(
        vendor=row.vendor,
        last4=row.last4,
        base_url=row.base_url,
        created_at=row.created_at,
        updated_at=row.updated_at,
        set_by_id=row.created_by_id,
        set_by_email=email,
    )


async def list_keys(session: AsyncSession, workspace_id: uuid.UUID) -> list[ProviderKeyOut]:
    """The workspace's stored keys (vendor, last four, base URL, when and by whom), by vendor."""
    rows = await session.execute(
        select(ProviderCredential, User.email)
        .outerjoin(User, User.id == ProviderCredential.created_by_id)
        .where(ProviderCredential.workspace_id == workspace_id)
        .order_by(ProviderCredential.vendor)
    )
    return [show(row, email) for row, email in rows]


async def delete_key(
    session: AsyncSession, workspace_id: uuid.UUID, vendor: str, *, actor: Actor
) -> None:
    """Forget the workspace's key for ``vendor`` (its runs use the server's key again)."""
    vendor = vendor_name(vendor)
    row = await store.get(session, workspace_id, vendor)
    if row is None:
        raise NotFound(f"this workspace has no stored {vendor} key")
    details = {"vendor": vendor, "last4": row.last4}
    row_id = row.id
    await session.delete(row)
    await session.flush()
    await audit.record(
        session,
        Action.PROVIDER_KEY_DELETED,
        actor=actor,
        workspace_id=workspace_id,
        target_type=TARGET_TYPE,
        target_id=row_id,
        details=details,
    )


async def rotate(session: AsyncSession, *, vault: Vault, actor: Actor) -> store.Rotation:
    """Encrypt every workspace's stored keys again under the current secret key (after
    which the previous secret keys may be dropped); audited once, with the counts."""
    rotation = await store.rotate(session, vault)
    await audit.record(
        session,
        Action.PROVIDER_KEYS_ROTATED,
        actor=actor,
        details={"rotated": rotation.rotated, "unreadable": len(rotation.unreadable)},
    )
    return rotation
