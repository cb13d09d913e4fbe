"""Two-factor authentication on a real database, with codes of a fixed time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from echo_ai.auth import twofactor
from echo_ai.auth.models import User
from echo_ai.auth.schemas import Registration
from echo_ai.db import transaction
from echo_ai.errors import Conflict
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy.audit import Actor
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces import service as workspaces
from tests.kit import PASSWORD

pytestmark = pytest.mark.usefixtures("backend")

KEYS = KeyRing(current="k" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*")
NOW = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)


async def _user(runtime: Runtime) -> User:
    async with transaction(runtime.session_factory) as session:
        user = await workspaces.register(
            session,
            Registration(email="ada@example.com", password=PASSWORD, accept_terms=True),
            actor=Actor(),
            settings=runtime.settings,
        )
    assert user is not None
    return user


async def _enabled(runtime: Runtime) -> tuple[User, pyotp.TOTP, list[str]]:
    user = await _user(runtime)
    async with transaction(runtime.session_factory) as session:
        user = await session.merge(user)
        enrolment = twofactor.begin(user, KEYS)
        totp = pyotp.TOTP(enrolment.secret)
        assert enrolment.uri.startswith("otpauth://totp/Echo%20AI:ada%40example.com?")
        assert user.totp_secret is not None and enrolment.secret not in user.totp_secret
        codes = await twofactor.confirm(session, user, totp.at(NOW), keys=KEYS, now=NOW)
    assert len(codes) == twofactor.RECOVERY_CODES == len(set(codes))
    return user, totp, codes


async def _check(runtime: Runtime, user: User, code: str | None, now: datetime) -> None:
    async with transaction(runtime.session_factory) as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        await twofactor.check(session, fresh, code, keys=KEYS, now=now)


async def test_a_wrong_first_code_leaves_2fa_off(runtime: Runtime) -> None:
    user = await _user(runtime)
    async with transaction(runtime.session_factory) as session:
        user = await session.merge(user)
        enrolment = twofactor.begin(user, KEYS)
        wrong = pyotp.TOTP(enrolment.secret).at(NOW - timedelta(minutes=5))
        with pytest.raises(twofactor.InvalidSecondFactor):
            await twofactor.confirm(session, user, wrong, keys=KEYS, now=NOW)
        assert not twofactor.enabled(user)
    # Off: nothing to check at sign-in.
    await _check(runtime, user, None, NOW)


async def test_codes_of_the_window_are_accepted_once_and_older_ones_refused(
    runtime: Runtime,
) -> None:
    user, totp, _ = await _enabled(runtime)
    later = NOW + timedelta(minutes=2)
    with pytest.raises(twofactor.SecondFactorRequired):
        await _check(runtime, user, None, later)
    with pytest.raises(twofactor.InvalidSecondFactor):
        await _check(runtime, user, "000000" if totp.at(later) != "000000" else "111111", later)
    # The next step's code (a phone clock a little ahead) is accepted...
    await _check(runtime, user, totp.at(later + timedelta(seconds=30)), later)
    # ...and then neither it nor the current step's code (not newer) are.
    with pytest.raises(twofactor.InvalidSecondFactor):
        await _check(runtime, user, totp.at(later + timedelta(seconds=30)), later)
    with pytest.raises(twofactor.InvalidSecondFactor):
        await _check(runtime, user, totp.at(later), later)
    # A code two steps away is out of the window.
    much_later = later + timedelta(minutes=5)
    with pytest.raises(twofactor.InvalidSecondFactor):
        await _check(runtime, user, totp.at(much_later + timedelta(seconds=90)), much_later)
    await _check(
        runtime, user, f" {totp.at(much_later)[:3]} {totp.at(much_later)[3:]} ", much_later
    )


async def test_the_confirming_code_cannot_be_replayed(runtime: Runtime) -> None:
    user, totp, _ = await _enabled(runtime)
    with pytest.raises(twofactor.InvalidSecondFactor):
        await _check(runtime, user, totp.at(NOW), NOW)


async def test_recovery_codes_work_once_each(runtime: Runtime) -> None:
    user, _, codes = await _enabled(runtime)
    await _check(runtime, user, codes[0].upper(), NOW)
    with pytest.raises(twofactor.InvalidSecondFactor):
        await _check(runtime, user, codes[0], NOW)
    async with transaction(runtime.session_factory) as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        assert await twofactor.recovery_codes_left(session, fresh) == len(codes) - 1
        replaced = await twofactor.new_recovery_codes(session, fresh, now=NOW)
    with pytest.raises(twofactor.InvalidSecondFactor):
        await _check(runtime, user, codes[1], NOW)  # the old ones stopped working
    await _check(runtime, user, replaced[1], NOW)


async def test_begin_is_refused_when_on_and_disable_forgets_everything(runtime: Runtime) -> None:
    user, _totp, _codes = await _enabled(runtime)
    async with transaction(runtime.session_factory) as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        with pytest.raises(Conflict):
            twofactor.begin(fresh, KEYS)
        await twofactor.disable(session, fresh)
        assert fresh.totp_secret is None and not twofactor.enabled(fresh)
        assert await twofactor.recovery_codes_left(session, fresh) == 0
    await _check(runtime, user, None, NOW)  # off again: no code needed


async def test_a_secret_under_other_keys_is_refused_not_crashed(runtime: Runtime) -> None:
    user, totp, _ = await _enabled(runtime)
    other = KeyRing(current="o" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*")
    async with transaction(runtime.session_factory) as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        later = NOW + timedelta(minutes=1)
        with pytest.raises(twofactor.InvalidSecondFactor):
            await twofactor.check(session, fresh, totp.at(later), keys=other, now=later)


async def test_the_same_code_at_once_signs_in_only_once(runtime: Runtime) -> None:
    user, totp, codes = await _enabled(runtime)
    later = NOW + timedelta(minutes=1)

    async def attempt(code: str) -> bool:
        try:
            await _check(runtime, user, code, later)
        except twofactor.InvalidSecondFactor:
            return False
        return True

    assert sorted(await asyncio.gather(attempt(totp.at(later)), attempt(totp.at(later)))) == [
        False,
        True,
    ]
    assert sorted(await asyncio.gather(attempt(codes[3]), attempt(codes[3]))) == [False, True]
