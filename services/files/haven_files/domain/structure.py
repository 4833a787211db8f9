"""Walking a file's structure as it streams, to its end marker and no further.

A file cut short stops before its end (a PNG without its IEND chunk, a JPEG
without its EOI marker, a GIF without its trailer); a polyglot goes on after
it (an image followed by a second file). Both are found by following the
format's own lengths from the first byte to the last, which needs a few bytes
of memory whatever the file's size: a walk is a generator that asks for the
next bytes to read (`Read`), to pass over (`Skip`, `Marker`, `Rest`), or to read only
if the file goes on (`Maybe`); the `Walk` driver answers it chunk by chunk.

What follows a walk's end is allowed only as a little padding (the NULs,
0xFF or line ends some writers leave); anything else is a second file.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from haven_files.domain.errors import FileDamaged, FileTypeNotAllowed


@dataclass(frozen=True, slots=True)
class Read:
    """The next `count` bytes, sent back to the walk."""

    count: int


@dataclass(frozen=True, slots=True)
class Skip:
    """Pass over the next `count` bytes."""

    count: int


@dataclass(frozen=True, slots=True)
class Marker:
    """Pass over a JPEG's entropy-coded data to the next marker; its byte is sent back.

    In that data 0xFF is followed by 0x00 (a stuffed byte), a restart marker
    (0xD0-0xD7) or more 0xFF (fill); anything else ends it.
    """


@dataclass(frozen=True, slots=True)
class Rest:
    """Everything up to the end of the file belongs to what is being walked."""


@dataclass(frozen=True, slots=True)
class Maybe:
    """The next `count` bytes if the file goes on; if it ends here instead, the walk
    has reached its end (fewer bytes count as what follows it)."""

    count: int


Step = Read | Skip | Marker | Rest | Maybe
# A walk returns the bytes it read past the end (Maybe's answer when it is not
# the start of something the walk follows), so they count as what follows.
Steps = Generator[Step, bytes | None, bytes]

# What may follow a file's end: only these bytes, and only this many.
PADDING = b"\x00\xff\r\n\t "
PADDING_ALLOWANCE = 4096


class Walk:
    """Feeds a walk the bytes it asks for; says at the end whether it reached its end."""

    def __init__(self, what: str, end: str, steps: Steps):
        self.what = what  # "PNG"
        self.end = end  # "its IEND chunk"
        self._steps = steps
        self._step: Step | None = next(steps)
        self._gathered = bytearray()
        self._to_skip = self._step.count if isinstance(self._step, Skip) else 0
        self._after_ff = False  # a Marker step saw 0xFF last, at the end of a chunk
        self.after = 0  # bytes past the end

    def feed(self, chunk: bytes) -> None:
        position, size = 0, len(chunk)
        while position < size:
            step = self._step
            if step is None:
                self._past_end(chunk[position:])
                return
            if isinstance(step, Skip):
                taken = min(self._to_skip, size - position)
                self._to_skip -= taken
                position += taken
                if self._to_skip == 0:
                    self._answer(None)
            elif isinstance(step, Rest):
                return
            elif isinstance(step, Marker):
                marker, position = self._find_marker(chunk, position)
                if marker is not None:
                    self._answer(bytes([marker]))
            else:
                wanted = step.count - len(self._gathered)
                self._gathered += chunk[position : position + wanted]
                position += wanted
                if len(self._gathered) == step.count:
                    gathered = bytes(self._gathered)
                    self._gathered.clear()
                    self._answer(gathered)

    def _find_marker(self, chunk: bytes, position: int) -> tuple[int | None, int]:
        size = len(chunk)
        while position < size:
            if not self._after_ff:
                found = chunk.find(b"\xff", position)
                if found < 0:
                    return None, size
                position = found + 1
                self._after_ff = True
                continue
            byte = chunk[position]
            position += 1
            if byte == 0xFF:
                continue
            self._after_ff = False
            if byte != 0x00 and not 0xD0 <= byte <= 0xD7:
                return byte, position
        return None, position

    def finish(self) -> None:
        """Raises unless the walk reached its end, with no more than padding after it."""
        if isinstance(self._step, Rest):
            self._step = None
        elif isinstance(self._step, Maybe):
            # The file ended where it might have gone on: a clean end.
            gathered = bytes(self._gathered)
            self._step = None
            self._past_end(gathered)
        if self._step is not None:
            raise FileDamaged(f"the {self.what} ends before {self.end}: it looks cut short")

    def _answer(self, value: bytes | None) -> None:
        try:
            self._step = self._steps.send(value)
        except StopIteration as stop:
            self._step = None
            self._past_end(stop.value or b"")
            return
        if isinstance(self._step, Skip):
            self._to_skip = self._step.count
            if self._to_skip == 0:
                self._answer(None)

    def _past_end(self, data: bytes) -> None:
        if not data:
            return
        self.after += len(data)
        if self.after > PADDING_ALLOWANCE or data.translate(None, PADDING):
            raise FileTypeNotAllowed(
                f"more data follows the end of the {self.what}: "
                "a file with a second file after it is refused"
            )


def damaged(what: str, problem: str) -> FileDamaged:
    return FileDamaged(f"the {what} is damaged: {problem}")


# -- PNG: length-prefixed chunks up to IEND -----------------------------------


def png_steps() -> Steps:
    yield Skip(8)  # the signature
    while True:
        header = yield Read(8)
        assert header is not None
        length = int.from_bytes(header[:4], "big")
        kind = header[4:8]
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise damaged("PNG", "a chunk header is not valid")
        yield Skip(length + 4)  # the data and its CRC
        if kind == b"IEND":
            return b""


# -- GIF: blocks of length-prefixed sub-blocks up to the trailer (0x3B) -------


def _colour_table(flags: int) -> int:
    return 3 * (2 ** ((flags & 0x07) + 1)) if flags & 0x80 else 0


def _sub_blocks() -> Generator[Step, bytes | None, None]:
    while True:
        size = yield Read(1)
        assert size is not None
        if size[0] == 0:
            return
        yield Skip(size[0])


def gif_steps() -> Steps:
    screen = yield Read(13)  # the header and the logical screen descriptor
    assert screen is not None
    yield Skip(_colour_table(screen[10]))
    while True:
        introducer = yield Read(1)
        assert introducer is not None
        if introducer == b"\x3b":
            return b""
        if introducer == b"\x21":  # an extension: its label, then sub-blocks
            yield Skip(1)
            yield from _sub_blocks()
        elif introducer == b"\x2c":  # an image: its descriptor, colour table, LZW data
            descriptor = yield Read(9)
            assert descriptor is not None
            yield Skip(_colour_table(descriptor[8]) + 1)
            yield from _sub_blocks()
        else:
            raise damaged("GIF", f"an unknown block 0x{introducer.hex()}")


# -- JPEG: marker segments, entropy-coded scans, up to EOI ---------------------

_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and the restart markers


def _jpeg_image() -> Generator[Step, bytes | None, None]:
    """One image from just after its SOI to just after its EOI."""
    marker = None
    while True:
        if marker is None:
            first = yield Read(1)
            assert first is not None
            if first == b"\xff":
                marker = 0xFF
            else:
                # Stray bytes before a marker: libjpeg passes over them with a
                # warning, and so do phones' and cameras' readers; so does this.
                found = yield Marker()
                assert found is not None
                marker = found[0]
        while marker == 0xFF:  # fill bytes before a marker
            byte = yield Read(1)
            assert byte is not None
            marker = byte[0]
        if marker == 0xD9:
            return
        if marker in (0xD8, 0x00):
            raise damaged("JPEG", f"an unexpected marker 0xFF{marker:02X}")
        if marker in _STANDALONE:
            marker = None
            continue
        length = yield Read(2)
        assert length is not None
        size = int.from_bytes(length, "big")
        if size < 2:
            raise damaged("JPEG", "a segment length is not valid")
        yield Skip(size - 2)
        scan = marker == 0xDA
        marker = None
        if scan:
            found = yield Marker()
            assert found is not None
            marker = found[0]


def jpeg_steps() -> Steps:
    """The image, and what phones and cameras put after it: further JPEG images
    (the previews and depth maps of the Multi-Picture Format) or an MP4 video
    (a motion photo), each walked to its own end."""
    yield Skip(2)  # SOI
    yield from _jpeg_image()
    while True:
        following = yield Maybe(8)
        assert following is not None
        if following.startswith(b"\xff\xd8\xff"):
            yield from _jpeg_image_after(following)
        elif following[4:8] == b"ftyp":
            return (yield from _boxes_after(following, "JPEG"))
        else:
            return following


def _jpeg_image_after(start: bytes) -> Generator[Step, bytes | None, None]:
    # `start` is the image's SOI (FF D8), its first marker (FF and one byte), that
    # segment's two-byte length and the first two bytes of the segment.
    marker = start[3]
    if marker in (0xD8, 0xD9, 0x00, 0xFF) or marker in _STANDALONE:
        raise damaged("JPEG", "an image after the first one is not valid")
    size = int.from_bytes(start[4:6], "big")
    if size < 4:
        raise damaged("JPEG", "a segment length is not valid")
    yield Skip(size - 4)
    yield from _jpeg_image()


# -- ISO base media (HEIC, and a motion photo's video): boxes to the end ------


def _boxes_after(first: bytes, what: str) -> Generator[Step, bytes | None, bytes]:
    header = first
    while True:
        size, kind = int.from_bytes(header[:4], "big"), header[4:8]
        if not all(0x20 <= byte <= 0x7E for byte in kind):
            raise damaged(what, "a box header is not valid")
        if size == 0:  # the last box runs to the end of the file
            yield Rest()
            return b""
        if size == 1:
            large = yield Read(8)
            assert large is not None
            size = int.from_bytes(large, "big") - 8
        if size < 8:
            raise damaged(what, "a box size is not valid")
        yield Skip(size - 8)
        following = yield Maybe(8)  # the file may end here, after a whole box
        assert following is not None
        header = following


def heic_steps() -> Steps:
    first = yield Read(8)
    assert first is not None
    return (yield from _boxes_after(first, "HEIC image"))


# -- WebP: a RIFF container that states its own size --------------------------


def webp_steps() -> Steps:
    header = yield Read(8)
    assert header is not None
    size = int.from_bytes(header[4:8], "little")
    yield Skip(size + (size & 1))  # RIFF pads to an even size
    return b""
