"""Password reset (which is also how new staff register), and password strength."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from haven.identity.v1.identity_pb2 import PasswordChanged, PasswordResetRequested
from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Actor, Subject
from haven_identity.adapters.directory import find_user_by_email, names_around
from haven_identity.adapters.orm import PasswordResetToken, Session, User
from haven_identity.adapters.rate_limits import take_hit
from haven_identity.domain.audit import AuditAction
from haven_identity.domain.emails import lookup_email
from haven_identity.domain.passwords import (
    PasswordStrength,
    normalise_password,
    rate_password,
    user_inputs,
)
from haven_identity.domain.tokens import TokenPurpose, new_token, token_hash
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.errors import InvalidResetToken
from haven_identity.service_layer.inputs import check_email, email_key
from haven_identity.service_layer.views import ConfirmResult
from haven_runtime.db import UnitOfWork
from haven_runtime.errors import TooManyRequests
from haven_runtime.events import timestamp
from haven_runtime.logging import get_logger

log = get_logger(__name__)

# Every reset request takes at least this long, whether or not the account
# exists: the work differs (a known account gets a token row and an event), and
# a floor hides the difference from anyone timing the answers.
RESET_REQUEST_MIN_SECONDS = 0.3
# Wrong submissions (a password too weak) one link accepts; the last spends it.
MAX_WRONG_SUBMISSIONS = 5
EMAIL_BUCKET = "reset:email:"
ADDRESS_BUCKET = "reset:address:"


async def request_password_reset(deps: Dependencies, email: str, client_address: str = "") -> None:
    """Send a single-use reset link to the account with this email, if there is one.

    Limited per client address and per email (counted for every email, with or
    without an account, so the limit reveals nothing): beyond either,
    TooManyRequests with the seconds until the hour's window ends.
    """
    check_email(email)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await _issue_reset_link(deps, email, client_address)
    finally:
        remaining = RESET_REQUEST_MIN_SECONDS - (loop.time() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)


async def _within_limits(deps: Dependencies, uow: UnitOfWork, email: str, address: str) -> None:
    """Take a hit on both limits, or commit what was taken and raise TooManyRequests."""
    settings = deps.settings
    for bucket, limit in (
        (ADDRESS_BUCKET + address, settings.reset_limit_per_address),
        (EMAIL_BUCKET + email_key(settings.secret_key, email), settings.reset_limit_per_email),
    ):
        hit = await take_hit(uow.session, bucket, limit)
        if not hit.allowed:
            await uow.commit()
            log.info("password reset refused: rate limit", limit=bucket.split(":")[1])
            raise TooManyRequests(
                "too many password reset requests; try again later",
                retry_after=hit.retry_after,
            )


async def _issue_reset_link(deps: Dependencies, email: str, client_address: str) -> None:
    canonical = lookup_email(email)
    # Made for every request, known account or not, so both do the same work.
    token = new_token()
    hashed = token_hash(deps.settings.secret_key, TokenPurpose.PASSWORD_RESET, token)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        await _within_limits(deps, uow, email, client_address)
        user = await find_user_by_email(uow.session, canonical) if canonical else None
        if user is None or user.disabled:
            # Recorded all the same, so admins can see someone probing addresses;
            # only a well-formed address is kept (people type passwords into
            # email fields).
            await audit_log.record(
                uow.session,
                AuditAction.PASSWORD_RESET_REQUESTED,
                subject=Subject(user.id, user.email) if user else Subject(None, canonical or ""),
                client_address=client_address,
                detail={"account": "disabled" if user else "unknown", "sent": False},
            )
            await uow.commit()
            log.info("password reset requested for no active account")
            return
        # Only the newest link works: older unused ones expire now.
        await _expire_unused_links(uow.session, user.id)
        expires_at = await uow.session.scalar(
            insert(PasswordResetToken)
            .values(
                id=uuid.uuid4(),
                user_id=user.id,
                token_hash=hashed,
                expires_at=func.now() + timedelta(minutes=deps.settings.reset_token_ttl_minutes),
            )
            .returning(PasswordResetToken.expires_at)
        )
        assert expires_at is not None
        uow.publish(
            PasswordResetRequested(
                user_id=str(user.id),
                email=user.email,
                name=user.name,
                reset_url=f"{deps.settings.public_url}/reset-password?token={token}",
                expires_at=timestamp(expires_at),
            )
        )
        await audit_log.record(
            uow.session,
            AuditAction.PASSWORD_RESET_REQUESTED,
            subject=Subject(user.id, user.email),
            client_address=client_address,
            detail={"sent": True},
        )
        await uow.commit()
    log.info("password reset link issued", user_id=str(user.id))


@dataclass(frozen=True)
class _Account:
    user_id: uuid.UUID
    email: str
    name: str
    inputs: list[str]


async def _account_for_token(session: AsyncSession, hashed: str) -> _Account | None:
    """The active account a live (unused, unexpired) reset token belongs to."""
    user = await session.scalar(
        select(User)
        .join(PasswordResetToken, PasswordResetToken.user_id == User.id)
        .where(
            PasswordResetToken.token_hash == hashed,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > func.now(),
            User.disabled.is_(False),
        )
    )
    if user is None:
        return None
    school_names, trust_names = await names_around(session, user.id)
    inputs = user_inputs(
        email=user.email, name=user.name, school_names=school_names, trust_names=trust_names
    )
    return _Account(user.id, user.email, user.name, inputs)


async def check_password_strength(
    deps: Dependencies, password: str, token: str = ""
) -> PasswordStrength:
    """Rate a password; with a live reset token, the account's own details count against it."""
    inputs = user_inputs()
    if token:
        hashed = token_hash(deps.settings.secret_key, TokenPurpose.PASSWORD_RESET, token)
        async with deps.db.sessions() as session:
            account = await _account_for_token(session, hashed)
        if account is not None:
            inputs = account.inputs
    return await asyncio.to_thread(rate_password, normalise_password(password), inputs)


