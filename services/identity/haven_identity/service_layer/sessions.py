"""Login, the per-request check of a session, and logout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update

from haven_identity.adapters.directory import find_user_by_email
from haven_identity.adapters.orm import Session, User
from haven_identity.domain.emails import lookup_email
from haven_identity.domain.passwords import MAX_LENGTH, normalise_password
from haven_identity.domain.tokens import TokenPurpose, new_token, token_hash, token_matches
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.directory import user_view
from haven_identity.service_layer.errors import InvalidCredentials
from haven_identity.service_layer.views import AuthenticateResult, LoginResult
from haven_runtime.auth import Principal
from haven_runtime.errors import Unauthenticated
from haven_runtime.logging import get_logger

log = get_logger(__name__)

# last_seen_at is for the session list ("active 5 minutes ago"); writing it on
# every request would turn each read into a write, so once a minute is enough.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
MAX_CLIENT_LENGTH = 512


async def login(
    deps: Dependencies, email: str, password: str, *, client: str = "", client_address: str = ""
) -> LoginResult:
    """Check an email and password and open a session; one failure answer for every cause."""
    canonical = lookup_email(email)
    password = normalise_password(password)
    async with deps.db.sessions() as session:
        user = await find_user_by_email(session, canonical) if canonical else None
    stored_hash = user.password_hash if user is not None and not user.disabled else None
    # No account, no password yet, disabled, or a password longer than any we
    # store: each costs one Argon2 verification like a wrong password does, so
    # the answer's timing does not tell them apart.
    if user is None or stored_hash is None or len(password) > MAX_LENGTH:
        await deps.hasher.spend_comparable_time(password[:MAX_LENGTH])
        raise InvalidCredentials()
    if not await deps.hasher.verify(stored_hash, password):
        log.info("login refused: wrong password", user_id=str(user.id))
        raise InvalidCredentials()
    upgraded_hash = (
        await deps.hasher.hash(password) if deps.hasher.needs_rehash(stored_hash) else None
    )

    session_token, csrf_token = new_token(), new_token()
    key = deps.settings.secret_key
    async with deps.db.unit_of_work(PRODUCER) as uow:
        if upgraded_hash is not None:
            # Only if no reset changed the password meanwhile.
            await uow.session.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == stored_hash)
                .values(password_hash=upgraded_hash)
            )
        opened = (
            await uow.session.execute(
                insert(Session)
                .values(
                    id=uuid.uuid4(),
                    user_id=user.id,
                    token_hash=token_hash(key, TokenPurpose.SESSION, session_token),
                    csrf_hash=token_hash(key, TokenPurpose.CSRF, csrf_token),
                    expires_at=func.now() + timedelta(seconds=deps.settings.session_ttl_seconds),
                    client=client[:MAX_CLIENT_LENGTH],
                    client_address=client_address[:MAX_CLIENT_LENGTH],
                )
                .returning(Session.id, Session.expires_at)
            )
        ).one()
        view = await user_view(uow.session, user)
        await uow.commit()
    log.info(
        "login", user_id=str(user.id), session_id=str(opened.id), rehashed=upgraded_hash is not None
    )
    return LoginResult(
        session_id=str(opened.id),
        session_token=session_token,
        csrf_token=csrf_token,
        expires_at=opened.expires_at,
        user=view,
    )


async def authenticate(
    deps: Dependencies, session_token: str, csrf_token: str = ""
) -> AuthenticateResult:
    """Turn a session token into the caller's identity, with roles read afresh."""
    if not session_token:
        raise Unauthenticated()
    key = deps.settings.secret_key
    hashed = token_hash(key, TokenPurpose.SESSION, session_token)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        found = (
            await uow.session.execute(
                select(Session, User)
                .join(User, User.id == Session.user_id)
                .where(
                    Session.token_hash == hashed,
                    Session.revoked_at.is_(None),
                    Session.expires_at > func.now(),
                    User.disabled.is_(False),
                )
            )
        ).first()
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
            )
        elevated_until = (
            session.elevated_until
            if session.elevated_until is not None and session.elevated_until > now
            else None
        )
        view = await user_view(uow.session, user, elevated_until=elevated_until)
        await uow.commit()
    csrf_valid = bool(csrf_token) and token_matches(
        key, TokenPurpose.CSRF, csrf_token, session.csrf_hash
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


async def logout(deps: Dependencies, session_token: str) -> None:
    """End the session at once; ending one that already ended is not an error."""
    if not session_token:
        return
    hashed = token_hash(deps.settings.secret_key, TokenPurpose.SESSION, session_token)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        ended = await uow.session.scalar(
            update(Session)
            .where(Session.token_hash == hashed, Session.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(Session.id)
        )
        await uow.commit()
    if ended is not None:
        log.info("logout", session_id=str(ended))
