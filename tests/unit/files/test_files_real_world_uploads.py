"""Real-world files the hostile-upload checks must not refuse by mistake.

Each case is a file that common software writes every day and that opens in
every reader; and next to it, the hostile file that looks most like it.
"""

from __future__ import annotations

import struct

import pytest

from haven_files.domain.errors import FileTypeNotAllowed
from haven_files.domain.kinds import GIF, JPEG, MSG, FileKind
from haven_files.domain.sniffing import ContentSniffer

from . import file_samples as samples


def sniff(content: bytes, filename: str, chunk_size: int = 64 * 1024) -> FileKind:
    extension = "." + filename.rsplit(".", 1)[1].lower()
    sniffer = ContentSniffer(extension)
    for start in range(0, len(content), chunk_size):
        sniffer.feed(content[start : start + chunk_size])
    return sniffer.finish()


def _samsung_trailer(blocks: list[tuple[int, bytes, bytes]]) -> bytes:
    """The trailer Samsung Galaxy cameras write after a JPEG's EOI (ExifTool: "Samsung
    trailer"): data blocks, then a SEFH directory, its size, and "SEFT"."""
    data = b""
    entries = []
    for kind, name, payload in blocks:
        block = struct.pack("<HHI", 0, kind, len(name)) + name + payload
        entries.append((kind, len(data), len(block)))
        data += block
    directory = b"SEFH" + struct.pack("<II", 107, len(entries))
    for kind, offset, length in entries:
        # Offsets count back from the start of SEFH.
        directory += struct.pack("<HHII", 0, kind, len(data) - offset, length)
    return data + directory + struct.pack("<I", len(directory)) + b"SEFT"


def test_a_samsung_photo_with_its_utc_trailer_is_a_jpeg() -> None:
    """Galaxy phones append "Image_UTC_Data" (the capture time) after the EOI of
    ordinary photos; every viewer ignores it."""
    photo = samples.jpeg(thumbnail=True) + _samsung_trailer(
        [(0x0A01, b"Image_UTC_Data", b"1700000000000")]
    )
    assert sniff(photo, "20240105_101500.jpg") is JPEG


def test_a_samsung_motion_photo_is_a_jpeg() -> None:
    """Samsung's motion photos: the JPEG, "MotionPhoto_Data", the MP4, the trailer."""
    photo = samples.jpeg() + _samsung_trailer([(0x0A30, b"MotionPhoto_Data", samples.mp4())])
    assert sniff(photo, "20240105_101500.jpg") is JPEG


def test_an_outlook_message_with_a_word_attachment_is_a_message() -> None:
    """Staff drag an email from Outlook to keep it with the record; if it carried
    a Word document, the document's bytes (a ZIP) sit inside the .msg as they are."""
    message = samples.msg(samples.docx(padding=20_000))
    assert sniff(message, "Email from parent.msg") is MSG


def test_a_samsung_trailer_must_list_everything_after_the_image() -> None:
    """A second file between the image and a genuine-looking trailer is not listed
    in the trailer's directory, so it is data after the image."""
    trailer = _samsung_trailer([(0x0A01, b"Image_UTC_Data", b"1700000000000")])
    block = struct.pack("<HHI", 0, 0x0A01, 14) + b"Image_UTC_Data"
    smuggled = samples.jpeg() + block + b"<html><script>alert(1)</script></html>" + trailer
    with pytest.raises(FileTypeNotAllowed, match="follows the end"):
        sniff(smuggled, "20240105_101500.jpg")


@pytest.mark.parametrize(
    "ending",
    [b"SEFT", b"\x10\x00\x00\x00SEFT", b"\x00" * 12 + b"\x0c\x00\x00\x00SEFT"],
    ids=["seft-alone", "no-sefh", "empty-directory"],
)
def test_something_ending_like_a_samsung_trailer_is_data_after_the_image(ending: bytes) -> None:
    block = struct.pack("<HHI", 0, 0x0A01, 14) + b"Image_UTC_Data" + b"anything"
    with pytest.raises(FileTypeNotAllowed, match="follows the end"):
        sniff(samples.jpeg() + block + ending, "photo.jpg")


def test_a_zip_inside_a_samsung_trailer_is_still_a_polyglot() -> None:
    photo = samples.jpeg() + _samsung_trailer([(0x0A30, b"MotionPhoto_Data", samples.plain_zip())])
    with pytest.raises(FileTypeNotAllowed, match="ZIP archive"):
        sniff(photo, "20240105_101500.jpg")


def test_a_zip_appended_to_an_outlook_message_with_an_attachment_is_refused() -> None:
    message = samples.msg(samples.docx(padding=20_000))
    with pytest.raises(FileTypeNotAllowed, match="ZIP archive"):
        sniff(message + samples.plain_zip(), "Email from parent.msg")


def test_a_gif_without_its_trailer_is_whole_when_its_last_block_ends_the_file() -> None:
    """Old writers left the trailer off (idlelib's minusnode.gif); browsers show it."""
    assert sniff(samples.gif()[:-1], "drawing.gif") is GIF


def test_a_few_stray_bytes_after_a_gifs_trailer_are_accepted() -> None:
    """idlelib's tk.gif has 13 bytes after its trailer, as old writers left them."""
    stray = bytes.fromhex("1a14003b3bba0a441400003b3b")
    assert sniff(samples.gif() + stray, "tk.gif") is GIF
    assert sniff(samples.gif() + stray * 4 + b"\x00" * 100, "tk.gif") is GIF
    with pytest.raises(FileTypeNotAllowed, match="follows the end"):
        sniff(samples.gif() + stray * 5 + b"\x00", "tk.gif")


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 64 * 1024 + 1])
def test_the_trailer_checks_do_not_depend_on_how_the_stream_is_cut(chunk_size: int) -> None:
    # A video longer than the 1 MiB of the file's end that is kept.
    video = samples.mp4(media_bytes=1_500_000 if chunk_size > 1 else 5_000)
    photo = samples.jpeg(thumbnail=True) + _samsung_trailer(
        [(0x0A01, b"Image_UTC_Data", b"1700000000000"), (0x0A30, b"MotionPhoto_Data", video)]
    )
    assert sniff(photo, "20240105_101500.jpg", chunk_size) is JPEG
    assert sniff(samples.gif()[:-1], "drawing.gif", chunk_size) is GIF
    with pytest.raises(FileTypeNotAllowed):
        sniff(photo[:-1] + b"X", "20240105_101500.jpg", chunk_size)
