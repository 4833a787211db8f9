"""Sessions: opening one, the per-request check, the caller's list, ending them.

A session lives until the first of: its absolute end (HAVEN_SESSION_ABSOLUTE_HOURS
after the login), HAVEN_SESSION_IDLE_MINUTES without a request, revocation
(logout, the list's "end", a password reset, a disabled or locked account, a
step-up, which replaces it). Only keyed hashes of its tokens are stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Subject
from haven_identity.adapters.directory import parse_id
from haven_identity.adapters.orm import Session, User
from haven_identity.domain.audit import AuditAction
from haven_identity.domain.tokens import TokenPurpose, new_token, token_hash, token_matches
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.directory import user_view
from haven_identity.service_layer.views import AuthenticateResult, SessionView
from haven_identity.settings import IdentitySettings
from haven_runtime.auth import Principal
from haven_runtime.errors import NotFound, Unauthenticated
from haven_runtime.logging import get_logger

log = get_logger(__name__)

# last_seen_at is written at most once a minute (writing it on every request
# would turn each read into a write). The idle check reads it as it is, so a
# session may end up to this much before the idle timeout, never after.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
MAX_CLIENT_LENGTH = 512


@dataclass(frozen=True)
class OpenedSession:
    id: uuid.UUID
    token: str
    csrf_token: str
    expires_at: datetime
    elevated_until: datetime | None


def is_live(settings: IdentitySettings) -> list[ColumnElement[bool]]:
    """The conditions a session meets while it may be used."""
    return [
        Session.revoked_at.is_(None),
        Session.expires_at > func.now(),
        Session.last_seen_at >= func.now() - timedelta(minutes=settings.session_idle_minutes),
    ]


async def open_session(
    session: AsyncSession,
    deps: Dependencies,
    user_id: uuid.UUID,
    *,
    client: str,
    client_address: str,
    expires_at: datetime | None = None,
    elevated_until: datetime | None = None,
) -> OpenedSession:
    """A new session with fresh tokens; it ends `expires_at` or after the absolute lifetime."""
    token, csrf_token = new_token(), new_token()
    key = deps.settings.secret_key
    opened = (
        await session.execute(
            insert(Session)
            .values(
                id=uuid.uuid4(),
                user_id=user_id,
                token_hash=token_hash(key, TokenPurpose.SESSION, token),
                csrf_hash=token_hash(key, TokenPurpose.CSRF, csrf_token),
                expires_at=expires_at
                or func.now() + timedelta(hours=deps.settings.session_absolute_hours),
                elevated_until=elevated_until,
                client=client[:MAX_CLIENT_LENGTH],
                client_address=client_address[:MAX_CLIENT_LENGTH],
            )
            .returning(Session.id, Session.expires_at, Session.elevated_until)
        )
    ).one()
    return OpenedSession(opened.id, token, csrf_token, opened.expires_at, opened.elevated_until)


async def find_live_session(
    session: AsyncSession, deps: Dependencies, session_token: str
) -> tuple[Session, User] | None:
    """The live session with this token, and its account if that may still be used."""
    if not session_token:
        return None
    hashed = token_hash(deps.settings.secret_key, TokenPurpose.SESSION, session_token)
    found = (
        await session.execute(
            select(Session, User)
            .join(User, User.id == Session.user_id)
            .where(
                Session.token_hash == hashed,
                *is_live(deps.settings),
                User.disabled.is_(False),
                User.locked_at.is_(None),
            )
        )
    ).first()
    return (found[0], found[1]) if found is not None else None


def still_elevated(session: Session, now: datetime) -> datetime | None:
    until = session.elevated_until
    return until if until is not None and until > now else None


async def authenticate(
    deps: Dependencies, session_token: str, csrf_token: str = ""
) -> AuthenticateResult:
    """Turn a session token into the caller's identity, with roles read afresh."""
    async with deps.db.unit_of_work(PRODUCER) as uow:
        found = await find_live_session(uow.session, deps, session_token)
        if found is None:
            raise Unauthenticated()
        session, user = found
        now = datetime.now(UTC)
        if session.last_seen_at < now - LAST_SEEN_RESOLUTION:
            await uow.session.execute(
                update(Session)
                .where(
                    Session.id == session.id,
                    Session.last_seen_at < func.now() - LAST_SEEN_RESOLUTION,
                )
                .values(last_seen_at=func.now())
                .execution_options(synchronize_session=False)
            )
        elevated_until = still_elevated(session, now)
        view = await user_view(uow.session, user, elevated_until=elevated_until)
        await uow.commit()
    csrf_valid = bool(csrf_token) and token_matches(
        deps.settings.secret_key, TokenPurpose.CSRF, csrf_token, session.csrf_hash
    )
    principal = Principal(
        user_id=view.id,
        session_id=str(session.id),
        name=view.name,
        email=view.email,
        schools={m.school_id: m.role for m in view.memberships},
        trust_roles=view.trust_roles,
        elevated_until=elevated_until,
    )
    return AuthenticateResult(
        user=view,
        internal_token=deps.signer.sign(principal),
        csrf_valid=csrf_valid,
        session_id=str(session.id),
    )


