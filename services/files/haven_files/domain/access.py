"""Who may see a file, and when an incident may take one.

A staged file belongs to its uploader alone. Once an incident has taken it,
the school's DSLs may see it too, as may its uploader; members the incident
alerts will be let in later, when incidents shares its visibility by events.
Every rule also needs the caller to belong to the file's school now, per the
token identity signed for this request, so leaving a school ends access.
"""

from __future__ import annotations

from enum import Enum

from haven_runtime.auth import DSL, Principal

STAGED = "staged"
ATTACHED = "attached"


def may_see_file(principal: Principal, *, school_id: str, uploaded_by: str, status: str) -> bool:
    role = principal.role_in(school_id)
    if role is None:
        return False
    if uploaded_by == principal.user_id:
        return True
    return status == ATTACHED and role == DSL


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
