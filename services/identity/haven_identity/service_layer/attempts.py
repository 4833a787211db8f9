"""Attempts to prove an account (password or soft-key code), throttled and audited.

Every proof goes through the same three steps, whatever it proves:
`begin_attempt` counts the attempt as a failure before anything is checked (per
client address and per account, committed at once, see
adapters.login_throttle) or refuses it with too_many_attempts; the caller checks
the proof without holding a transaction; then `record_failure` (which locks the
account at the limit) or `record_success` (in the caller's own transaction,
with the change the proof allows) settles it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NoReturn

from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Subject
from haven_identity.adapters.login_throttle import (
    admit_account_attempt,
    admit_unknown_email_attempt,
    clear_failures,
    lock_account,
)
from haven_identity.adapters.rate_limits import give_back_hit, take_hit
from haven_identity.domain.audit import AuditAction, FailureReason
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.errors import TooManyAttempts
from haven_runtime.db import UnitOfWork
from haven_runtime.logging import get_logger

log = get_logger(__name__)

ADDRESS_BUCKET = "login:address:"


@dataclass(frozen=True)
class Attempt:
    """An admitted attempt, counted as failed until record_success says otherwise."""

    user_id: uuid.UUID | None
    subject: Subject
    client_address: str
    failures: int
    locked: bool


async def begin_attempt(
    deps: Dependencies,
    *,
    subject: Subject,
    email_key: str = "",
    client_address: str,
    failed_action: AuditAction,
    step: str,
) -> Attempt:
    """Admit an attempt on `subject` (an account, or an email with none: give `email_key`).

    Raises TooManyAttempts, after auditing the refusal, when the client
    address has used up its failures for the hour or the account's delay runs.
    """
    # Two transactions, each holding one row lock: success transactions lock
    # the account before the address's counter, and a gate holding both in the
    # other order could deadlock with them.
    async with deps.db.unit_of_work(PRODUCER) as uow:
        address_hit = await take_hit(
            uow.session, ADDRESS_BUCKET + client_address, deps.settings.login_limit_per_address
        )
        if not address_hit.allowed:
            await _refuse(
                uow,
                failed_action,
                subject,
                client_address,
                step,
                limit="client_address",
                retry_after=address_hit.retry_after,
            )
        await uow.commit()
    async with deps.db.unit_of_work(PRODUCER) as uow:
        if subject.user_id is not None:
            admission = await admit_account_attempt(uow.session, subject.user_id, deps.throttle)
        else:
            admission = await admit_unknown_email_attempt(uow.session, email_key, deps.throttle)
        if not admission.admitted:
            await _refuse(
                uow,
                failed_action,
                subject,
                client_address,
                step,
                limit="account",
                retry_after=admission.retry_after,
            )
        await uow.commit()
    return Attempt(
        user_id=subject.user_id,
        subject=subject,
        client_address=client_address,
        failures=admission.failures,
        locked=admission.locked,
    )


async def _refuse(
    uow: UnitOfWork,
    action: AuditAction,
    subject: Subject,
    client_address: str,
    step: str,
    limit: str,
    retry_after: int,
) -> NoReturn:
    await _audit_failure(
        uow,
        action,
        subject,
        client_address,
        FailureReason.THROTTLED,
        {"step": step, "limit": limit, "retry_after": retry_after},
    )
    await uow.commit()
    log.info("attempt throttled", user_id=_str(subject.user_id), limit=limit, step=step)
    raise TooManyAttempts(retry_after)


async def record_failure(
    deps: Dependencies,
    attempt: Attempt,
    *,
    action: AuditAction,
    reason: FailureReason,
    detail: dict[str, Any] | None = None,
) -> None:
    """The attempt failed: it stays counted; at the limit the account is locked."""
    async with deps.db.unit_of_work(PRODUCER) as uow:
        await _audit_failure(
            uow, action, attempt.subject, attempt.client_address, reason, detail or {}
        )
        if (
            attempt.user_id is not None
            and not attempt.locked
            and deps.throttle.locks(attempt.failures)
            and await lock_account(uow.session, attempt.user_id)
        ):
            await audit_log.record(
                uow.session,
                AuditAction.ACCOUNT_LOCKED,
                actor=attempt.subject.as_actor(),
                subject=attempt.subject,
                client_address=attempt.client_address,
                detail={"failures": attempt.failures},
            )
            log.warning("account locked", user_id=str(attempt.user_id), failures=attempt.failures)
        await uow.commit()


async def record_success(uow: UnitOfWork, attempt: Attempt) -> None:
    """In the caller's transaction: the failures end, and the address gets its hit back.

    The account's row is locked before the address's counter, as in every
    transaction that holds both.
    """
    if attempt.user_id is not None:
        await clear_failures(uow.session, attempt.user_id)
    await give_back_hit(uow.session, ADDRESS_BUCKET + attempt.client_address)


async def _audit_failure(
    uow: UnitOfWork,
    action: AuditAction,
    subject: Subject,
    client_address: str,
    reason: FailureReason,
    detail: dict[str, Any],
) -> None:
    await audit_log.record(
        uow.session,
        action,
        actor=subject.as_actor(),
        subject=subject,
        client_address=client_address,
        detail={"reason": reason.value, **detail},
    )


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
