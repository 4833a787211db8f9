"""One upload on its way in: counted, recognised, digested and encrypted as it streams."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from haven_files.domain.encryption import SegmentEncryptor
from haven_files.domain.errors import FileTooLarge
from haven_files.domain.filenames import extension_of, sanitize_filename
from haven_files.domain.kinds import FileKind
from haven_files.domain.sniffing import UNPACKED_PER_UPLOADED_BYTE, ContentSniffer


@dataclass(frozen=True)
class AcceptedFile:
    filename: str
    size: int
    sha256: str
    kind: FileKind


class FileIntake:
    """Feed the plaintext with `take()`, store what it returns, then `finish()`.

    Any refusal (a FileRefused: too large, type not allowed, damaged, a zip
    bomb) is raised as soon as it is known; the caller then throws away
    whatever it stored so far.
    """

    def __init__(self, filename: str, max_bytes: int, data_key: bytes):
        self.filename = sanitize_filename(filename)
        self.max_bytes = max_bytes
        self.size = 0
        self._sniffer = ContentSniffer(
            extension_of(self.filename),
            max_unpacked_bytes=UNPACKED_PER_UPLOADED_BYTE * max_bytes,
        )
        self._digest = hashlib.sha256()
        self._encryptor = SegmentEncryptor(data_key)

    def take(self, plaintext: bytes) -> bytes:
        """The ciphertext to store for this chunk (often empty: segments fill first)."""
        self.size += len(plaintext)
        if self.size > self.max_bytes:
            raise FileTooLarge(self.max_bytes)
        self._sniffer.feed(plaintext)
        self._digest.update(plaintext)
        return self._encryptor.update(plaintext)

    def finish(self) -> tuple[bytes, AcceptedFile]:
        """The last ciphertext to store, and what was accepted."""
        kind = self._sniffer.finish()
        accepted = AcceptedFile(self.filename, self.size, self._digest.hexdigest(), kind)
        return self._encryptor.finish(), accepted
