"""An Outlook message ends with the last sector its FAT uses: nothing may follow it.

The samples are real compound files (header, FAT, directory, mini stream,
streams), as Outlook writes a .msg: a ZIP reader finds an archive appended to
one whatever follows the archive, while one stored inside it as an attachment
belongs to the message.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest

from haven_files.domain.errors import FileDamaged, FileRefused, FileTypeNotAllowed
from haven_files.domain.kinds import MSG, FileKind
from haven_files.domain.sniffing import ContentSniffer

from . import file_samples as samples


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.exe", b"MZ" + b"\x00" * 100)
    return buffer.getvalue()


def sniff(content: bytes, filename: str = "Email from parent.msg", chunk: int = 5000) -> FileKind:
    sniffer = ContentSniffer("." + filename.rsplit(".", 1)[1])
    for start in range(0, len(content), chunk):
        sniffer.feed(content[start : start + chunk])
    return sniffer.finish()


def opens_as_zip(content: bytes) -> bool:
    try:
        zipfile.ZipFile(io.BytesIO(content)).namelist()
    except zipfile.BadZipFile:
        return False
    return True


# -- real messages are accepted ------------------------------------------------


@pytest.mark.parametrize("chunk", [64 * 1024, 5000, 511, 7])
def test_a_message_is_a_message_however_it_streams(chunk: int) -> None:
    assert sniff(samples.outlook_message(), chunk=chunk) is MSG


def test_a_message_with_a_zip_attachment_is_a_message() -> None:
    """A .docx or .zip attachment is stored as it is, its end record near the
    end of the file (here only the mini stream follows it)."""
    for attachment in (samples.docx(padding=20_000), plain_zip() + os.urandom(5000)):
        message = samples.outlook_message(attachment)
        assert opens_as_zip(message)
        assert sniff(message) is MSG


def test_a_zip_attachment_in_the_last_sectors_is_part_of_the_message() -> None:
    """Even when the attachment's archive fills the file's last sectors, its end
    record's comment running to the very last byte."""
    archive = plain_zip()
    comment = 8192 - len(archive)
    attachment = archive[:-2] + struct.pack("<H", comment) + b"c" * comment
    message = samples.outlook_message(attachment, big_streams_last=True)
    assert message.endswith(attachment)
    assert sniff(message) is MSG


def test_a_version_4_message_is_a_message() -> None:
    assert sniff(samples.outlook_message(samples.docx(), version=4)) is MSG


def test_a_large_message_with_difat_sectors_is_a_message() -> None:
    """Over about 7 MB (109 FAT sectors), the FAT's sectors are listed in DIFAT
    sectors too; written after the FAT, they list sectors already passed."""
    message = samples.outlook_message(os.urandom(7_500_000), tables_last=True)
    assert sniff(message, chunk=64 * 1024) is MSG


def test_padding_after_the_last_sector_is_allowed() -> None:
    assert sniff(samples.outlook_message() + b"\x00" * 1000) is MSG


def test_a_last_sector_cut_short_by_its_writer_is_allowed() -> None:
    message = samples.outlook_message(os.urandom(6000), big_streams_last=True)
    assert sniff(message[:-100]) is MSG


# -- anything after the last sector is refused -------------------------------


@pytest.mark.parametrize(
    "after",
    [b"", b"\x00", b"x" * 100, b"\x00" * 5000],
    ids=["zip", "zip-one-byte", "zip-100-bytes", "zip-padding"],
)
@pytest.mark.parametrize("attachment", [False, True], ids=["plain", "with-attachment"])
def test_a_zip_appended_to_a_message_is_refused(after: bytes, attachment: bool) -> None:
    message = samples.outlook_message(samples.docx(padding=20_000) if attachment else None)
    polyglot = message + plain_zip() + after
    assert opens_as_zip(polyglot)  # what a ZIP reader sees
    with pytest.raises(FileTypeNotAllowed, match="ZIP archive"):
        sniff(polyglot)


def test_a_zip_appended_to_a_large_message_is_refused() -> None:
    polyglot = samples.outlook_message(os.urandom(7_500_000), tables_last=True) + plain_zip() + b"x"
    with pytest.raises(FileTypeNotAllowed, match="ZIP archive"):
        sniff(polyglot, chunk=64 * 1024)


def test_free_sectors_the_fat_describes_may_hold_a_writers_leftovers() -> None:
    """A writer may leave free sectors at the end holding what deleted streams held.
    One FAT sector describes 128 sectors, far more than a small message uses."""
    leftovers = (b"deleted stream " * 200)[:2048]
    assert sniff(samples.outlook_message() + leftovers) is MSG


@pytest.mark.parametrize(
    "after",
    [b"x", b"<html><script>alert(1)</script></html>", b"\x00" * 4097, samples.pdf()],
    ids=["one-byte", "html", "too-much-padding", "pdf"],
)
def test_anything_beyond_what_the_fat_describes_is_refused(after: bytes) -> None:
    message = samples.outlook_message()
    described = (struct.unpack_from("<I", message, 0x2C)[0] * 128 + 1) * 512
    assert len(message) < described
    with pytest.raises(FileTypeNotAllowed, match="follows the end of the MSG"):
        sniff(message + b"\x42" * (described - len(message)) + after)


def test_an_archive_in_free_sectors_after_the_last_one_in_use_is_refused() -> None:
    """Sectors the FAT marks free are not part of the message, even where the FAT
    covers them (one FAT sector covers 128)."""
    polyglot = samples.outlook_message() + plain_zip().ljust(1024, b"\x00")
    with pytest.raises(FileTypeNotAllowed, match="ZIP archive"):
        sniff(polyglot)


# -- not a compound file ---------------------------------------------------------


def test_a_message_cut_short_is_damaged() -> None:
    message = samples.outlook_message(os.urandom(20_000), big_streams_last=True)
    with pytest.raises(FileDamaged, match="cut short"):
        sniff(message[:-4096])


def test_a_message_whose_header_is_not_a_compound_files_is_damaged() -> None:
    message = bytearray(samples.outlook_message())
    message[0x1E] = 7  # a sector shift no version has
    with pytest.raises(FileDamaged, match="header"):
        sniff(bytes(message))


def test_an_old_word_document_is_still_not_a_message() -> None:
    document = samples.compound_file({"WordDocument": os.urandom(5000), "1Table": os.urandom(300)})
    with pytest.raises(FileRefused):
        sniff(document, "old.doc")
    with pytest.raises(FileTypeNotAllowed):
        sniff(document)
