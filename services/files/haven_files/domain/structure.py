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

A crafted file can be made of nothing but the smallest steps (one-byte GIF
sub-blocks, empty JPEG segments, 8-byte boxes), and every step costs Python
time on the service's event loop. So the driver takes runs of bytes in bulk
(fill bytes, entropy-coded data, sub-block chains are passed over in C or in
one tight loop, not one generator step per byte), and a walk may take only
STEP_ALLOWANCE steps plus STEPS_PER_MB for each megabyte read so far: far
more than real files need, and refused as damaged beyond that.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Generator
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
class Fill:
    """Pass over 0xFF fill bytes before a JPEG marker; the first other byte is sent back."""


@dataclass(frozen=True, slots=True)
class SubBlocks:
    """Pass over a GIF's chain of length-prefixed sub-blocks, up to and with its
    empty terminator."""


# Whether what runs from `start` (where the walk stopped) to the end of the
# file is whole: given the last bytes of the file and its size.
TrailerCheck = Callable[[bytes, int, int], bool]


@dataclass(frozen=True, slots=True)
class Rest:
    """Everything up to the end of the file belongs to what is being walked.

    With `check`, only if the check accepts it at the end: it started `back`
    bytes before this step (bytes the walk has already read).
    """

    check: TrailerCheck | None = None
    back: int = 0


@dataclass(frozen=True, slots=True)
class Maybe:
    """The next `count` bytes if the file goes on; if it ends here instead, the walk
    has reached its end (fewer bytes count as what follows it)."""

    count: int


Step = Read | Skip | Marker | Fill | SubBlocks | Rest | Maybe
# A walk returns the bytes it read past the end (Maybe's answer when it is not
# the start of something the walk follows), so they count as what follows.
Steps = Generator[Step, bytes | None, bytes]

# What may follow a file's end: only these bytes, and only this many.
PADDING = b"\x00\xff\r\n\t "
PADDING_ALLOWANCE = 4096

# Steps a walk may take (generator steps, GIF sub-blocks): this many, and this
# many more per MiB read so far. Real images take far fewer: a GIF's LZW data,
# in 255-byte sub-blocks, about 4,100 per MiB, an animated one up to about
# 17,000 per MiB (a terminal recording) or a few thousand frames in a small
# file; JPEG, PNG and HEIC fewer than a hundred per file. A step costs about a
# microsecond, so a 20 MiB file of the smallest steps is refused after about
# half a second of CPU, where walking it all took up to 18 s.
STEP_ALLOWANCE = 65_536
STEPS_PER_MB = 24_576
MB = 1024 * 1024

# In a JPEG's entropy-coded data, 0xFF followed by anything but a stuffed 0x00,
# a restart marker or more fill is a marker.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_NOT_FILL = re.compile(rb"[^\xff]")


class Walk:
    """Feeds a walk the bytes it asks for; says at the end whether it reached its end."""

    def __init__(self, what: str, end: str, steps: Steps, junk_allowance: int = 0):
        self.what = what  # "PNG"
        self.end = end  # "its IEND chunk"
        # Bytes of anything allowed right after the end (then only padding).
        self.junk_allowance = junk_allowance
        self._steps = steps
        self._step: Step | None = next(steps)
        self._gathered = bytearray()
        self._to_skip = self._step.count if isinstance(self._step, Skip) else 0
        self._after_ff = False  # a Marker step saw 0xFF last, at the end of a chunk
        self.after = 0  # bytes past the end
        self.steps = 0  # steps taken, against STEP_ALLOWANCE
        self._step_limit = STEP_ALLOWANCE
        self._fed = 0  # bytes fed so far
        self._rest_from: int | None = None  # where a Rest step's trailer starts

    def feed(self, chunk: bytes) -> None:
        position, size = 0, len(chunk)
        start_of_chunk = self._fed
        self._fed += size
        self._step_limit = STEP_ALLOWANCE + STEPS_PER_MB * self._fed // MB
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
                if self._rest_from is None:
                    self._rest_from = start_of_chunk + position - step.back
                return
            elif isinstance(step, Marker):
                marker, position = self._find_marker(chunk, position)
                if marker is not None:
                    self._answer(bytes([marker]))
            elif isinstance(step, Fill):
                byte = chunk[position]
                if byte == 0xFF:  # a run of fill: passed over in C, without a copy
                    found = _NOT_FILL.search(chunk, position)
                    if found is None:
                        return
                    position = found.start()
                    byte = chunk[position]
                position += 1
                self._answer(bytes((byte,)))
            elif isinstance(step, SubBlocks):
                position = self._pass_sub_blocks(chunk, position)
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
        if self._after_ff:  # the last chunk ended with 0xFF
            byte = chunk[position]
            if byte != 0xFF:
                self._after_ff = False
                position += 1
                if byte != 0x00 and not 0xD0 <= byte <= 0xD7:
                    return byte, position
        found = _MARKER.search(chunk, position)
        if found is not None:
            self._after_ff = False
            return chunk[found.end() - 1], found.end()
        self._after_ff = size > position and chunk[-1] == 0xFF
        return None, size

    def _pass_sub_blocks(self, chunk: bytes, position: int) -> int:
        """One tight loop over a chain of sub-blocks: a length byte, that many bytes."""
        size = len(chunk)
        position += self._to_skip
        steps, limit = self.steps, self._step_limit
        while position < size:
            length = chunk[position]
            position += 1
            if length == 0:
                self.steps = steps
                self._to_skip = 0
                self._answer(None)
                return position
            steps += 1
            if steps > limit:
                self.steps = steps
                self._too_many_steps()
            position += length
        self.steps = steps
        self._to_skip = position - size
        return size

    def _too_many_steps(self) -> None:
        raise damaged(
            self.what,
            f"it is made of more than {self._step_limit} blocks for its "
            f"{self._fed} bytes ({STEP_ALLOWANCE} and {STEPS_PER_MB} per MiB are allowed); "
            "real files have far fewer",
        )

    def finish(self, tail: bytes = b"") -> None:
        """Raises unless the walk reached its end, with no more than padding after it.

        `tail` is the file's last bytes, for a trailer a Rest step must check.
        """
        if isinstance(self._step, Rest):
            check, back = self._step.check, self._step.back
            self._step = None
            start = self._fed - back if self._rest_from is None else self._rest_from
            if check is not None and not check(tail, self._fed, start):
                raise FileTypeNotAllowed(
                    f"more data follows the end of the {self.what}: "
                    "a file with a second file after it is refused"
                )
        elif isinstance(self._step, Maybe):
            # The file ended where it might have gone on: a clean end.
            gathered = bytes(self._gathered)
            self._step = None
            self._past_end(gathered)
        if self._step is not None:
            raise FileDamaged(f"the {self.what} ends before {self.end}: it looks cut short")

    def _answer(self, value: bytes | None) -> None:
        self.steps += 1
        if self.steps > self._step_limit:
            self._too_many_steps()
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
        elif isinstance(self._step, SubBlocks):
            self._to_skip = 0  # what is left of the sub-block being passed over

    def _past_end(self, data: bytes) -> None:
        if not data:
            return
        junk = max(0, self.junk_allowance - self.after)
        self.after += len(data)
        if self.after > PADDING_ALLOWANCE or data[junk:].translate(None, PADDING):
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


