"""Who may see a file, and when an incident may take one.

A staged file belongs to its uploader alone. Once an incident has taken it,
whoever may see that incident may see the file: incidents decides (its
author, the staff it alerted, the school's DSLs), asked over gRPC each time.
Every rule also needs the caller to belong to the file's school now, per the
token identity signed for this request, so leaving a school ends access.
"""

from __future__ import annotations

from enum import Enum

from haven_runtime.auth import Principal

STAGED = "staged"
ATTACHED = "attached"


class FileAccess(Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    # Whoever may see the incident that holds the file: incidents knows.
    ASK_INCIDENTS = "ask_incidents"


def file_access(
    principal: Principal, *, school_id: str, uploaded_by: str, status: str
) -> FileAccess:
    if principal.role_in(school_id) is None:
        return FileAccess.DENIED
    if status == ATTACHED:
        return FileAccess.ASK_INCIDENTS
    return FileAccess.ALLOWED if uploaded_by == principal.user_id else FileAccess.DENIED


class Attachment(Enum):
    ATTACH = "attach"
    ALREADY_ATTACHED = "already_attached"
    REFUSED = "refused"


def decide_attachment(
    *,
    status: str,
    school_id: str,
    uploaded_by: str,
    attached_to: str | None,
    incident_id: str,
    incident_school_id: str,
    recorded_by: str,
) -> Attachment:
    """An incident takes only its author's own staged files of its own school, once."""
    if school_id != incident_school_id:
        return Attachment.REFUSED
    if status == ATTACHED:
        return Attachment.ALREADY_ATTACHED if attached_to == incident_id else Attachment.REFUSED
    if uploaded_by != recorded_by:
        return Attachment.REFUSED
    return Attachment.ATTACH
