"""The files service's own settings: the clean-up's times and where incidents answers."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import ValidationError

from haven_files.settings import FilesSettings

COMMON = {
    "database_url": "postgresql://postgres@127.0.0.1:5432/x",
    "token_public_key": "unused here",
    "s3_endpoint": "127.0.0.1:9000",
    "s3_access_key": "key",
    "s3_secret_key": "secret",
    "file_master_key": base64.b64encode(os.urandom(32)).decode(),
}


def test_staged_files_live_a_day_by_default_and_the_job_runs_every_five_minutes() -> None:
    settings = FilesSettings(**COMMON)
    assert settings.staged_file_ttl_hours == 24
    assert settings.cleanup_interval_seconds == 300
    assert settings.upload_abandoned_after_minutes == 60
    assert settings.incidents_addr == "127.0.0.1:50052"


@pytest.mark.parametrize(
    "bad",
    [
        {"staged_file_ttl_hours": 0},
        {"staged_file_ttl_hours": -1},
        {"cleanup_interval_seconds": 0},
        {"upload_abandoned_after_minutes": 0},
        {"incidents_timeout_seconds": 0},
    ],
)
def test_a_clean_up_time_that_is_not_positive_stops_the_service(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FilesSettings(**COMMON, **bad)
