"""The kinds of file Haven accepts, and the filename extensions each may carry.

An allow-list: whatever is not here is refused. Each kind is recognised from
its content (see sniffing.py); the filename's extension may narrow the choice
(an e-mail saved as .txt is plain text) but never contradict it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileKind:
    name: str
    content_type: str
    extensions: frozenset[str]

    def accepts_extension(self, extension: str) -> bool:
        # A name without an extension contradicts nothing.
        return extension == "" or extension in self.extensions


def _kind(name: str, content_type: str, *extensions: str) -> FileKind:
    return FileKind(name, content_type, frozenset(extensions))


PDF = _kind("pdf", "application/pdf", ".pdf")
PNG = _kind("png", "image/png", ".png")
JPEG = _kind("jpeg", "image/jpeg", ".jpg", ".jpeg", ".jpe", ".jfif")
GIF = _kind("gif", "image/gif", ".gif")
WEBP = _kind("webp", "image/webp", ".webp")
HEIC = _kind("heic", "image/heic", ".heic", ".heif")
DOCX = _kind(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".docx",
)
XLSX = _kind(
    "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xlsx",
)
ODT = _kind("odt", "application/vnd.oasis.opendocument.text", ".odt")
TXT = _kind("txt", "text/plain; charset=utf-8", ".txt", ".text", ".log")
EML = _kind("eml", "message/rfc822", ".eml")
MSG = _kind("msg", "application/vnd.ms-outlook", ".msg")

ALLOWED_KINDS = (PDF, PNG, JPEG, GIF, WEBP, HEIC, DOCX, XLSX, ODT, TXT, EML, MSG)
