"""Hostile uploads: files cut short, zip bombs and polyglots are refused by what they hold."""

from __future__ import annotations

import struct

import pytest

from haven_files.domain.encryption import new_data_key
from haven_files.domain.errors import FileDamaged, FileRefused, FileTypeNotAllowed, UnsafeArchive
from haven_files.domain.intake import FileIntake
from haven_files.domain.kinds import DOCX, GIF, JPEG, PDF, PNG, TXT, FileKind
from haven_files.domain.sniffing import HEAD_BYTES, ContentSniffer
from haven_files.domain.structure import PADDING_ALLOWANCE

from . import file_samples as samples

MB = 1024 * 1024


def sniff(
    content: bytes, filename: str, chunk_size: int = 64 * 1024, max_unpacked: int = 1000 * MB
) -> FileKind:
    extension = "." + filename.rsplit(".", 1)[1].lower() if "." in filename else ""
    sniffer = ContentSniffer(extension, max_unpacked_bytes=max_unpacked)
    for start in range(0, len(content), chunk_size):
        sniffer.feed(content[start : start + chunk_size])
    return sniffer.finish()


def refusal(content: bytes, filename: str, **options: int) -> FileRefused:
    with pytest.raises(FileRefused) as refused:
        sniff(content, filename, **options)
    return refused.value


# -- cut short -----------------------------------------------------------------


def _pdf_without_eof() -> bytes:
    content = samples.pdf()
    return content[: content.rindex(b"%%EOF")]


@pytest.mark.parametrize(
    ("content", "filename", "says"),
    [
        (_pdf_without_eof(), "report.pdf", "%%EOF"),
        (samples.pdf()[:1500], "report.pdf", "%%EOF"),
        (samples.png()[:-12], "photo.png", "IEND"),
        (samples.png()[:40], "photo.png", "IEND"),
        (samples.jpeg()[:-2], "photo.jpg", "end-of-image"),
        (samples.jpeg()[:100], "photo.jpg", "end-of-image"),
        (samples.gif()[:-2], "drawing.gif", "trailer"),
        (samples.gif()[:13], "drawing.gif", "trailer"),
        (samples.webp()[:-3], "image.webp", "size its header declares"),
        (samples.heic()[:-10], "IMG_0001.heic", "last box"),
        (samples.cut_before_central_directory(samples.docx()), "letter.docx", "central directory"),
        (samples.docx()[:-10], "letter.docx", "central directory"),
        (samples.xlsx()[: len(samples.xlsx()) // 2], "register.xlsx", "central directory"),
    ],
    ids=[
        "pdf-without-eof",
        "pdf-half",
        "png-without-iend",
        "png-in-its-first-chunk",
        "jpeg-without-eoi",
        "jpeg-in-its-header",
        "gif-inside-its-image",
        "gif-without-an-image",
        "webp-short",
        "heic-short",
        "docx-before-central-directory",
        "docx-inside-end-record",
        "xlsx-half",
    ],
)
def test_a_file_cut_short_is_damaged_and_says_what_is_missing(
    content: bytes, filename: str, says: str
) -> None:
    refused = refusal(content, filename)
    assert isinstance(refused, FileDamaged)
    assert refused.reason == "file_damaged"
    assert says in str(refused)


def test_a_png_with_a_broken_chunk_header_is_damaged() -> None:
    content = bytearray(samples.png())
    content[12:16] = b"I\x00DR"
    assert isinstance(refusal(bytes(content), "photo.png"), FileDamaged)


def test_a_jpeg_with_a_marker_that_cannot_be_there_is_damaged() -> None:
    content = bytearray(samples.jpeg())
    content[21] = 0xD8  # the next segment's marker: a second SOI inside the image
    assert isinstance(refusal(bytes(content), "photo.jpg"), FileDamaged)


def test_stray_bytes_between_a_jpegs_segments_are_passed_over_as_readers_do() -> None:
    content = samples.jpeg()
    assert content[20:22] == b"\xff\xdb"
    assert sniff(content[:20] + b"\x00\x00" + content[20:], "photo.jpg") is JPEG


# -- zip bombs -------------------------------------------------------------------


def test_a_large_entry_compressed_more_than_100_to_1_is_an_unsafe_archive() -> None:
    bomb = samples.docx_with("word/media/zeros.bin", bytes(12 * MB))  # about 12 KB
    refused = refusal(bomb, "letter.docx")
    assert isinstance(refused, UnsafeArchive)
    assert refused.reason == "unsafe_archive"
    assert "word/media/zeros.bin" in str(refused) and "100 to 1" in str(refused)


def test_an_entry_declaring_gigabytes_is_an_unsafe_archive_whatever_it_holds() -> None:
    small = samples.docx_with("word/media/image.bin", b"x" * 1000)
    bomb = samples.declaring(small, "word/media/image.bin", 0xF0000000)
    assert isinstance(refusal(bomb, "letter.docx"), UnsafeArchive)


def test_a_package_unpacking_to_more_than_its_limit_in_all_is_an_unsafe_archive() -> None:
    # Each entry within the ratio; together over the limit.
    package = samples.docx_with("word/media/image.bin", b"x" * 1000)
    bomb = samples.declaring(package, "word/media/image.bin", 3 * MB)
    refused = refusal(bomb, "letter.docx", max_unpacked=2 * MB)
    assert isinstance(refused, UnsafeArchive)
    assert "would unpack to" in str(refused)
    assert sniff(bomb, "letter.docx", max_unpacked=4 * MB) is DOCX


def test_overlapping_entries_are_an_unsafe_archive() -> None:
    refused = refusal(samples.overlapping_docx(), "letter.docx")
    assert isinstance(refused, UnsafeArchive)
    assert "overlap" in str(refused)


def test_real_office_compression_passes() -> None:
    # Repetitive XML, as a big sheet is, compresses about 20-60 to 1.
    rows = b"".join(
        b'<row r="%d"><c r="A%d" t="n"><v>%d</v></c></row>' % (n, n, n * 7) for n in range(400_000)
    )
    assert len(rows) > 10 * MB
    assert sniff(samples.docx_with("word/document2.xml", rows), "letter.docx") is DOCX


# -- polyglots ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (samples.gif() + samples.plain_zip(), "drawing.gif"),
        (samples.jpeg() + samples.plain_zip(), "photo.jpg"),
        (samples.png() + samples.plain_zip(), "photo.png"),
        (samples.pdf() + samples.plain_zip(), "report.pdf"),
        (samples.pdf() + samples.plain_zip() + b"%%EOF\n", "report.pdf"),
        (samples.msg() + samples.plain_zip(), "email.msg"),
        (samples.heic() + samples.plain_zip(), "IMG_0001.heic"),
    ],
    ids=["gifar", "jpeg-zip", "png-zip", "pdf-zip", "pdf-zip-eof", "msg-zip", "heic-zip"],
)
def test_a_file_that_is_also_a_zip_archive_is_refused(content: bytes, filename: str) -> None:
    refused = refusal(content, filename)
    assert isinstance(refused, FileRefused)
    assert refused.reason in ("file_type_not_allowed", "file_damaged")