async def logout(deps: Dependencies, session_token: str, *, client_address: str = "") -> None:
    """End the session at once; ending one that already ended is not an error."""
    if not session_token:
        return
    hashed = token_hash(deps.settings.secret_key, TokenPurpose.SESSION, session_token)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        ended = (
            await uow.session.execute(
                update(Session)
                .where(Session.token_hash == hashed, Session.revoked_at.is_(None))
                .values(revoked_at=func.now())
                .returning(Session.id, Session.user_id, Session.client_address)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if ended is None:
            return
        user = await uow.session.get(User, ended.user_id)
        subject = Subject(ended.user_id, user.email if user else "", user.name if user else "")
        await audit_log.record(
            uow.session,
            AuditAction.LOGOUT,
            actor=subject.as_actor(),
            subject=subject,
            client_address=client_address or ended.client_address,
            detail={"session_id": str(ended.id)},
        )
        await uow.commit()
    log.info("logout", session_id=str(ended.id))


def _caller(principal: Principal) -> uuid.UUID:
    user_id = parse_id(principal.user_id)
    if user_id is None:
        raise Unauthenticated()
    return user_id


async def list_sessions(deps: Dependencies, principal: Principal) -> list[SessionView]:
    """The caller's live sessions, most recently used first; the calling one is flagged."""
    user_id = _caller(principal)
    async with deps.db.sessions() as session:
        rows = await session.scalars(
            select(Session)
            .where(Session.user_id == user_id, *is_live(deps.settings))
            .order_by(Session.last_seen_at.desc(), Session.created_at.desc())
        )
        now = datetime.now(UTC)
        return [
            SessionView(
                id=str(s.id),
                created_at=s.created_at,
                last_seen_at=s.last_seen_at,
                expires_at=s.expires_at,
                client=s.client,
                client_address=s.client_address,
                current=str(s.id) == principal.session_id,
                elevated_until=still_elevated(s, now),
            )
            for s in rows
        ]


async def revoke_session(
    deps: Dependencies, principal: Principal, session_id: str, *, client_address: str = ""
) -> None:
    """End one of the caller's own sessions at once; anyone else's is NotFound."""
    user_id = _caller(principal)
    target = parse_id(session_id)
    if target is None:
        raise NotFound("session not found")
    async with deps.db.unit_of_work(PRODUCER) as uow:
        ended = await uow.session.scalar(
            update(Session)
            .where(Session.id == target, Session.user_id == user_id, *is_live(deps.settings))
            .values(revoked_at=func.now())
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
        if ended is None:
            raise NotFound("session not found")
        subject = Subject(user_id, principal.email, principal.name)
        await audit_log.record(
            uow.session,
            AuditAction.SESSION_REVOKED,
            actor=subject.as_actor(),
            subject=subject,
            client_address=client_address,
            detail={"session_id": str(ended), "current": str(ended) == principal.session_id},
        )
        await uow.commit()
    log.info("session revoked", session_id=str(ended))
