"""The structure walks' cost: a crafted file made of nothing but steps is bounded.

Walked one generator step per byte or per block, a 20 MB JPEG of fill bytes
took 18 s of CPU, a GIF of one-byte sub-blocks 3 s for 4 MB, on the files
service's event loop. Runs of bytes are now passed over in bulk, and a walk
may take only so many steps for the bytes it has read (structure.py); the
upload handler also takes each chunk in off the event loop.
"""

from __future__ import annotations

import time

import pytest

from haven_files.domain.errors import FileDamaged, FileRefused
from haven_files.domain.sniffing import ContentSniffer
from haven_files.domain.structure import MB, STEP_ALLOWANCE, STEPS_PER_MB

from . import file_samples as samples

SIZE = 6 * MB
GIF_SCREEN = bytes.fromhex("47494638396101000100000000")

CRAFTED = [
    ("jpeg-fill-bytes", b"\xff\xd8" + b"\xff" * SIZE + b"\xd9", ".jpg"),
    ("jpeg-empty-comments", b"\xff\xd8" + b"\xff\xfe\x00\x02" * (SIZE // 4) + b"\xff\xd9", ".jpg"),
    (
        "jpeg-stray-bytes",
        b"\xff\xd8\xff\xfe\x00\x02" + b"\x00\xff\x01" * (SIZE // 3) + b"\xff\xd9",
        ".jpg",
    ),
    ("jpeg-stuffed-scan", samples.jpeg()[:-2] + b"\xff\x00" * (SIZE // 2) + b"\xff\xd9", ".jpg"),
    (
        "gif-one-byte-sub-blocks",
        GIF_SCREEN + b"\x21\xfe" + b"\x01a" * (SIZE // 2) + b"\x00\x3b",
        ".gif",
    ),
    ("gif-empty-extensions", GIF_SCREEN + b"\x21\xfe\x00" * (SIZE // 3) + b"\x3b", ".gif"),
    (
        "png-empty-chunks",
        samples.png()[:-12]
        + b"\x00\x00\x00\x00teXt\x00\x00\x00\x00" * (SIZE // 12)
        + samples.png()[-12:],
        ".png",
    ),
    ("heic-8-byte-boxes", samples.heic() + b"\x00\x00\x00\x08free" * (SIZE // 8), ".heic"),
]


def _sniff(content: bytes, extension: str) -> tuple[ContentSniffer, FileRefused | None]:
    sniffer = ContentSniffer(extension)
    try:
        for start in range(0, len(content), 64 * 1024):
            sniffer.feed(content[start : start + 64 * 1024])
        sniffer.finish()
    except FileRefused as refused:
        return sniffer, refused
    return sniffer, None


def _cpu_to_sniff(content: bytes, extension: str) -> float:
    """The least of three runs: CPU time of this process, so other load matters little."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        _sniff(content, extension)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize(
    ("content", "extension"),
    [(content, extension) for _, content, extension in CRAFTED],
    ids=[name for name, _, _ in CRAFTED],
)
def test_a_crafted_image_takes_no_more_steps_than_its_size_allows(
    content: bytes, extension: str
) -> None:
    sniffer, refused = _sniff(content, extension)
    assert sniffer.walk_steps <= STEP_ALLOWANCE + STEPS_PER_MB * len(content) // MB
    if refused is not None:
        assert refused.reason in ("file_damaged", "file_type_not_allowed")


TIMED = ("jpeg-fill-bytes", "jpeg-empty-comments", "gif-one-byte-sub-blocks")


@pytest.mark.parametrize(
    ("content", "extension"),
    [(content, extension) for name, content, extension in CRAFTED if name in TIMED],
    ids=TIMED,
)
def test_a_crafted_image_costs_little_more_cpu_than_a_real_one(
    content: bytes, extension: str
) -> None:
    # Walked one step per byte or block, these took several hundred times as
    # long as a real JPEG of the same size; now a few tens of times at most.
    normal = _cpu_to_sniff(samples.jpeg(scan_bytes=len(content) // 2), ".jpg")
    crafted = _cpu_to_sniff(content, extension)
    assert crafted < 60 * normal, f"{crafted:.3f} s of CPU; a real JPEG of its size: {normal:.3f} s"


def test_a_file_of_empty_segments_is_refused_as_damaged_saying_why() -> None:
    content = b"\xff\xd8" + b"\xff\xfe\x00\x02" * (SIZE // 4) + b"\xff\xd9"
    sniffer, refused = _sniff(content, ".jpg")
    assert isinstance(refused, FileDamaged)
    assert refused.reason == "file_damaged"
    assert "blocks" in str(refused) and "real files have far fewer" in str(refused)
    # Refused early: the allowance for what had been read, not the whole file.
    assert sniffer.walk_steps < 2 * STEP_ALLOWANCE


def test_a_large_real_gif_stays_far_within_the_allowance() -> None:
    # LZW data in full 255-byte sub-blocks, as every encoder writes it.
    data = b"\x2c" + bytes(9) + b"\x02" + (b"\xff" + bytes(255)) * (SIZE // 256) + b"\x00\x3b"
    sniffer, refused = _sniff(GIF_SCREEN + data, ".gif")
    assert refused is None
    assert sniffer.walk_steps < (STEP_ALLOWANCE + STEPS_PER_MB * SIZE // MB) / 4
