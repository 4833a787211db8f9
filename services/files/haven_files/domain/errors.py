"""Why the domain refuses a file; the service layer turns these into API errors."""

from __future__ import annotations


class FileRefused(Exception):
    """An upload that must leave nothing behind."""


class FileTooLarge(FileRefused):
    def __init__(self, limit: int):
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


class FileTypeNotAllowed(FileRefused):
    pass


class ContentCorrupted(Exception):
    """Stored content failed authentication or its recorded digest."""
