"""Recognising what a file is from its bytes, as they stream past, in bounded memory.

The filename and the declared content type are never trusted. Most kinds are
known from their first bytes; then every kind is checked to its last byte, and
decided at the end:

- images are walked from their signature to their end marker (structure.py):
  one cut short is damaged, one with more than padding after it holds a
  second file;
- a PDF must end with %%EOF (within its last 1,024 bytes, as readers allow);
- ZIP packages (DOCX, XLSX, ODT) are told apart by the entries listed in the
  central directory at the end of the file, so the last bytes are kept; what
  the directory declares refuses zip bombs without unpacking anything;
- Outlook messages share the OLE compound-file signature with .doc, .xls and
  .msi, so the stream is searched for the storage that only a message has;
  its FAT is read as it passes, and the file must end with the last sector
  the FAT uses (then at most padding);
- plain text must be valid UTF-8 without NUL bytes to its last byte;
- no file but a ZIP package may end with a ZIP archive (a polyglot such as a
  GIF or PDF that is also a JAR or ZIP, read from its end); an Outlook
  message stores its attachments whole, ZIPs among them, so one appended to
  it is found as data after its last sector instead.

The refusals: FileTypeNotAllowed (not a kind Haven accepts, or two at once),
FileDamaged (cut short or broken), UnsafeArchive (a zip bomb).

puremagic proposes the kinds with a fixed signature. Its database also maps
loose signatures (a bare RIFF header to WebP, JPEG 2000 to image/jpeg, the
text "\\x89PNG" to PNG), so each proposal is confirmed against the exact
signature before it is believed.
"""

from __future__ import annotations

import codecs
import re
import struct
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import puremagic

from haven_files.domain.errors import FileDamaged, FileTypeNotAllowed, UnsafeArchive
from haven_files.domain.kinds import (
    DOCX,
    EML,
    GIF,
    HEIC,
    JPEG,
    MSG,
    ODT,
    PDF,
    PNG,
    TXT,
    WEBP,
    XLSX,
    FileKind,
)
from haven_files.domain.structure import (
    PADDING,
    PADDING_ALLOWANCE,
    Steps,
    Walk,
    damaged,
    gif_steps,
    heic_steps,
    jpeg_steps,
    png_steps,
    webp_steps,
)

# Bytes inspected before deciding which family a file belongs to.
HEAD_BYTES = 64 * 1024
# The end of every file is kept: a ZIP's to read its central directory (about
# 10,000 entries), any other's to see that no ZIP archive was appended to it.
ZIP_TAIL_BYTES = 1024 * 1024
# Readers accept a PDF whose %%EOF marker is somewhere in its last 1,024 bytes.
PDF_EOF_WITHIN = 1024
# Zip bombs: what a package may unpack to, in all (a multiple of the upload
# limit; see FileIntake) and per large entry.
UNPACKED_PER_UPLOADED_BYTE = 50
DEFAULT_MAX_UNPACKED_BYTES = UNPACKED_PER_UPLOADED_BYTE * 20 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_FROM_BYTES = 10 * 1024 * 1024

ZIP_LOCAL_HEADER = b"PK\x03\x04"
OLE_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
# Every .msg holds this storage in its root; its name is stored as UTF-16LE.
MSG_MARKER = "__properties_version1.0".encode("utf-16-le")
ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})

_PROPOSED: dict[str, FileKind] = {
    "application/pdf": PDF,
    "image/png": PNG,
    "image/jpeg": JPEG,
    "image/gif": GIF,
    "image/webp": WEBP,
    "image/heif": HEIC,
    "image/heic": HEIC,
}


def _is_heic(head: bytes) -> bool:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in HEIC_BRANDS:
        return True
    return major in HEIF_GENERIC_BRANDS and bool(compatible & HEIC_BRANDS)


_CONFIRM: dict[FileKind, Callable[[bytes], bool]] = {
    PDF: lambda head: head.startswith(b"%PDF-"),
    PNG: lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    JPEG: lambda head: head.startswith(b"\xff\xd8\xff"),
    GIF: lambda head: head[:6] in (b"GIF87a", b"GIF89a"),
    WEBP: lambda head: (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X")
    ),
    HEIC: _is_heic,
}


