"""Small, well-formed examples of each kind of file, built in code (nothing downloaded)."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib


def pdf(body_bytes: int = 2000) -> bytes:
    body = os.urandom(body_bytes)
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 0 >>\nstream\n"
        + body
        + (b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 4, height: int = 4) -> bytes:
    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + os.urandom(200)
        + b"\xff\xd9"
    )


def gif() -> bytes:
    return bytes.fromhex(
        "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
    )


def webp() -> bytes:
    payload = b"VP8L" + struct.pack("<I", 10) + os.urandom(10)
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def heic(major: bytes = b"heic", compatible: tuple[bytes, ...] = (b"mif1", b"heic")) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    ftyp = struct.pack(">I", 8 + len(body)) + b"ftyp" + body
    return ftyp + struct.pack(">I", 16) + b"meta" + os.urandom(8) + os.urandom(300)


def _zip(entries: list[tuple[str, bytes]], stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def docx(padding: int = 0) -> bytes:
    return _zip(
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("_rels/.rels", b"<Relationships/>"),
            ("word/document.xml", b"<w:document/>"),
            ("word/media/image1.png", os.urandom(padding)),
        ]
    )


def docm() -> bytes:
    return _zip(
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
            ("word/vbaProject.bin", os.urandom(100)),
        ]
    )


def xlsx() -> bytes:
    return _zip(
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("xl/workbook.xml", b"<workbook/>"),
            ("xl/worksheets/sheet1.xml", b"<worksheet/>"),
        ]
    )


def odt() -> bytes:
    return _zip(
        [
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", b"<office:document-content/>"),
            ("META-INF/manifest.xml", b"<manifest/>"),
        ],
        stored_first=True,
    )


def plain_zip() -> bytes:
    return _zip([("notes.txt", b"hello"), ("run.sh", b"#!/bin/sh\n")])


def txt() -> bytes:
    return "Spoke with the pupil at break; café visit arranged.\n".encode() * 20


def eml() -> bytes:
    return (
        b"Received: from mail.example.org by mx.example.org; Mon, 1 Dec 2025 09:00:00 +0000\r\n"
        b"From: Parent <parent@example.org>\r\n"
        b"To: office@school.example\r\n"
        b"Subject: About Monday\r\n"
        b"\tcontinued subject line\r\n"
        b"Date: Mon, 1 Dec 2025 09:00:00 +0000\r\n"
        b"Message-ID: <1@example.org>\r\n"
        b"\r\n"
        b"Hello,\r\nPlease call me.\r\n"
    )


def msg() -> bytes:
    """The parts of an Outlook .msg the sniffer looks at: the OLE header and its root storage."""
    header = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504
    directory = "Root Entry".encode("utf-16-le").ljust(128, b"\x00")
    directory += "__properties_version1.0".encode("utf-16-le").ljust(128, b"\x00")
    return header + os.urandom(4096) + directory + os.urandom(1024)


def ole_document() -> bytes:
    """An old .doc: the same OLE header, but no message storage."""
    header = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504
    directory = "Root Entry".encode("utf-16-le").ljust(128, b"\x00")
    directory += "WordDocument".encode("utf-16-le").ljust(128, b"\x00")
    return header + os.urandom(4096) + directory


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + os.urandom(2000)


def windows_exe() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + os.urandom(2000)
