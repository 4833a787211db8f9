"""Encryption at rest: streamed segments that reveal nothing and detect any tampering."""

from __future__ import annotations

import os
import uuid

import pytest

from haven_files.domain.encryption import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    MasterKey,
    SegmentDecryptor,
    SegmentEncryptor,
    new_data_key,
)
from haven_files.domain.errors import ContentCorrupted

SEGMENT = 1024  # small segments keep the tests quick; the format is the same


def encrypt(plaintext: bytes, key: bytes, piece: int = 300) -> bytes:
    encryptor = SegmentEncryptor(key, segment_size=SEGMENT)
    out = b"".join(
        encryptor.update(plaintext[i : i + piece]) for i in range(0, len(plaintext), piece)
    )
    return out + encryptor.finish()


def decrypt(ciphertext: bytes, key: bytes, piece: int = 333) -> bytes:
    decryptor = SegmentDecryptor(key)
    out = b"".join(
        decryptor.update(ciphertext[i : i + piece]) for i in range(0, len(ciphertext), piece)
    )
    return out + decryptor.finish()


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT + 17])
def test_any_size_of_file_decrypts_to_what_went_in(size: int) -> None:
    key = new_data_key()
    plaintext = os.urandom(size)
    assert decrypt(encrypt(plaintext, key), key) == plaintext


def test_the_default_segments_round_trip_in_one_go() -> None:
    key = new_data_key()
    plaintext = os.urandom(3 * SEGMENT_SIZE + 5)
    encryptor = SegmentEncryptor(key)
    ciphertext = encryptor.update(plaintext) + encryptor.finish()
    assert len(ciphertext) == HEADER_SIZE + len(plaintext) + 4 * TAG_SIZE
    decryptor = SegmentDecryptor(key)
    assert decryptor.update(ciphertext) + decryptor.finish() == plaintext


def test_the_ciphertext_does_not_contain_the_plaintext() -> None:
    key = new_data_key()
    plaintext = b"The pupil said that " * 200
    ciphertext = encrypt(plaintext, key)
    assert b"pupil" not in ciphertext


def test_the_same_file_encrypts_differently_each_time() -> None:
    key = new_data_key()
    plaintext = os.urandom(3000)
    assert encrypt(plaintext, key) != encrypt(plaintext, key)


def test_an_object_cut_at_a_segment_boundary_is_detected() -> None:
    key = new_data_key()
    ciphertext = encrypt(os.urandom(3 * SEGMENT + 10), key)
    cut = ciphertext[: HEADER_SIZE + 2 * (SEGMENT + TAG_SIZE)]
    with pytest.raises(ContentCorrupted):
        decrypt(cut, key)


def test_an_object_cut_inside_a_segment_is_detected() -> None:
    key = new_data_key()
    ciphertext = encrypt(os.urandom(3 * SEGMENT + 10), key)
    with pytest.raises(ContentCorrupted):
        decrypt(ciphertext[:-5], key)


def test_swapped_segments_are_detected() -> None:
    key = new_data_key()
    ciphertext = encrypt(os.urandom(3 * SEGMENT + 10), key)
    sealed = SEGMENT + TAG_SIZE
    header, first, second = (
        ciphertext[:HEADER_SIZE],
        ciphertext[HEADER_SIZE : HEADER_SIZE + sealed],
        ciphertext[HEADER_SIZE + sealed : HEADER_SIZE + 2 * sealed],
    )
    swapped = header + second + first + ciphertext[HEADER_SIZE + 2 * sealed :]
    with pytest.raises(ContentCorrupted):
        decrypt(swapped, key)


def test_a_flipped_bit_is_detected() -> None:
    key = new_data_key()
    ciphertext = bytearray(encrypt(os.urandom(2 * SEGMENT), key))
    ciphertext[HEADER_SIZE + SEGMENT + 30] ^= 0x01
    with pytest.raises(ContentCorrupted):
        decrypt(bytes(ciphertext), key)


def test_a_changed_header_is_detected() -> None:
    key = new_data_key()
    ciphertext = bytearray(encrypt(os.urandom(2 * SEGMENT), key))
    ciphertext[10] ^= 0x01  # inside the nonce prefix
    with pytest.raises(ContentCorrupted):
        decrypt(bytes(ciphertext), key)


def test_another_key_does_not_open_the_file() -> None:
    ciphertext = encrypt(os.urandom(100), new_data_key())
    with pytest.raises(ContentCorrupted):
        decrypt(ciphertext, new_data_key())


def test_a_wrapped_data_key_opens_only_for_its_own_file_and_master_key() -> None:
    master = MasterKey(os.urandom(32))
    data_key = new_data_key()
    file_id = uuid.uuid4()
    wrapped = master.wrap(data_key, file_id)
    assert data_key not in wrapped
    assert master.unwrap(wrapped, file_id) == data_key
    with pytest.raises(ContentCorrupted):
        master.unwrap(wrapped, uuid.uuid4())
    with pytest.raises(ContentCorrupted):
        MasterKey(os.urandom(32)).unwrap(wrapped, file_id)


def test_the_master_key_id_names_the_key_without_revealing_it() -> None:
    raw = os.urandom(32)
    assert MasterKey(raw).key_id == MasterKey(raw).key_id
    assert MasterKey(raw).key_id != MasterKey(os.urandom(32)).key_id
    assert raw.hex()[:16] != MasterKey(raw).key_id