def signature_kinds(head: bytes) -> list[FileKind]:
    """Kinds recognised by a fixed signature at the start of the file."""
    try:
        proposals = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        proposals = []
    kinds: list[FileKind] = []
    for proposal in proposals:
        kind = _PROPOSED.get(proposal.mime_type)
        if kind is not None and kind not in kinds:
            kinds.append(kind)
    # puremagic knows HEIF only by its major brand; phones also write "mif1"
    # with "heic" among the compatible brands.
    if HEIC not in kinds:
        kinds.append(HEIC)
    return [kind for kind in kinds if _CONFIRM[kind](head)]


# -- ZIP packages ------------------------------------------------------------

_EOCD = struct.Struct("<4sHHHHIIH")
_CENTRAL_ENTRY = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL_ENTRY = struct.Struct("<4sHHHHHIIIHH")


@dataclass(frozen=True)
class ZipEntry:
    name: str
    compressed_size: int
    uncompressed_size: int
    local_offset: int
    name_length: int


@dataclass(frozen=True)
class ZipDirectory:
    entries: list[ZipEntry]
    offset: int  # where the central directory starts in the file


def _end_record(tail: bytes) -> int:
    """Where the last ZIP end-of-central-directory signature in the tail is, or -1."""
    search_from = max(0, len(tail) - _EOCD.size - 0xFFFF)
    return tail.rfind(b"PK\x05\x06", search_from)


def zip_directory(tail: bytes, total_size: int) -> ZipDirectory | None:
    """The central directory at the end of a ZIP, or None if it cannot be read.

    Refuses ZIP64, split archives, and archives with anything before or
    between their entries' directory and its end record: an Office or
    OpenDocument file has none of these. A ZIP without an end record at all
    was cut short.
    """
    end = _end_record(tail)
    if end < 0 or end + _EOCD.size > len(tail):
        raise FileDamaged("the ZIP package has no central directory at its end: it looks cut short")
    _, disk, directory_disk, _, count, directory_size, directory_offset, comment_length = (
        _EOCD.unpack_from(tail, end)
    )
    if end + _EOCD.size + comment_length != len(tail):
        return None
    zip64 = count == 0xFFFF or 0xFFFFFFFF in (directory_size, directory_offset)
    if disk or directory_disk or zip64:
        return None
    end_in_file = total_size - len(tail) + end
    if directory_offset + directory_size != end_in_file:
        return None
    position = end - directory_size
    if position < 0:
        return None  # a directory larger than the tail kept: not an office document
    entries: list[ZipEntry] = []
    for _ in range(count):
        if position + _CENTRAL_ENTRY.size > end:
            return None
        fields = _CENTRAL_ENTRY.unpack_from(tail, position)
        if fields[0] != b"PK\x01\x02":
            return None
        flags, compressed, uncompressed = fields[3], fields[8], fields[9]
        name_length, extra_length, comment_length = fields[10], fields[11], fields[12]
        local_offset = fields[16]
        name_start = position + _CENTRAL_ENTRY.size
        raw_name = tail[name_start : name_start + name_length]
        entries.append(
            ZipEntry(
                name=raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"),
                compressed_size=compressed,
                uncompressed_size=uncompressed,
                local_offset=local_offset,
                name_length=name_length,
            )
        )
        position = name_start + name_length + extra_length + comment_length
    return ZipDirectory(entries, directory_offset) if position == end else None


def check_zip_expansion(directory: ZipDirectory, max_unpacked_bytes: int) -> None:
    """Refuse a zip bomb by what its central directory declares, without unpacking it.

    - In all, the entries may unpack to at most `max_unpacked_bytes`.
    - A large entry may not be compressed more than MAX_COMPRESSION_RATIO to 1:
      deflate reaches about 1,000:1 on a run of zeros, real Office XML 5-20:1.
    - Entries may not overlap: each one's data must end before the next one's
      local header starts, and the last before the directory. Overlapping
      entries (David Fifield's "better zip bomb") share one compressed kernel
      among thousands of names, so no single ratio gives them away.
    """
    total = 0
    for entry in directory.entries:
        total += entry.uncompressed_size
        if (
            entry.uncompressed_size >= RATIO_CHECKED_FROM_BYTES
            and entry.uncompressed_size > MAX_COMPRESSION_RATIO * max(entry.compressed_size, 1)
        ):
            raise UnsafeArchive(
                f"the entry {entry.name!r} would unpack to {entry.uncompressed_size} bytes from "
                f"{entry.compressed_size}: more than {MAX_COMPRESSION_RATIO} to 1 (a zip bomb)"
            )
    if total > max_unpacked_bytes:
        raise UnsafeArchive(
            f"the package would unpack to {total} bytes, more than the "
            f"{max_unpacked_bytes} allowed (a zip bomb)"
        )
    ordered = sorted(directory.entries, key=lambda entry: entry.local_offset)
    for entry, following in zip(ordered, [*ordered[1:], None], strict=True):
        # The local header repeats the name; its extra field may differ, so
        # this is the least the entry can take.
        ends_at = entry.local_offset + _LOCAL_ENTRY.size + entry.name_length + entry.compressed_size
        next_start = following.local_offset if following else directory.offset
        if ends_at > next_start:
            raise UnsafeArchive(
                "the package's entries overlap, so they would unpack to far more than it "
                "holds (a zip bomb)"
            )


