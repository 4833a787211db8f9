"""Filenames, size limits and who may see or attach a file."""

from __future__ import annotations

import hashlib
import os

import pytest

from haven_files.domain.access import (
    ATTACHED,
    STAGED,
    Attachment,
    FileAccess,
    decide_attachment,
    file_access,
)
from haven_files.domain.encryption import SegmentDecryptor, new_data_key
from haven_files.domain.errors import FileTooLarge
from haven_files.domain.filenames import extension_of, sanitize_filename
from haven_files.domain.intake import FileIntake
from haven_files.domain.kinds import PDF
from haven_runtime.auth import Principal

from . import file_samples as samples


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\head\\Desktop\\report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("harmless\u202efdp.exe", "harmlessfdp.exe"),
        ("tab\tand\nnewline.txt", "tab and newline.txt"),
        ('what?<is>"this".txt', "what__is__this_.txt"),
        ("  spaced   out  .pdf ", "spaced out .pdf"),
        ("evil.exe. . ", "evil.exe"),
        ("...", "file"),
        ("", "file"),
    ],
)
def test_a_filename_is_made_harmless_for_display(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_a_long_filename_is_shortened_but_keeps_its_extension() -> None:
    name = sanitize_filename("x" * 500 + ".docx")
    assert len(name) <= 200
    assert name.endswith(".docx")


@pytest.mark.parametrize(
    ("name", "extension"),
    [("a.PDF", ".pdf"), ("archive.tar.gz", ".gz"), ("README", ""), ("trailing.", "")],
)
def test_the_extension_is_the_last_suffix_in_lower_case(name: str, extension: str) -> None:
    assert extension_of(name) == extension


def principal(user_id: str, schools: dict[str, str]) -> Principal:
    return Principal(user_id=user_id, session_id="s", name="n", email="e", schools=schools)


def test_a_staged_file_is_visible_only_to_its_uploader() -> None:
    file = {"school_id": "school", "uploaded_by": "alice", "status": STAGED}
    assert file_access(principal("alice", {"school": "staff"}), **file) is FileAccess.ALLOWED
    assert file_access(principal("bob", {"school": "dsl"}), **file) is FileAccess.DENIED
    assert file_access(principal("carol", {"other": "dsl"}), **file) is FileAccess.DENIED


def test_an_attached_file_is_for_whoever_incidents_says_may_see_the_incident() -> None:
    file = {"school_id": "school", "uploaded_by": "alice", "status": ATTACHED}
    for member in ("alice", "dina", "bob", "adam"):
        for role in ("staff", "dsl", "admin"):
            asked = file_access(principal(member, {"school": role}), **file)
            assert asked is FileAccess.ASK_INCIDENTS
    # Someone outside the school is refused without asking.
    assert file_access(principal("dave", {"other": "dsl"}), **file) is FileAccess.DENIED


def test_an_uploader_who_left_the_school_no_longer_sees_the_file() -> None:
    for status in (STAGED, ATTACHED):
        file = {"school_id": "school", "uploaded_by": "alice", "status": status}
        assert file_access(principal("alice", {"other": "staff"}), **file) is FileAccess.DENIED


def attach(**changes: str | None) -> Attachment:
    facts: dict[str, str | None] = {
        "status": STAGED,
        "school_id": "school",
        "uploaded_by": "alice",
        "attached_to": None,
        "incident_id": "incident",
        "incident_school_id": "school",
        "recorded_by": "alice",
    }
    facts.update(changes)
    return decide_attachment(**facts)  # type: ignore[arg-type]


def test_an_incident_takes_its_authors_staged_file_once() -> None:
    assert attach() is Attachment.ATTACH
    assert attach(status=ATTACHED, attached_to="incident") is Attachment.ALREADY_ATTACHED


def test_an_incident_cannot_take_another_incidents_or_persons_or_schools_file() -> None:
    assert attach(status=ATTACHED, attached_to="earlier") is Attachment.REFUSED
    assert attach(recorded_by="mallory") is Attachment.REFUSED
    assert attach(incident_school_id="other") is Attachment.REFUSED


def test_an_upload_is_refused_as_soon_as_it_passes_the_limit() -> None:
    intake = FileIntake("report.pdf", max_bytes=1000, data_key=new_data_key())
    intake.take(samples.pdf(body_bytes=2000)[:1000])
    with pytest.raises(FileTooLarge):
        intake.take(b"x")


def test_an_upload_of_exactly_the_limit_is_accepted_up_to_that_point() -> None:
    intake = FileIntake("report.pdf", max_bytes=1000, data_key=new_data_key())
    intake.take(samples.pdf(body_bytes=2000)[:1000])
    assert intake.size == 1000


def test_a_single_chunk_over_the_limit_is_refused() -> None:
    intake = FileIntake("report.pdf", max_bytes=1000, data_key=new_data_key())
    with pytest.raises(FileTooLarge):
        intake.take(os.urandom(1001))


def test_an_accepted_upload_reports_its_size_digest_and_kind() -> None:
    key = new_data_key()
    content = samples.pdf(body_bytes=200_000)
    intake = FileIntake("../secret/Report.PDF", max_bytes=10**6, data_key=key)
    stored = b"".join(intake.take(content[i : i + 10_000]) for i in range(0, len(content), 10_000))
    last, accepted = intake.finish()
    assert accepted.filename == "Report.PDF"
    assert accepted.size == len(content)
    assert accepted.kind is PDF
    assert accepted.sha256 == hashlib.sha256(content).hexdigest()
    decryptor = SegmentDecryptor(key)
    assert decryptor.update(stored + last) + decryptor.finish() == content
