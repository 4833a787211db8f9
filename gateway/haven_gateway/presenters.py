"""Service messages as the API's JSON (shared/API.md): one function per shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from haven.files.v1 import files_pb2
from haven.identity.v1 import identity_pb2
from haven.incidents.v1 import incidents_pb2
from haven.notifications.v1 import notifications_pb2


def rfc3339(message: Message, field: str) -> str | None:
    """A Timestamp field as RFC 3339 with offset, or None when unset."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC).isoformat()


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def named(ref: Any) -> dict[str, Any]:
    return {"id": ref.id, "name": ref.name}


def named_or_none(message: Message, field: str) -> dict[str, Any] | None:
    return named(getattr(message, field)) if message.HasField(field) else None


def student_ref(ref: incidents_pb2.StudentRef) -> dict[str, Any]:
    return {"id": ref.id, "display_name": ref.display_name}


def user(u: identity_pb2.User) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "memberships": [
            {
                "school_id": m.school_id,
                "school_name": m.school_name,
                "role": m.role,
                "trust_id": m.trust_id,
            }
            for m in u.memberships
        ],
        "trust_roles": [{"trust_id": t.trust_id, "role": t.role} for t in u.trust_roles],
        "totp_enrolled": u.totp_enrolled,
        "elevated_until": rfc3339(u, "elevated_until"),
    }


def school(s: identity_pb2.School) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "trust_id": s.trust_id}


def strength(s: identity_pb2.PasswordStrength) -> dict[str, Any]:
    return {
        "score": s.score,
        "label": s.label,
        "acceptable": s.acceptable,
        "warning": s.warning,
        "suggestions": list(s.suggestions),
    }


def student(s: incidents_pb2.Student) -> dict[str, Any]:
    return {
        "id": s.id,
        "school_id": s.school_id,
        "upn": s.upn,
        "first_name": s.first_name,
        "last_name": s.last_name,
        "display_name": s.display_name,
        "year_group": s.year_group,
        "date_of_birth": s.date_of_birth or None,
    }


def staff_member(s: identity_pb2.StaffMember) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "email": s.email, "role": s.role}


def file_summary(f: files_pb2.StoredFile) -> dict[str, Any]:
    return {"id": f.id, "filename": f.filename, "size": f.size, "content_type": f.content_type}


def stored_file(f: files_pb2.StoredFile) -> dict[str, Any]:
    return {**file_summary(f), "sha256": f.sha256, "status": f.status}


def incident(i: incidents_pb2.Incident, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": i.id,
        "school_id": i.school_id,
        "student": student_ref(i.student),
        "description": i.description,
        "categories": [named(c) for c in i.categories],
        "linked_students": [student_ref(s) for s in i.linked_students],
        "body_map": [
            {"number": m.number, "side": m.side, "x": m.x, "y": m.y, "note": m.note}
            for m in i.body_map
        ],
        "occurred_at": rfc3339(i, "occurred_at"),
        "recorded_at": rfc3339(i, "recorded_at"),
        "recorded_by": named_or_none(i, "recorded_by"),
        "alerted_staff": [named(s) for s in i.alerted_staff],
        "files": files,
        "agencies": [named(a) for a in i.agencies],
        "addenda": [addendum(a) for a in i.addenda],
    }


def addendum(a: incidents_pb2.Addendum) -> dict[str, Any]:
    return {
        "id": a.id,
        "text": a.text,
        "author": named_or_none(a, "author"),
        "created_at": rfc3339(a, "created_at"),
    }


def incident_view(v: incidents_pb2.IncidentView) -> dict[str, Any]:
    return {
        "user": named_or_none(v, "user"),
        "action": v.action,
        "at": rfc3339(v, "at"),
        "client_address": v.client_address or None,
        "file_id": v.file_id or None,
    }


def alert(a: notifications_pb2.Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "incident_id": a.incident_id,
        "school_id": a.school_id,
        "student": {"id": a.student_id, "display_name": a.student_display_name},
        "categories": [named(c) for c in a.categories],
        "recorded_by": named_or_none(a, "recorded_by"),
        "occurred_at": rfc3339(a, "occurred_at"),
        "created_at": rfc3339(a, "created_at"),
        "read_at": rfc3339(a, "read_at"),
    }


def import_errors(errors: Any) -> list[dict[str, Any]]:
    return [{"line": e.line, "field": e.field, "message": e.message} for e in errors]


def session(s: identity_pb2.SessionInfo) -> dict[str, Any]:
    return {
        "id": s.id,
        "created_at": rfc3339(s, "created_at"),
        "last_seen_at": rfc3339(s, "last_seen_at"),
        "client": s.client,
        "current": s.current,
        "client_address": s.client_address,
        "elevated_until": rfc3339(s, "elevated_until"),
        "expires_at": rfc3339(s, "expires_at"),
    }


def audit_event(e: identity_pb2.AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": rfc3339(e, "at"),
        "action": e.action,
        # An anonymous attempt (a failed login for an unknown address) has no actor.
        "actor": {"id": e.actor_id, "name": e.actor_name} if e.actor_id else None,
        # A failed login for an unknown address concerns an email but no account.
        "subject": (
            {"id": e.subject_user_id or None, "email": e.subject_email or None}
            if e.subject_user_id or e.subject_email
            else None
        ),
        "school_id": e.school_id or None,
        "trust_id": e.trust_id or None,
        "client_address": e.client_address or None,
        "detail": audit_detail(e.detail),
    }


def audit_detail(text: str) -> dict[str, Any]:
    """Identity sends the detail as a JSON object; the API gives it as one, never a string."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"text": text}
    return parsed if isinstance(parsed, dict) else {"value": parsed}