def holds_zip_end(tail: bytes, total_size: int) -> bool:
    """Whether a ZIP reader would find an archive at the end of this file.

    Readers look for the end record in the last 64 KiB and follow it to a
    central directory just before it, wherever the archive starts: a GIF or
    PDF with a ZIP appended opens as both (a "GIFAR"). An end record that is
    plausible (one disk, as many entries here as in all) and has a central
    directory before it, or one too large to have been kept, is refused;
    random bytes match that by chance about once in 2**80.

    The end record's comment need not reach the end of the file: Python's
    zipfile finds an archive with bytes after it.
    """
    search_from = max(0, len(tail) - _EOCD.size - 0xFFFF)
    end = len(tail)
    while (end := tail.rfind(b"PK\x05\x06", search_from, end)) >= 0:
        if end + _EOCD.size <= len(tail):
            _, disk, directory_disk, on_disk, count, directory_size, _, _ = _EOCD.unpack_from(
                tail, end
            )
            if disk == directory_disk == 0 and on_disk == count:
                start = end - directory_size
                if directory_size == 0 or start < 0 and len(tail) < total_size:
                    return True
                if start >= 0 and tail[start : start + 4] == b"PK\x01\x02":
                    return True
        if end == 0:
            break
    return False


def _first_entry_is_odt_mimetype(head: bytes) -> bool:
    """OpenDocument puts an uncompressed "mimetype" entry first, at a fixed place."""
    if len(head) < _LOCAL_ENTRY.size:
        return False
    fields = _LOCAL_ENTRY.unpack_from(head, 0)
    method, compressed_size, name_length, extra_length = fields[3], fields[7], fields[9], fields[10]
    start = _LOCAL_ENTRY.size
    if method != 0 or head[start : start + name_length] != b"mimetype":
        return False
    data_start = start + name_length + extra_length
    return head[data_start : data_start + compressed_size] == ODT_MIMETYPE


def zip_kind(names: list[str], head: bytes) -> FileKind | None:
    listed = set(names)
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        return None  # macros: a .docm/.xlsm whatever its name says
    if "[Content_Types].xml" in listed:
        if "word/document.xml" in listed:
            return DOCX
        if "xl/workbook.xml" in listed:
            return XLSX
    if names and names[0] == "mimetype" and "content.xml" in listed:
        if _first_entry_is_odt_mimetype(head):
            return ODT
    return None


# -- e-mail ------------------------------------------------------------------

_HEADER_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+):")
_EMAIL_FIELDS = frozenset({"date", "subject", "to", "message-id", "received", "mime-version"})


def looks_like_email(head: bytes, complete: bool) -> bool:
    """An RFC 5322 header section: fields (with folded lines) up to an empty line.

    It must name the sender (From) and at least one other field that every
    real message has, so a text file that happens to start "Note: ..." is not
    taken for an e-mail.
    """
    names: set[str] = set()
    ended = False
    for index, line in enumerate(head.split(b"\n")):
        line = line.removesuffix(b"\r")
        if not line:
            ended = True
            break
        if line[:1] in (b" ", b"\t"):
            if index == 0:
                return False
            continue
        match = _HEADER_FIELD.match(line)
        if match is None:
            return False
        names.add(match.group(1).decode("ascii").lower())
    if not ended and not complete:
        return False  # a header section longer than the head: not a message we know
    return "from" in names and bool(names & _EMAIL_FIELDS)


# -- families: the checks that run over the rest of the stream ---------------


class _Tail:
    """The last `keep` bytes of the stream (at most one chunk more, until asked)."""

    def __init__(self, keep: int):
        self.keep = keep
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        while self._size - len(self._chunks[0]) >= self.keep:
            self._size -= len(self._chunks.popleft())

    def last(self) -> bytes:
        return b"".join(self._chunks)[-self.keep :]


