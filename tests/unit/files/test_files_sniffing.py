"""What the files service accepts is decided by the content, never by the name alone."""

from __future__ import annotations

import pytest

from haven_files.domain.errors import FileTypeNotAllowed
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
from haven_files.domain.sniffing import HEAD_BYTES, ContentSniffer

from . import file_samples as samples


def sniff(content: bytes, filename: str, chunk_size: int = 64 * 1024) -> FileKind:
    extension = "." + filename.rsplit(".", 1)[1].lower() if "." in filename else ""
    sniffer = ContentSniffer(extension)
    for start in range(0, len(content), chunk_size):
        sniffer.feed(content[start : start + chunk_size])
    return sniffer.finish()


@pytest.mark.parametrize(
    ("content", "filename", "kind"),
    [
        (samples.pdf(), "report.pdf", PDF),
        (samples.png(), "photo.png", PNG),
        (samples.jpeg(), "photo.JPG", JPEG),
        (samples.jpeg(), "photo.jpeg", JPEG),
        (samples.gif(), "drawing.gif", GIF),
        (samples.webp(), "image.webp", WEBP),
        (samples.heic(), "IMG_0001.HEIC", HEIC),
        (samples.heic(major=b"mif1", compatible=(b"mif1", b"heic")), "IMG_0002.heic", HEIC),
        (samples.docx(), "letter.docx", DOCX),
        (samples.xlsx(), "register.xlsx", XLSX),
        (samples.odt(), "minutes.odt", ODT),
        (samples.txt(), "notes.txt", TXT),
        (samples.eml(), "email.eml", EML),
        (samples.msg(), "email.msg", MSG),
    ],
)
def test_each_allowed_kind_is_recognised_from_its_content(
    content: bytes, filename: str, kind: FileKind
) -> None:
    assert sniff(content, filename) is kind


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, HEAD_BYTES + 1])
def test_the_verdict_does_not_depend_on_how_the_stream_is_cut(chunk_size: int) -> None:
    assert sniff(samples.docx(padding=200_000), "big.docx", chunk_size) is DOCX
    assert sniff(samples.txt() * 100, "long.txt", chunk_size) is TXT


def test_a_file_without_an_extension_takes_the_kind_of_its_content() -> None:
    assert sniff(samples.png(), "scan") is PNG


def test_an_email_saved_as_text_is_plain_text() -> None:
    assert sniff(samples.eml(), "email.txt") is TXT


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (samples.png(), "report.pdf"),
        (samples.pdf(), "photo.png"),
        (samples.docx(), "sheet.xlsx"),
        (samples.txt(), "page.html"),
        (samples.txt(), "mail.eml"),
        (samples.png(), "photo.png.exe"),
    ],
)
def test_a_name_that_contradicts_the_content_is_refused(content: bytes, filename: str) -> None:
    with pytest.raises(FileTypeNotAllowed):
        sniff(content, filename)


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (samples.elf(), "tool"),
        (samples.windows_exe(), "setup.exe"),
        (samples.windows_exe(), "invoice.pdf"),
        (samples.docm(), "letter.docx"),
        (samples.plain_zip(), "archive.zip"),
        (samples.plain_zip(), "letter.docx"),
        (samples.ole_document(), "old.doc"),
        (samples.ole_document(), "email.msg"),
        (samples.heic(major=b"avif", compatible=(b"avif", b"mif1")), "image.heic"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100), "sound.webp"),
        (b"", "empty.txt"),
        ("hello".encode("utf-16"), "notes.txt"),
    ],
)
def test_anything_not_on_the_allow_list_is_refused(content: bytes, filename: str) -> None:
    with pytest.raises(FileTypeNotAllowed):
        sniff(content, filename)


def test_text_that_stops_being_utf8_after_the_head_is_refused() -> None:
    content = b"a" * (HEAD_BYTES * 2) + b"\xff\xfe" + b"b" * 100
    with pytest.raises(FileTypeNotAllowed):
        sniff(content, "notes.txt")


def test_text_with_a_nul_byte_after_the_head_is_refused() -> None:
    content = b"a" * (HEAD_BYTES * 2) + b"\x00" + b"b" * 100
    with pytest.raises(FileTypeNotAllowed):
        sniff(content, "notes.txt")


def test_text_ending_inside_a_utf8_sequence_is_refused() -> None:
    with pytest.raises(FileTypeNotAllowed):
        sniff("café".encode()[:-1], "notes.txt")


def test_an_executable_is_refused_from_its_first_bytes() -> None:
    sniffer = ContentSniffer(".pdf")
    with pytest.raises(FileTypeNotAllowed):
        sniffer.feed(samples.windows_exe().ljust(HEAD_BYTES, b"\x00"))