async def confirm_password_reset(
    deps: Dependencies, token: str, password: str, client_address: str = ""
) -> ConfirmResult:
    """Set the password with a reset token: once, and only a strong enough password.

    A password that is too weak is refused, and the person may try another, up
    to MAX_WRONG_SUBMISSIONS: the last wrong one spends the token. The token is
    spent by one conditional UPDATE, so of two confirmations racing with the
    same token exactly one succeeds.
    """
    hashed = token_hash(deps.settings.secret_key, TokenPurpose.PASSWORD_RESET, token)
    password = normalise_password(password)
    async with deps.db.sessions() as session:
        account = await _account_for_token(session, hashed) if token else None
    if account is None:
        raise InvalidResetToken()
    strength = await asyncio.to_thread(rate_password, password, account.inputs)
    if not strength.acceptable:
        await _count_wrong_submission(deps, hashed, account, client_address, strength)
        return ConfirmResult(weak=True, strength=strength)

    # Hashing takes a while; no transaction is held open meanwhile.
    password_hash = await deps.hasher.hash(password)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        spent_by = await uow.session.scalar(
            update(PasswordResetToken)
            .where(
                PasswordResetToken.token_hash == hashed,
                PasswordResetToken.used_at.is_(None),
                PasswordResetToken.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(PasswordResetToken.user_id)
        )
        if spent_by is None:
            raise InvalidResetToken()
        changed = (
            await uow.session.execute(
                update(User)
                .where(User.id == spent_by, User.disabled.is_(False))
                .values(
                    password_hash=password_hash,
                    password_changed_at=func.now(),
                    # The owner proved they read the account's mail: guessing
                    # delays end. A lock stays until an admin lifts it.
                    failed_logins=0,
                    login_delayed_until=None,
                )
                .returning(User.email, User.name, User.password_changed_at)
            )
        ).first()
        if changed is None:
            raise InvalidResetToken()  # disabled meanwhile; rolling back leaves the token unspent
        await _expire_unused_links(uow.session, spent_by)
        # Whoever knew the old password is signed out everywhere.
        ended = await uow.session.execute(
            update(Session)
            .where(Session.user_id == spent_by, Session.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .execution_options(synchronize_session=False)
        )
        sessions_ended = int(ended.rowcount or 0)  # type: ignore[attr-defined]
        await audit_log.record(
            uow.session,
            AuditAction.PASSWORD_RESET_COMPLETED,
            subject=Subject(spent_by, changed.email),
            actor=Actor(spent_by, changed.name),
            client_address=client_address,
            detail={"sessions_ended": sessions_ended},
        )
        uow.publish(
            PasswordChanged(
                user_id=str(spent_by),
                email=changed.email,
                name=changed.name,
                changed_at=timestamp(changed.password_changed_at or datetime.now(UTC)),
            )
        )
        await uow.commit()
    log.info("password set through reset link", user_id=str(spent_by))
    return ConfirmResult(weak=False, strength=strength)


async def _count_wrong_submission(
    deps: Dependencies,
    hashed: str,
    account: _Account,
    client_address: str,
    strength: PasswordStrength,
) -> None:
    """Count a refused password against the link; the last one allowed spends it."""
    async with deps.db.unit_of_work(PRODUCER) as uow:
        counted = await uow.session.scalar(
            update(PasswordResetToken)
            .where(
                PasswordResetToken.token_hash == hashed,
                PasswordResetToken.used_at.is_(None),
                PasswordResetToken.expires_at > func.now(),
            )
            .values(
                failed_attempts=PasswordResetToken.failed_attempts + 1,
                used_at=case(
                    (
                        PasswordResetToken.failed_attempts + 1 >= MAX_WRONG_SUBMISSIONS,
                        func.now(),
                    ),
                    else_=None,
                ),
            )
            .returning(PasswordResetToken.failed_attempts)
            .execution_options(synchronize_session=False)
        )
        if counted is None:
            raise InvalidResetToken()  # spent or expired meanwhile
        await audit_log.record(
            uow.session,
            AuditAction.PASSWORD_RESET_REFUSED_WEAK,
            subject=Subject(account.user_id, account.email),
            actor=Actor(account.user_id, account.name),
            client_address=client_address,
            detail={
                "score": strength.score,
                "wrong_submissions": counted,
                "link_spent": counted >= MAX_WRONG_SUBMISSIONS,
            },
        )
        await uow.commit()


async def _expire_unused_links(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.user_id == user_id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > func.now(),
        )
        .values(expires_at=func.now())
    )
