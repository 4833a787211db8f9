"""The multipart reader hands on the `file` part piece by piece, however the body is split."""

from __future__ import annotations

from haven_gateway.uploads import FileData, FileEnded, FilePartReader, FileStarted

BOUNDARY = b"XyZ"


def body(content: bytes) -> bytes:
    return (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="note"\r\n\r\n'
        b"hello\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; '
        b'filename="C:\\Users\\me\\r\xc3\xa9sum\xc3\xa9.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + content + b"\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="second.txt"\r\n\r\n'
        b"ignored\r\n"
        b"--XyZ--\r\n"
    )


def read_in_pieces(data: bytes, size: int) -> list:
    reader = FilePartReader(BOUNDARY)
    events = []
    for start in range(0, len(data), size):
        events += reader.feed(data[start : start + size])
    return events + reader.finish()


def test_the_file_part_arrives_whole_in_order_even_when_split_into_tiny_pieces():
    content = bytes(range(256)) * 300 + b"\r\n--XyQ looks like a boundary but is not"
    for size in (1, 7, 1000, 10**6):
        events = read_in_pieces(body(content), size)
        started = [e for e in events if isinstance(e, FileStarted)]
        assert started == [FileStarted(filename="résumé.pdf", content_type="application/pdf")]
        assert b"".join(e.data for e in events if isinstance(e, FileData)) == content
        assert sum(isinstance(e, FileEnded) for e in events) == 1


def test_other_fields_and_later_file_parts_are_ignored():
    events = read_in_pieces(body(b"abc"), 64)
    assert b"".join(e.data for e in events if isinstance(e, FileData)) == b"abc"