class _Family:
    """What a file's head says it may be, and the checks that decide at the end."""

    def __init__(self, kinds: list[FileKind]):
        self.kinds = kinds

    def feed(self, chunk: bytes) -> None:
        pass

    def finish(self, total_size: int) -> list[FileKind]:
        return self.kinds


class _ZipPackage(_Family):
    def __init__(self, head: bytes, tail: _Tail, max_unpacked_bytes: int):
        super().__init__([DOCX, XLSX, ODT])
        self._head = head
        self._tail = tail
        self._max_unpacked_bytes = max_unpacked_bytes

    def finish(self, total_size: int) -> list[FileKind]:
        directory = zip_directory(self._tail.last(), total_size)
        if directory is None:
            return []
        kind = zip_kind([entry.name for entry in directory.entries], self._head)
        if kind is None:
            return []
        check_zip_expansion(directory, self._max_unpacked_bytes)
        return [kind]


class _Structured(_Family):
    """A kind whose format is walked from its first byte to its end (structure.py)."""

    def __init__(self, kind: FileKind, walk: Walk, tail: _Tail):
        super().__init__([kind])
        self._walk = walk
        self._tail = tail

    def feed(self, chunk: bytes) -> None:
        self._walk.feed(chunk)

    def finish(self, total_size: int) -> list[FileKind]:
        self._walk.finish(self._tail.last())
        return self.kinds

    @property
    def walk_steps(self) -> int:
        return self._walk.steps


class _Pdf(_Family):
    """A PDF ends with %%EOF; readers look for it in the last 1,024 bytes, and so does this."""

    def __init__(self, tail: _Tail):
        super().__init__([PDF])
        self._tail = tail

    def finish(self, total_size: int) -> list[FileKind]:
        if b"%%EOF" not in self._tail.last()[-PDF_EOF_WITHIN:]:
            raise FileDamaged(
                f"the PDF has no %%EOF marker in its last {PDF_EOF_WITHIN} bytes: "
                "it looks cut short"
            )
        return self.kinds


_WALKS: dict[FileKind, tuple[str, str, Callable[[], Steps]]] = {
    PNG: ("PNG", "its IEND chunk", png_steps),
    JPEG: ("JPEG", "its end-of-image marker", jpeg_steps),
    GIF: ("GIF", "its trailer", gif_steps),
    WEBP: ("WebP image", "the size its header declares", webp_steps),
    HEIC: ("HEIC image", "the end of its last box", heic_steps),
}
# Old GIF writers left a few stray bytes after the trailer (idlelib's tk.gif:
# 13); browsers ignore them. Any bytes are allowed there, this many, before the
# padding rule applies: too few for a second file of any kind.
GIF_JUNK_ALLOWANCE = 64


def _signed(kind: FileKind, tail: _Tail) -> _Family:
    if kind is PDF:
        return _Pdf(tail)
    what, end, steps = _WALKS[kind]
    junk = GIF_JUNK_ALLOWANCE if kind is GIF else 0
    return _Structured(kind, Walk(what, end, steps(), junk_allowance=junk), tail)


# -- OLE compound files (.msg) ----------------------------------------------
#
# A compound file is a header sector, then sectors of 512 bytes (version 3) or
# 4,096 (version 4), sector n at (n + 1) * size. The FAT gives each sector's
# next sector, or marks it free; its own sectors are listed in the header
# (the first 109) and in a chain of DIFAT sectors. The file ends with the last
# sector the FAT marks in use (the last may be cut short, as some writers
# leave it). After it, free sectors the FAT describes may hold anything but
# an archive; anything beyond what the FAT describes, but padding, is a
# second file.

_OLE_HEADER = struct.Struct("<8s16sHHHHH6sIIIIIIIII")
_OLE_HEADER_FAT = struct.Struct("<109I")
OLE_HEADER_BYTES = 512
_OLE_SECTOR_SHIFTS = {3: 9, 4: 12}  # major version: sector shift
_FREE_SECTOR = 0xFFFFFFFF


