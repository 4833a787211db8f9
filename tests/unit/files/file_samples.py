"""Small, well-formed examples of each kind of file, built in code (nothing downloaded)."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field


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


def _entropy(size: int) -> bytes:
    """Entropy-coded data: every 0xFF stuffed with a 0x00, as encoders write it."""
    return os.urandom(size).replace(b"\xff", b"\xff\x00")


def _segment(marker: int, data: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data


def jpeg(scan_bytes: int = 200, thumbnail: bool = False) -> bytes:
    """SOI, a JFIF header, (an EXIF thumbnail, itself a JPEG), a frame, one scan, EOI."""
    exif = _segment(0xE1, b"Exif\x00\x00" + jpeg(50)) if thumbnail else b""
    return (
        b"\xff\xd8"
        + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + exif
        + _segment(0xDB, b"\x00" + bytes(range(1, 65)))
        + _segment(0xC0, b"\x08\x00\x10\x00\x10\x01\x01\x11\x00")
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + _entropy(scan_bytes)
        + b"\xff\xd0"  # a restart marker inside the scan
        + _entropy(scan_bytes)
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
    media = os.urandom(300)
    return (
        ftyp
        + struct.pack(">I", 16)
        + b"meta"
        + os.urandom(8)
        + struct.pack(">I", 8 + len(media))
        + b"mdat"
        + media
    )


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


def msg(attachment: bytes | None = None) -> bytes:
    """An Outlook .msg: a real compound file (see outlook_message)."""
    return outlook_message(attachment)


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


# -- hostile files: cut short, zip bombs, polyglots ----------------------------


def cut_before_central_directory(package: bytes) -> bytes:
    """A ZIP package cut where its central directory starts."""
    return package[: package.rindex(b"PK\x01\x02", 0, package.index(b"PK\x05\x06"))]


def docx_with(name: str, data: bytes) -> bytes:
    return _zip(
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
            (name, data),
        ]
    )


def declaring(package: bytes, name: str, uncompressed_size: int) -> bytes:
    """The package with the central directory declaring another size for one entry."""
    data = bytearray(package)
    position = data.index(b"PK\x01\x02")
    while data[position : position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, position + 28)
        if data[position + 46 : position + 46 + name_length] == name.encode():
            struct.pack_into("<I", data, position + 24, uncompressed_size)
        position += 46 + name_length + extra_length + comment_length
    return bytes(data)


def overlapping_docx(aliases: int = 100) -> bytes:
    """David Fifield's overlap, fully: many directory entries for one compressed kernel.

    Every alias names the local header of `word/media/kernel.bin` (1 MB of zeros
    in about 1 KB), so the package would unpack to aliases x 1 MB; no single
    entry's ratio looks out of place, and the total stays under the limit too.
    """
    package = bytearray(docx_with("word/media/kernel.bin", bytes(1_000_000)))
    end = package.index(b"PK\x05\x06")
    directory_offset = struct.unpack_from("<I", package, end + 16)[0]
    # The kernel's directory entry is the last one before the end record.
    kernel = package.rindex(b"PK\x01\x02", directory_offset, end)
    name_length = struct.unpack_from("<H", package, kernel + 28)[0]
    template = bytes(package[kernel : kernel + 46 + name_length])
    extra = b""
    for index in range(aliases):
        alias = f"word/media/copy{index}.bin".encode()
        entry = bytearray(template[:46]) + alias
        struct.pack_into("<H", entry, 28, len(alias))
        extra += entry
    count, size = struct.unpack_from("<HI", package, end + 10)
    end_record = bytearray(package[end:])
    struct.pack_into("<HHI", end_record, 8, count + aliases, count + aliases, size + len(extra))
    return bytes(package[:end]) + extra + bytes(end_record)


def mp4(media_bytes: int = 500) -> bytes:
    """An ISO base media file: ftyp, then an mdat box (a motion photo's video)."""
    ftyp = struct.pack(">I", 20) + b"ftypmp42" + b"\x00\x00\x00\x00" + b"isom"
    return ftyp + struct.pack(">I", 8 + media_bytes) + b"mdat" + os.urandom(media_bytes)


# -- OLE compound files, as Outlook writes a .msg -----------------------------

FREE, END_OF_CHAIN, FAT_SECTOR, DIFAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFC
NO_ENTRY = 0xFFFFFFFF
MINI_CUTOFF = 4096
MINI_SECTOR = 64

Tree = dict[str, "bytes | Tree"]


@dataclass
class _Entry:
    name: str
    kind: int  # 5 the root, 1 a storage, 2 a stream
    data: bytes = b""
    children: list[int] = field(default_factory=list)


def _directory_entries(tree: Tree) -> list[_Entry]:
    """The root, then each storage's children after it (breadth first)."""
    entries = [_Entry("Root Entry", 5)]
    pending: list[tuple[int, Tree]] = [(0, tree)]
    while pending:
        parent, storage = pending.pop(0)
        for name, value in storage.items():
            entries[parent].children.append(len(entries))
            if isinstance(value, dict):
                pending.append((len(entries), value))
                entries.append(_Entry(name, 1))
            else:
                entries.append(_Entry(name, 2, value))
    return entries


def _sectors_for(size: int, unit: int) -> int:
    return -(-size // unit)


def compound_file(
    tree: Tree, version: int = 3, tables_last: bool = False, big_streams_last: bool = True
) -> bytes:
    """A compound file holding `tree` (name: stream bytes, or name: storage).

    Streams under 4,096 bytes go in the mini stream, as Outlook's property
    streams do; larger ones (attachments) in sectors of their own, after the
    mini stream (or before it, without `big_streams_last`). The FAT and DIFAT
    sectors come first, or with `tables_last` after everything else.
    """
    sector = 512 if version == 3 else 4096
    per_sector = sector // 4
    entries = _directory_entries(tree)
    # A storage's children: its child, then a chain of right siblings in the
    # order readers compare names (length, then upper case); all black.
    child: dict[int, int] = {}
    right: dict[int, int] = {}
    for index, entry in enumerate(entries):
        ordered = sorted(
            entry.children, key=lambda i: (len(entries[i].name), entries[i].name.upper())
        )
        if ordered:
            child[index] = ordered[0]
            right.update(zip(ordered, ordered[1:], strict=False))

    streams = [i for i, entry in enumerate(entries) if entry.kind == 2]
    big = [i for i in streams if len(entries[i].data) >= MINI_CUTOFF]
    mini = bytearray()
    mini_start: dict[int, int] = {}
    minifat: list[int] = []
    for i in streams:
        data = entries[i].data
        if i in big or not data:
            continue
        first, count = len(mini) // MINI_SECTOR, _sectors_for(len(data), MINI_SECTOR)
        mini_start[i] = first
        mini += data.ljust(count * MINI_SECTOR, b"\x00")
        minifat += [first + n + 1 for n in range(count - 1)] + [END_OF_CHAIN]
    minifat += [FREE] * (-len(minifat) % per_sector)

    # Regions, in sectors: directory, mini FAT, mini stream, big streams.
    regions: list[tuple[str, int, bytes]] = [
        ("directory", _sectors_for(len(entries) * 128, sector), b""),
        ("minifat", len(minifat) // per_sector, struct.pack(f"<{len(minifat)}I", *minifat)),
        ("mini", _sectors_for(len(mini), sector), bytes(mini)),
    ]
    attachments = [
        (f"stream{i}", _sectors_for(len(entries[i].data), sector), entries[i].data) for i in big
    ]
    regions = regions + attachments if big_streams_last else regions[:1] + attachments + regions[1:]
    data_sectors = sum(count for _, count, _ in regions)
    fat_count = difat_count = 0
    while True:  # the FAT and DIFAT sectors are counted in the FAT too
        total = data_sectors + fat_count + difat_count
        needed = _sectors_for(total, per_sector)
        needed_difat = _sectors_for(max(0, needed - 109), per_sector - 1)
        if (needed, needed_difat) == (fat_count, difat_count):
            break
        fat_count, difat_count = needed, needed_difat
    tables: list[tuple[str, int, bytes]] = [("fat", fat_count, b""), ("difat", difat_count, b"")]
    layout = regions + tables if tables_last else tables + regions
    start: dict[str, int] = {}
    position = 0
    for name, count, _ in layout:
        start[name] = position
        position += count

    fat = [FREE] * (fat_count * per_sector)
    for name, count, _ in layout:
        first = start[name]
        marker = {"fat": FAT_SECTOR, "difat": DIFAT_SECTOR}.get(name)
        for n in range(count):
            fat[first + n] = marker or (first + n + 1 if n + 1 < count else END_OF_CHAIN)
    fat_sectors = list(range(start["fat"], start["fat"] + fat_count))
    difat: list[int] = []
    listed = fat_sectors[109:]
    for n in range(difat_count):
        chunk = listed[n * (per_sector - 1) : (n + 1) * (per_sector - 1)]
        following = start["difat"] + n + 1 if n + 1 < difat_count else END_OF_CHAIN
        difat += chunk + [FREE] * (per_sector - 1 - len(chunk)) + [following]

    directory = bytearray()
    for index, entry in enumerate(entries):
        encoded = entry.name.encode("utf-16-le") + b"\x00\x00"
        if entry.kind == 5:
            first, size = (start["mini"], len(mini)) if mini else (END_OF_CHAIN, 0)
        elif entry.kind == 1:
            first, size = 0, 0
        elif index in big:
            first, size = start[f"stream{index}"], len(entry.data)
        else:
            first, size = mini_start.get(index, END_OF_CHAIN), len(entry.data)
        directory += encoded.ljust(64, b"\x00") + struct.pack(
            "<HBBIII16sIQQIQ",
            len(encoded),
            entry.kind,
            1,  # black
            NO_ENTRY,
            right.get(index, NO_ENTRY),
            child.get(index, NO_ENTRY),
            b"\x00" * 16,
            0,
            0,
            0,
            first,
            size,
        )
    contents = {
        "directory": bytes(directory),
        "fat": struct.pack(f"<{len(fat)}I", *fat),
        "difat": struct.pack(f"<{len(difat)}I", *difat),
    }

    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("d0cf11e0a1b11ae1"),
        b"\x00" * 16,
        0x3E,  # minor version
        version,
        0xFFFE,  # byte order
        9 if version == 3 else 12,  # sector shift
        6,  # mini sector shift
        b"\x00" * 6,
        0 if version == 3 else _sectors_for(len(entries) * 128, sector),  # directory sectors
        fat_count,
        start["directory"],
        0,  # transaction signature
        MINI_CUTOFF,
        start["minifat"] if mini else END_OF_CHAIN,
        len(minifat) // per_sector,
        start["difat"] if difat_count else END_OF_CHAIN,
        difat_count,
    )
    header += struct.pack("<109I", *(fat_sectors[:109] + [FREE] * (109 - min(109, fat_count))))
    out = bytearray(header.ljust(sector, b"\x00"))
    for name, count, data in layout:
        out += contents.get(name, data).ljust(count * sector, b"\x00")
    return bytes(out)


def outlook_message(
    attachment: bytes | None = None,
    version: int = 3,
    tables_last: bool = False,
    big_streams_last: bool = True,
) -> bytes:
    """A .msg as Outlook lays it out: property streams, and an attachment's data
    (PidTagAttachDataBinary, stored as it is) in a storage of its own."""
    tree: Tree = {
        "__properties_version1.0": os.urandom(32 + 16 * 12),
        "__substg1.0_0037001F": "About Monday".encode("utf-16-le"),
        "__substg1.0_1000001F": ("Please call me. " * 40).encode("utf-16-le"),
        "__substg1.0_0C1F001F": "parent@example.org".encode("utf-16-le"),
        "__nameid_version1.0": {"__substg1.0_00020102": os.urandom(16)},
    }
    if attachment is not None:
        tree["__attach_version1.0_#00000000"] = {
            "__properties_version1.0": os.urandom(8 + 16 * 6),
            "__substg1.0_3707001F": "letter.docx".encode("utf-16-le"),
            "__substg1.0_37010102": attachment,
        }
    return compound_file(tree, version, tables_last, big_streams_last)
