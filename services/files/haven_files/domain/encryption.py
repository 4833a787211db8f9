"""Encryption at rest: a fresh data key per file, wrapped by the master key.

A file is encrypted in segments so that neither upload nor download ever holds
it whole, in the manner of the STREAM construction (as in Tink's streaming
AEAD): each segment is sealed with AES-256-GCM under a nonce made of a
per-file random prefix, the segment's number and a flag that is set only on
the last segment. Reordering, dropping or repeating a segment breaks its tag,
and so does cutting the object short at a segment boundary, because the new
last segment was sealed as "not last".

Object layout:  header | segment 0 | segment 1 | ... | last segment
  header   = MAGIC (4) | segment size (4, big-endian) | nonce prefix (7)
  segment  = AES-GCM(plaintext of `segment size` bytes, the last one 0..size) + 16-byte tag
  nonce    = prefix (7) | segment number (4, big-endian) | last flag (1)
  AAD      = the header, binding every segment to this file's parameters.

The data key is wrapped by the master key with AES-256-GCM, the file's id as
associated data (a wrapped key copied to another row does not open), and kept
in the database row; the object store alone never holds enough to decrypt.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from haven_files.domain.errors import ContentCorrupted

MAGIC = b"HVF1"
SEGMENT_SIZE = 64 * 1024
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
_HEADER = struct.Struct(">4sI7s")
HEADER_SIZE = _HEADER.size
KEY_SIZE = 32
MAX_SEGMENTS = 2**32

WRAP_VERSION = b"\x01"
WRAP_NONCE_SIZE = 12


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    if number >= MAX_SEGMENTS:
        raise ValueError("too many segments for one file")
    return prefix + number.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class MasterKey:
    """The operator's key (HAVEN_FILE_MASTER_KEY); it only ever wraps data keys."""

    def __init__(self, raw: bytes):
        if len(raw) != KEY_SIZE:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(raw)
        # Names the key without revealing it, so that rows can say which
        # master key wrapped them once keys are rotated.
        self.key_id = hashlib.sha256(b"haven-files master key id\x00" + raw).hexdigest()[:16]

    @staticmethod
    def _context(file_id: uuid.UUID) -> bytes:
        return b"haven-files data key\x00" + file_id.bytes

    def wrap(self, data_key: bytes, file_id: uuid.UUID) -> bytes:
        nonce = os.urandom(WRAP_NONCE_SIZE)
        return WRAP_VERSION + nonce + self._aead.encrypt(nonce, data_key, self._context(file_id))

    def unwrap(self, wrapped: bytes, file_id: uuid.UUID) -> bytes:
        if wrapped[:1] != WRAP_VERSION:
            raise ContentCorrupted("unknown wrapped key version")
        nonce = wrapped[1 : 1 + WRAP_NONCE_SIZE]
        try:
            return self._aead.decrypt(nonce, wrapped[1 + WRAP_NONCE_SIZE :], self._context(file_id))
        except InvalidTag:
            raise ContentCorrupted("the data key does not open with this master key") from None


class SegmentEncryptor:
    """Plaintext in, ciphertext out, one segment at a time; `finish()` seals the last."""

    def __init__(self, data_key: bytes, segment_size: int = SEGMENT_SIZE):
        self._aead = AESGCM(data_key)
        self._segment_size = segment_size
        self._prefix = os.urandom(NONCE_PREFIX_SIZE)
        self.header = _HEADER.pack(MAGIC, segment_size, self._prefix)
        self._pending = bytearray()
        self._number = 0
        self._started = False
        self._finished = False

    def _seal(self, plaintext: bytes, last: bool) -> bytes:
        nonce = _nonce(self._prefix, self._number, last)
        sealed = self._aead.encrypt(nonce, plaintext, self.header)
        self._number += 1
        return sealed

    def update(self, plaintext: bytes) -> bytes:
        if self._finished:
            raise ValueError("already finished")
        out = bytearray()
        if not self._started:
            out += self.header
            self._started = True
        self._pending += plaintext
        # Keep at least one byte back: only `finish()` knows which segment is last.
        while len(self._pending) > self._segment_size:
            out += self._seal(bytes(self._pending[: self._segment_size]), last=False)
            del self._pending[: self._segment_size]
        return bytes(out)

    def finish(self) -> bytes:
        out = self.update(b"")
        self._finished = True
        return out + self._seal(bytes(self._pending), last=True)


class SegmentDecryptor:
    """Ciphertext in, authenticated plaintext out; `finish()` insists on a sealed last segment."""

    def __init__(self, data_key: bytes):
        self._aead = AESGCM(data_key)
        self._pending = bytearray()
        self._header: bytes | None = None
        self._prefix = b""
        self._sealed_size = 0
        self._number = 0

    def _read_header(self) -> bool:
        if len(self._pending) < HEADER_SIZE:
            return False
        magic, segment_size, prefix = _HEADER.unpack_from(self._pending)
        if magic != MAGIC or not 0 < segment_size <= 16 * 1024 * 1024:
            raise ContentCorrupted("not a Haven encrypted object")
        self._header = bytes(self._pending[:HEADER_SIZE])
        self._prefix = prefix
        self._sealed_size = segment_size + TAG_SIZE
        del self._pending[:HEADER_SIZE]
        return True

    def _open(self, sealed: bytes, last: bool) -> bytes:
        assert self._header is not None
        try:
            nonce = _nonce(self._prefix, self._number, last)
            plain = self._aead.decrypt(nonce, sealed, self._header)
        except InvalidTag:
            raise ContentCorrupted(f"segment {self._number} failed authentication") from None
        self._number += 1
        return plain

    def update(self, ciphertext: bytes) -> bytes:
        self._pending += ciphertext
        if self._header is None and not self._read_header():
            return b""
        out = bytearray()
        # A full segment followed by more bytes cannot be the last one.
        while len(self._pending) > self._sealed_size:
            out += self._open(bytes(self._pending[: self._sealed_size]), last=False)
            del self._pending[: self._sealed_size]
        return bytes(out)

    def finish(self) -> bytes:
        if self._header is None and not self._read_header():
            raise ContentCorrupted("the object is shorter than its header")
        if len(self._pending) < TAG_SIZE:
            raise ContentCorrupted("the object was cut short")
        plain = self._open(bytes(self._pending), last=True)
        self._pending.clear()
        return plain