class _OleCompound(_Family):
    """An Outlook message: the storage only a message has, and nothing after its last sector.

    It stores its attachments as they are (a .docx or .zip among them, with
    their ZIP end records), so no ZIP is looked for in it: an archive appended
    to it is data after its end. The FAT is read as it streams past, a few
    bytes kept per sector (where its last entry in use ends, in case it turns
    out to be a FAT sector that a later DIFAT sector lists).
    """

    def __init__(self, tail: _Tail) -> None:
        super().__init__([MSG])
        self._tail = tail
        self._carry = b""
        self._seen = False
        self._pending = bytearray()  # bytes not yet a whole sector
        self._problem: str | None = None  # why the sectors cannot be followed
        self._sector_size = 0  # 0 until the header is read
        self._fat_count = 0
        self._fat_sectors: list[int] = []  # in FAT order, as far as known
        self._difat_left = 0
        self._next_difat = _FREE_SECTOR
        self._header_left = 0  # bytes of the header sector still to pass over
        self._sector = 0  # the index of the next whole sector
        self._used = array("H")  # per sector: bytes up to its last entry not free

    def feed(self, chunk: bytes) -> None:
        if not self._seen:
            window = self._carry + chunk
            self._seen = MSG_MARKER in window
            self._carry = window[-(len(MSG_MARKER) - 1) :]
        if self._problem is None:
            self._pending += chunk
            self._read_sectors()

    def _read_header(self) -> None:
        fields = _OLE_HEADER.unpack_from(self._pending)
        major, byte_order, shift, mini_shift = fields[3:7]
        fat_count, difat_start, difat_count = fields[9], fields[15], fields[16]
        if byte_order != 0xFFFE or _OLE_SECTOR_SHIFTS.get(major) != shift or mini_shift != 6:
            self._problem = "its compound-file header is not valid"
            return
        self._sector_size = 1 << shift
        self._header_left = self._sector_size
        self._fat_count = fat_count
        in_header = _OLE_HEADER_FAT.unpack_from(self._pending, _OLE_HEADER.size)
        self._fat_sectors = list(in_header[: min(fat_count, len(in_header))])
        self._difat_left = difat_count
        self._next_difat = difat_start

    def _read_sectors(self) -> None:
        if not self._sector_size:
            if len(self._pending) < OLE_HEADER_BYTES:
                return
            self._read_header()
            if self._problem is not None:
                return
        if self._header_left:
            passed = min(self._header_left, len(self._pending))
            del self._pending[:passed]
            self._header_left -= passed
        size = self._sector_size
        whole = len(self._pending) // size * size
        if not whole:
            return
        data = bytes(self._pending[:whole])
        del self._pending[:whole]
        for start in range(0, whole, size):
            self._add_sector(data[start : start + size])

    def _add_sector(self, sector: bytes) -> None:
        self._used.append(len(sector.rstrip(b"\xff")))
        if self._difat_left and self._sector == self._next_difat:
            entries = struct.unpack(f"<{len(sector) // 4}I", sector[: len(sector) // 4 * 4])
            self._fat_sectors.extend(entries[:-1])
            self._difat_left -= 1
            self._next_difat = entries[-1] if entries else _FREE_SECTOR
            if self._difat_left and self._next_difat <= self._sector:
                # Writers chain DIFAT sectors forward, as they add them at the end.
                self._problem = "its DIFAT sectors are chained backwards"
        self._sector += 1

    def finish(self, total_size: int) -> list[FileKind]:
        if not self._seen:
            return []
        if self._problem is None and not self._sector_size:
            self._problem = "it is shorter than its header"
        if self._problem is not None:
            raise damaged("MSG", self._problem)
        if self._pending:
            self._add_sector(bytes(self._pending))  # a last sector cut short
            self._pending.clear()
        end = self._end()
        size = self._sector_size
        if total_size <= end - size:
            raise FileDamaged(
                "the MSG ends before the last sector its FAT uses: it looks cut short"
            )
        after = total_size - end
        if after <= 0:
            return self.kinds
        trailer = self._tail.last()[-after:]
        if after <= PADDING_ALLOWANCE and not trailer.translate(None, PADDING):
            return self.kinds
        if holds_zip_end(trailer, after):
            raise FileTypeNotAllowed(
                "the MSG ends with a ZIP archive: a file that is also an archive is refused"
            )
        if total_size <= (self._fat_count * (size // 4) + 1) * size:
            # Sectors the FAT describes as free: a writer may leave them at the
            # end with whatever they held (the bytes of streams it deleted).
            # Not a second file, unless a ZIP reader would find one there.
            return self.kinds
        raise FileTypeNotAllowed(
            "more data follows the end of the MSG: a file with a second file after it is refused"
        )

    def _end(self) -> int:
        """Where the last sector the FAT marks in use ends."""
        if self._difat_left or len(self._fat_sectors) < self._fat_count:
            raise damaged("MSG", "its FAT is not all listed (the DIFAT chain stops short)")
        per_sector = self._sector_size // 4
        last = -1
        for position, sector in enumerate(self._fat_sectors[: self._fat_count]):
            if sector >= len(self._used):
                raise FileDamaged(
                    "the MSG ends before the last sector its FAT uses: it looks cut short"
                )
            if used := self._used[sector]:
                last = max(last, position * per_sector + (used + 3) // 4 - 1)
        if last < 0:
            raise damaged("MSG", "its FAT marks no sector in use")
        return (last + 2) * self._sector_size


class _Text(_Family):
    """UTF-8 without NULs for plain text; no NULs for e-mail (bodies may be 8-bit)."""

    def __init__(self, kinds: list[FileKind]):
        super().__init__(kinds)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = TXT in kinds

    def feed(self, chunk: bytes) -> None:
        if b"\x00" in chunk:
            self.kinds = []
        elif self._utf8:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self._utf8 = False
                self.kinds = [kind for kind in self.kinds if kind is not TXT]
        if not self.kinds:
            raise FileTypeNotAllowed("the content is neither UTF-8 text nor an e-mail message")

    def finish(self, total_size: int) -> list[FileKind]:
        if self._utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.kinds = [kind for kind in self.kinds if kind is not TXT]
        return self.kinds


def _utf8_so_far(head: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return False
    return True


class ContentSniffer:
    """Feed every byte of a file; `finish()` names its kind or raises a FileRefused.

    It refuses as early as it can (an executable after its first bytes, a name
    that contradicts the content as soon as the head is known, data after an
    image's end as soon as it comes), so a refused upload rarely gets far.
    """

    def __init__(self, extension: str, max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES):
        self.extension = extension
        self.max_unpacked_bytes = max_unpacked_bytes
        self._head = bytearray()
        self._tail = _Tail(ZIP_TAIL_BYTES)
        self._family: _Family | None = None
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._size += len(chunk)
        self._tail.add(chunk)
        if self._family is None:
            room = HEAD_BYTES - len(self._head)
            self._head += chunk[:room]
            if len(self._head) < HEAD_BYTES:
                return
            self._family = self._recognise(complete=False)
            chunk = chunk[room:]
            if not chunk:
                return
        self._family.feed(chunk)

    def finish(self) -> FileKind:
        if self._family is None:
            if not self._head:
                raise FileTypeNotAllowed("the file is empty")
            self._family = self._recognise(complete=True)
        # A ZIP package is one archive; an OLE compound file (.msg) stores its
        # attachments as they are, and is followed to its last sector instead.
        if not isinstance(self._family, (_ZipPackage, _OleCompound)) and holds_zip_end(
            self._tail.last(), self._size
        ):
            what = self._family.kinds[0].name.upper() if self._family.kinds else "file"
            raise FileTypeNotAllowed(
                f"the {what} ends with a ZIP archive: a file that is also an archive is refused"
            )
        return self._choose(self._family.finish(self._size))

    @property
    def walk_steps(self) -> int:
        """Steps the structure walk has taken so far (0 for kinds not walked)."""
        return self._family.walk_steps if isinstance(self._family, _Structured) else 0

    def _recognise(self, complete: bool) -> _Family:
        head = bytes(self._head)
        family: _Family
        if kinds := signature_kinds(head):
            family = _signed(kinds[0], self._tail)
        elif head.startswith(ZIP_LOCAL_HEADER):
            family = _ZipPackage(head, self._tail, self.max_unpacked_bytes)
        elif head.startswith(OLE_SIGNATURE):
            family = _OleCompound(self._tail)
        elif b"\x00" not in head:
            text_kinds = [EML] if looks_like_email(head, complete) else []
            if _utf8_so_far(head):
                text_kinds.append(TXT)
            family = _Text(text_kinds)
        else:
            family = _Family([])
        if not family.kinds:
            raise FileTypeNotAllowed("the content is not a kind of file Haven accepts")
        self._choose(family.kinds)  # refuse a contradicting name now, not after the upload
        family.feed(head)
        return family

    def _choose(self, kinds: list[FileKind]) -> FileKind:
        if not kinds:
            raise FileTypeNotAllowed("the content is not a kind of file Haven accepts")
        for kind in kinds:
            if kind.accepts_extension(self.extension):
                return kind
        raise FileTypeNotAllowed(
            f"the name ends in {self.extension} but the content is {kinds[0].content_type}"
        )
