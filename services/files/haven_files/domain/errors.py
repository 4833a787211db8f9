"""Why the domain refuses a file; the service layer turns these into API errors.

Each refusal carries `reason`, the stable code the API answers with.
"""

from __future__ import annotations


class FileRefused(Exception):
    """An upload that must leave nothing behind."""

    reason = "file_refused"


class FileTooLarge(FileRefused):
    reason = "file_too_large"

    def __init__(self, limit: int):
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


class FileTypeNotAllowed(FileRefused):
    """Not a kind Haven accepts: by its content, by a name that contradicts it,
    or because it holds a second file (a polyglot)."""

    reason = "file_type_not_allowed"


class FileDamaged(FileRefused):
    """A kind Haven accepts, but not whole: cut short, or its structure broken."""

    reason = "file_damaged"


class UnsafeArchive(FileRefused):
    """A ZIP package that would unpack to far more than it holds (a zip bomb)."""

    reason = "unsafe_archive"


class ContentCorrupted(Exception):
    """Stored content failed authentication or its recorded digest."""