def gif_steps() -> Steps:
    """The blocks to the trailer; a GIF whose last image or extension ends at the
    end of the file, without a trailer, is whole too (browsers show it)."""
    screen = yield Read(13)  # the header and the logical screen descriptor
    assert screen is not None
    yield Skip(_colour_table(screen[10]))
    images = 0
    while True:
        introducer = yield (Maybe(1) if images else Read(1))
        assert introducer is not None
        if introducer == b"\x3b":
            return b""
        if introducer == b"\x21":  # an extension: its label, then sub-blocks
            yield Skip(1)
            yield SubBlocks()
        elif introducer == b"\x2c":  # an image: its descriptor, colour table, LZW data
            descriptor = yield Read(9)
            assert descriptor is not None
            yield Skip(_colour_table(descriptor[8]) + 1)
            yield SubBlocks()
            images += 1
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
                found = yield Fill()
                assert found is not None
                marker = found[0]
            else:
                # Stray bytes before a marker: libjpeg passes over them with a
                # warning, and so do phones' and cameras' readers; so does this.
                found = yield Marker()
                assert found is not None
                marker = found[0]
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
    (a motion photo), each walked to its own end; or Samsung's trailer, which
    is checked from the end of the file."""
    yield Skip(2)  # SOI
    yield from _jpeg_image()
    while True:
        following = yield Maybe(8)
        assert following is not None
        if following.startswith(b"\xff\xd8\xff"):
            yield from _jpeg_image_after(following)
        elif following[4:8] == b"ftyp":
            return (yield from _boxes_after(following, "JPEG"))
        elif _samsung_block(following):
            yield Rest(check=samsung_trailer, back=len(following))
            return b""
        else:
            return following


# Samsung's trailer (ExifTool's Samsung "Trailer" tags), after the last image:
# data blocks, each `<u16 0><u16 type><u32 name length><name><data>`; then the
# directory, "SEFH", <u32 version>, <u32 count>, and `count` entries of
# `<u16 0><u16 type><u32 offset back from SEFH><u32 length>`; then
# `<u32 directory length>` and "SEFT" end the file. Galaxy phones write it on
# every photo ("Image_UTC_Data", the capture time) and carry a motion photo's
# MP4 in it ("MotionPhoto_Data").
_SEF_BLOCK = struct.Struct("<HHI")
_SEF_DIRECTORY = struct.Struct("<4sII")
_SEF_ENTRY = struct.Struct("<HHII")
_SEF_NAME_LENGTHS = range(1, 256)


def _samsung_block(start: bytes) -> bool:
    """Whether these 8 bytes can be the header of a Samsung trailer's first block."""
    if len(start) < _SEF_BLOCK.size:
        return False
    zero, _, name_length = _SEF_BLOCK.unpack_from(start)
    return zero == 0 and name_length in _SEF_NAME_LENGTHS


def samsung_trailer(tail: bytes, total_size: int, start: int) -> bool:
    """Whether the file ends with a Samsung trailer whose directory lists blocks that
    begin at `start` (where the images ended) and all lie before the directory."""
    if len(tail) < 8 or tail[-4:] != b"SEFT":
        return False
    length = int.from_bytes(tail[-8:-4], "little")
    directory = len(tail) - 8 - length
    if directory < 0 or length < _SEF_DIRECTORY.size:
        return False
    signature, _, count = _SEF_DIRECTORY.unpack_from(tail, directory)
    if signature != b"SEFH" or not count or _SEF_DIRECTORY.size + count * _SEF_ENTRY.size > length:
        return False
    directory_in_file = total_size - len(tail) + directory
    first = directory_in_file
    for index in range(count):
        _, _, back, size = _SEF_ENTRY.unpack_from(
            tail, directory + _SEF_DIRECTORY.size + index * _SEF_ENTRY.size
        )
        if back > directory_in_file - start or size > back:
            return False  # a block before the images' end, or running into the directory
        first = min(first, directory_in_file - back)
    return first == start


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
            # Only media data does that in real files; any other box (an `ftyp`
            # of size 0 right after a JPEG) would let anything at all follow.
            if kind != b"mdat":
                raise damaged(what, "only the media data box may run to the end of the file")
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