def test_a_pdf_with_a_small_zip_before_its_eof_names_the_archive() -> None:
    refused = refusal(samples.pdf() + samples.plain_zip(), "report.pdf")
    assert isinstance(refused, FileTypeNotAllowed)
    assert "ZIP archive" in str(refused)


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (samples.png() + b"<script>alert(1)</script>", "photo.png"),
        (samples.jpeg() + b"<html><body>hello</body></html>", "photo.jpg"),
        (samples.gif() + samples.windows_exe(), "drawing.gif"),
        (samples.png() + samples.png(), "photo.png"),
        (samples.webp() + b"more", "image.webp"),
        (samples.png() + b"\x00" * (PADDING_ALLOWANCE + 1), "photo.png"),
    ],
    ids=["png-script", "jpeg-html", "gif-exe", "png-png", "webp-more", "too-much-padding"],
)
def test_data_after_an_images_end_is_refused(content: bytes, filename: str) -> None:
    refused = refusal(content, filename)
    assert isinstance(refused, FileTypeNotAllowed)
    assert "follows the end" in str(refused)


HTML = b"<html><body><script>alert(document.domain)</script></body></html>"
OPEN_ENDED_FTYP = b"\x00\x00\x00\x00ftyp"  # a box header of size 0: "to the end of the file"


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (samples.jpeg() + OPEN_ENDED_FTYP + HTML, "photo.jpg"),
        (samples.jpeg() + OPEN_ENDED_FTYP + samples.windows_exe(), "photo.jpg"),
        (OPEN_ENDED_FTYP + b"heic\x00\x00\x00\x00" + samples.pdf(), "IMG_0001.heic"),
        (OPEN_ENDED_FTYP + b"heic\x00\x00\x00\x00" + HTML, "IMG_0001.heic"),
    ],
    ids=["jpeg-ftyp0-html", "jpeg-ftyp0-exe", "heic-ftyp0-pdf", "heic-ftyp0-html"],
)
def test_only_media_data_may_run_to_the_end_of_the_file(content: bytes, filename: str) -> None:
    """Otherwise a box header of eight bytes would let anything follow an image."""
    refused = refusal(content, filename)
    assert isinstance(refused, FileDamaged)
    assert "only the media data box may run to the end" in str(refused)


