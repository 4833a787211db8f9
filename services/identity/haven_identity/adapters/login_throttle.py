"""Counting failed proofs of an account in PostgreSQL, before the proof is checked.

An attempt is admitted by one conditional UPDATE that adds it to the account's
consecutive failures, and only while no delay is running; the delay the new
count calls for (domain.throttling) is set in the same transaction, which the
caller commits before checking the password. PostgreSQL holds the row lock
until then and re-checks the condition for each waiting attempt, so parallel
guesses queue behind one another and are refused once a delay runs: no more
attempts are checked than the policy allows, whatever the concurrency. A
success (clear_failures) takes the count back to zero.

Emails with no account are throttled by the same rule in their own table, keyed
by a keyed hash of the address, so that throttling answers alike for accounts
that exist and those that do not.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from haven_identity.adapters.orm import Session, UnknownLoginThrottle, User
from haven_identity.domain.throttling import LoginThrottle

# How long an unknown email's count is kept after its last failure.
UNKNOWN_EMAIL_MEMORY = timedelta(days=30)


@dataclass(frozen=True)
class Admission:
    admitted: bool
    # Consecutive failures, this attempt included (it counts until it succeeds).
    failures: int = 0
    locked: bool = False
    retry_after: int = 0  # seconds, when not admitted


async def admit_account_attempt(
    session: AsyncSession, user_id: uuid.UUID, throttle: LoginThrottle
) -> Admission:
    """Count an attempt on an account as failed until it succeeds, unless a delay runs."""
    admitted = (
        await session.execute(
            update(User)
            .where(User.id == user_id, _no_delay_running(User.login_delayed_until))
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins, User.locked_at)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if admitted is None:
        return Admission(
            admitted=False,
            retry_after=await _seconds_left(
                session, select(User.login_delayed_until).where(User.id == user_id)
            ),
        )
    delay = throttle.delay_after(admitted.failed_logins)
    if delay:
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(login_delayed_until=func.now() + timedelta(seconds=delay))
            .execution_options(synchronize_session=False)
        )
    return Admission(
        admitted=True, failures=admitted.failed_logins, locked=admitted.locked_at is not None
    )


async def admit_unknown_email_attempt(
    session: AsyncSession, email_key: str, throttle: LoginThrottle
) -> Admission:
    """The same rule for an email that belongs to no account (it can only fail)."""
    row = UnknownLoginThrottle
    admitted = (
        await session.execute(
            pg_insert(row)
            .values(email_key=email_key, failed_logins=1, last_failed_at=func.now())
            .on_conflict_do_update(
                index_elements=[row.email_key],
                set_={"failed_logins": row.failed_logins + 1, "last_failed_at": func.now()},
                where=_no_delay_running(row.login_delayed_until),
            )
            .returning(row.failed_logins)
        )
    ).first()
    if admitted is None:
        return Admission(
            admitted=False,
            retry_after=await _seconds_left(
                session, select(row.login_delayed_until).where(row.email_key == email_key)
            ),
        )
    delay = throttle.delay_after(admitted.failed_logins)
    if delay:
        await session.execute(
            update(row)
            .where(row.email_key == email_key)
            .values(login_delayed_until=func.now() + timedelta(seconds=delay))
            .execution_options(synchronize_session=False)
        )
    return Admission(admitted=True, failures=admitted.failed_logins)


async def clear_failures(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(failed_logins=0, login_delayed_until=None)
        .execution_options(synchronize_session=False)
    )


async def lock_account(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Lock the account and end its sessions; False if it was locked already."""
    locked = await session.scalar(
        update(User)
        .where(User.id == user_id, User.locked_at.is_(None))
        .values(locked_at=func.now())
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    if locked is None:
        return False
    # Whoever is guessing may already hold a session (guessing soft-key codes).
    await session.execute(
        update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return True


async def unlock_account(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Lift a lock and every delay; True if the account was locked."""
    was_locked = await session.scalar(
        select(User.locked_at.is_not(None)).where(User.id == user_id).with_for_update()
    )
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(locked_at=None, failed_logins=0, login_delayed_until=None)
        .execution_options(synchronize_session=False)
    )
    return bool(was_locked)


async def forget_old_unknown_emails(session: AsyncSession) -> int:
    result = await session.execute(
        delete(UnknownLoginThrottle)
        .where(UnknownLoginThrottle.last_failed_at < func.now() - UNKNOWN_EMAIL_MEMORY)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _no_delay_running(delayed_until: QueryableAttribute[datetime | None]) -> ColumnElement[bool]:
    return or_(delayed_until.is_(None), delayed_until <= func.now())


async def _seconds_left(session: AsyncSession, delayed_until: Select[datetime | None]) -> int:
    until = delayed_until.scalar_subquery()
    remaining = await session.scalar(select(func.extract("epoch", until - func.now())))
    return max(1, math.ceil(float(remaining or 1)))
