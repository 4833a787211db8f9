"""Files to upload, built in code: real kinds, executables, and hostile files.

The hostile ones are small: a zip bomb's central directory declares sizes far
beyond what it holds, so it is refused for what it says, not what it weighs.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib


def pdf(body_bytes: int = 2000, body: bytes | None = None) -> bytes:
    middle = body if body is not None else os.urandom(body_bytes)
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nstream\n"
        + middle
        + (b"\nendstream\nendobj\n%%EOF\n")
    )


PDF_HEADER = b"%PDF-1.7\n"
PDF_END = b"\n%%EOF\n"


def pdf_piece(sent: int, piece: int, size: int) -> bytes:
    """Bytes sent..sent+piece of a streamed PDF of `size` random bytes, header and %%EOF."""
    data = os.urandom(piece)
    if sent == 0:
        data = PDF_HEADER + data[len(PDF_HEADER) :]
    if sent + piece == size:
        data = data[: -len(PDF_END)] + PDF_END
    return data


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png() -> bytes:
    rows = b"".join(b"\x00" + os.urandom(12) for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + os.urandom(4000)


def windows_exe() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + os.urandom(4000)


# -- hostile files ---------------------------------------------------------------


def pdf_cut_short(body_bytes: int = 2000) -> bytes:
    """A PDF whose end never came: no %%EOF marker."""
    content = pdf(body_bytes)
    return content[: content.rindex(b"%%EOF")]


def gif() -> bytes:
    return bytes.fromhex(
        "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
    )


def small_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Run.class", b"\xca\xfe\xba\xbe" + os.urandom(200))
        archive.writestr("META-INF/MANIFEST.MF", b"Main-Class: Run\n")
    return buffer.getvalue()


def gifar() -> bytes:
    """A GIF with a ZIP (a JAR) after it: an image to a browser, an archive to a ZIP reader."""
    return gif() + small_zip()


def docx_bomb() -> bytes:
    """A DOCX whose one large part is 12 MiB of zeros in about 12 KB (about 1,000 to 1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("word/document.xml", b"<w:document/>")
        archive.writestr("word/media/image1.bin", bytes(12 * 1024 * 1024))
    return buffer.getvalue()