def test_a_motion_photos_video_may_end_with_open_ended_media_data() -> None:
    ftyp = struct.pack(">I", 20) + b"ftypmp42" + b"\x00\x00\x00\x00" + b"isom"
    video = ftyp + b"\x00\x00\x00\x00mdat" + bytes(range(256)) * 4
    assert sniff(samples.jpeg() + video, "PXL_0002.MP.jpg") is JPEG


def test_data_after_an_images_end_is_refused_as_it_arrives() -> None:
    sniffer = ContentSniffer(".png")
    sniffer.feed(samples.png())
    with pytest.raises(FileTypeNotAllowed):
        sniffer.feed(b"PK\x03\x04" + bytes(HEAD_BYTES))


@pytest.mark.parametrize(
    ("content", "filename", "kind"),
    [
        (samples.png() + b"\x00" * 100, "photo.png", PNG),
        (samples.png() + b"\r\n", "photo.png", PNG),
        (samples.jpeg(thumbnail=True), "photo.jpg", JPEG),
        (samples.jpeg(20_000) + samples.jpeg(), "mpf.jpg", JPEG),
        (samples.jpeg() + samples.mp4(), "PXL_0001.MP.jpg", JPEG),
        (samples.gif() + b"\x00", "drawing.gif", GIF),
        (samples.pdf() + b"\n" * 10, "report.pdf", PDF),
        (b"<html><script>alert(1)</script></html>\n", "page.txt", TXT),
    ],
    ids=[
        "png-padding",
        "png-newline",
        "jpeg-exif-thumbnail",
        "jpeg-multi-picture",
        "jpeg-motion-photo",
        "gif-padding",
        "pdf-newlines",
        "html-as-text",
    ],
)
def test_what_real_writers_leave_is_accepted(content: bytes, filename: str, kind: FileKind) -> None:
    assert sniff(content, filename) is kind


@pytest.mark.parametrize("chunk_size", [1, 3, 4096, HEAD_BYTES + 1])
def test_the_structure_checks_do_not_depend_on_how_the_stream_is_cut(chunk_size: int) -> None:
    assert sniff(samples.jpeg(40_000, thumbnail=True), "photo.jpg", chunk_size) is JPEG
    assert sniff(samples.png(64, 64), "photo.png", chunk_size) is PNG
    assert sniff(samples.pdf(100_000), "report.pdf", chunk_size) is PDF
    with pytest.raises(FileDamaged):
        sniff(samples.png(64, 64)[:-12], "photo.png", chunk_size)
    with pytest.raises(FileTypeNotAllowed):
        sniff(samples.gif() + samples.plain_zip(), "drawing.gif", chunk_size)


def test_a_zip_end_record_in_random_bytes_alone_is_not_taken_for_an_archive() -> None:
    # The signature by chance, without a directory before it.
    content = samples.pdf(body_bytes=0)
    content = content.replace(
        b"stream\n", b"stream\nPK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 3, 3, 900, 5, 0)
    )
    assert sniff(content, "report.pdf") is PDF


def test_an_upload_may_unpack_to_50_times_the_upload_limit() -> None:
    limit = 100_000
    package = samples.docx_with("word/media/image.bin", b"x" * 1000)

    def take(content: bytes) -> None:
        intake = FileIntake("letter.docx", limit, new_data_key())
        intake.take(content)
        intake.finish()

    take(samples.declaring(package, "word/media/image.bin", 50 * limit - 100))
    with pytest.raises(UnsafeArchive):
        take(samples.declaring(package, "word/media/image.bin", 50 * limit + 1))
