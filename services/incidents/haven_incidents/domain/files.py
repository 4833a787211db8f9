"""Which files may go on a new incident: staged by its author, in its school.

The service layer asks the files service about each id and hands the answers here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

STAGED = "staged"


@dataclass(frozen=True)
class FileFacts:
    id: str
    school_id: str
    status: str
    uploaded_by: str


def file_problems(
    file_ids: Sequence[str], found: dict[str, FileFacts], *, school_id: str, user_id: str
) -> dict[str, str]:
    """Why each of `file_ids` may not go on this incident (absent: it may)."""
    problems: dict[str, str] = {}
    for file_id in file_ids:
        facts = found.get(file_id)
        if facts is None or facts.school_id != school_id or facts.uploaded_by != user_id:
            problems[file_id] = "is not a file you uploaded to this school"
        elif facts.status != STAGED:
            problems[file_id] = "is already attached to an incident"
    return problems
