"""Login: one answer for every failure, throttled per account and per client address."""

from __future__ import annotations

from sqlalchemy import update

from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Subject
from haven_identity.adapters.directory import find_user_by_email
from haven_identity.adapters.orm import User
from haven_identity.domain.audit import AuditAction, FailureReason
from haven_identity.domain.emails import lookup_email
from haven_identity.domain.passwords import normalise_password
from haven_identity.service_layer.attempts import begin_attempt, record_failure, record_success
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.directory import user_view
from haven_identity.service_layer.errors import InvalidCredentials
from haven_identity.service_layer.inputs import check_email, check_password, email_key
from haven_identity.service_layer.sessions import MAX_CLIENT_LENGTH, open_session
from haven_identity.service_layer.views import LoginResult
from haven_runtime.logging import get_logger

log = get_logger(__name__)


async def login(
    deps: Dependencies, email: str, password: str, *, client: str = "", client_address: str = ""
) -> LoginResult:
    """Check an email and password and open a session.

    Unknown email, wrong password, no password yet, disabled and locked all
    answer invalid_credentials after one Argon2 verification each, so neither
    the answer nor its timing tells them apart; throttling answers
    too_many_attempts alike for emails with and without an account.
    """
    check_email(email)
    check_password(password)
    canonical = lookup_email(email)
    password = normalise_password(password)
    async with deps.db.sessions() as session:
        user = await find_user_by_email(session, canonical) if canonical else None
    subject = Subject(user.id, user.email, user.name) if user else Subject(None, canonical or "")
    attempt = await begin_attempt(
        deps,
        subject=subject,
        email_key=email_key(deps.settings.secret_key, email),
        client_address=client_address,
        failed_action=AuditAction.LOGIN_FAILED,
        step="login",
    )

    refusal: FailureReason | None = None
    if user is None:
        refusal = FailureReason.UNKNOWN_EMAIL
    elif attempt.locked:
        refusal = FailureReason.LOCKED
    elif user.disabled:
        refusal = FailureReason.DISABLED
    elif user.password_hash is None:
        refusal = FailureReason.NO_PASSWORD
    if refusal is not None or user is None or user.password_hash is None:
        await deps.hasher.spend_comparable_time(password)
        await record_failure(
            deps, attempt, action=AuditAction.LOGIN_FAILED, reason=refusal or FailureReason.LOCKED
        )
        raise InvalidCredentials()
    stored_hash = user.password_hash
    if not await deps.hasher.verify(stored_hash, password):
        await record_failure(
            deps, attempt, action=AuditAction.LOGIN_FAILED, reason=FailureReason.WRONG_PASSWORD
        )
        log.info("login refused: wrong password", user_id=str(user.id))
        raise InvalidCredentials()
    upgraded_hash = (
        await deps.hasher.hash(password) if deps.hasher.needs_rehash(stored_hash) else None
    )

    async with deps.db.unit_of_work(PRODUCER) as uow:
        await record_success(uow, attempt)
        if upgraded_hash is not None:
            # Only if no reset changed the password meanwhile.
            await uow.session.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == stored_hash)
                .values(password_hash=upgraded_hash)
                .execution_options(synchronize_session=False)
            )
        opened = await open_session(
            uow.session, deps, user.id, client=client, client_address=client_address
        )
        await audit_log.record(
            uow.session,
            AuditAction.LOGIN_SUCCEEDED,
            actor=subject.as_actor(),
            subject=subject,
            client_address=client_address,
            detail={"session_id": str(opened.id), "client": client[:MAX_CLIENT_LENGTH]},
        )
        view = await user_view(uow.session, user)
        await uow.commit()
    log.info(
        "login", user_id=str(user.id), session_id=str(opened.id), rehashed=upgraded_hash is not None
    )
    return LoginResult(
        session_id=str(opened.id),
        session_token=opened.token,
        csrf_token=opened.csrf_token,
        expires_at=opened.expires_at,
        user=view,
    )
