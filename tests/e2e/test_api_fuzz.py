"""Schemathesis against the gateway's own OpenAPI document, as a logged-in admin.

Every operation gets generated requests (valid and invalid bodies, query
strings, path ids); every answer must not be a 5xx, must have a status code
and content type the document declares, and must match the declared schema.
The caller is a trust admin and admin of a school with pupils, so the
requests reach the services rather than stopping at authentication.

Operations that would end the caller's own session (logout, revoking
sessions, disabling accounts) or its soft key are left out: they would turn
the rest of the run into 401s. HAVEN_FUZZ_EXAMPLES sets the examples per
operation (default 10: about 1,600 requests over the ~40 operations, in about
half a minute; the test checks there were at least 1,000).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from haven_devstack.accounts import register_and_log_in

from .conftest import RunningStack

STRONG = "correct horse battery staple lighthouse"
EXAMPLES = int(os.environ.get("HAVEN_FUZZ_EXAMPLES", "10"))
# Calls that end the caller's own session or change their own account.
LEFT_OUT = (
    r"^/api/v1/(auth/logout|auth/sessions/.+|admin/users/.+/(disable|totp/reset)"
    r"|admin/trusts/.+/roles/.+)$"
)


@pytest.fixture(scope="module")
def caller(running_stack: RunningStack) -> dict[str, str]:
    """A registered, logged-in trust admin with a school and pupils: the Authorization header."""
    email = f"fuzz.{uuid.uuid4().hex[:8]}@fuzz.example"
    created = running_stack.cli(
        "admin",
        "bootstrap",
        "--trust",
        f"Fuzz Trust {email[5:13]}",
        "--school",
        f"Fuzz Primary {email[5:13]}",
        "--admin-email",
        email,
        "--admin-name",
        "Fay Fuzz",
    )
    assert created.returncode == 0, created.stderr
    school_id = json.loads(created.stdout)["school_id"]
    with httpx.Client(base_url=running_stack.base_url, timeout=30) as http:
        headers = register_and_log_in(http, running_stack.stack.maildir, email, STRONG)
        pupils = http.post(
            f"/api/v1/admin/schools/{school_id}/students",
            json={
                "items": [
                    {
                        "upn": "F123456789012",
                        "first_name": "Finley",
                        "last_name": "Quill",
                        "year_group": "4",
                        "date_of_birth": "2017-05-09",
                    }
                ]
            },
            headers=headers,
        )
        assert pupils.status_code == 200, pupils.text
    return headers


CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(
    caller: dict[str, str], running_stack: RunningStack, tmp_path: Path
) -> None:
    # The command-line runner: its pytest plugin does not support pytest 9 yet.
    run = subprocess.run(  # noqa: S603
        [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{running_stack.base_url}/api/v1/openapi.json",
            "--header",
            f"Authorization: {caller['Authorization']}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "20261130",
            "--workers",
            "1",
            "--checks",
            CHECKS,
            "--exclude-path-regex",
            LEFT_OUT,
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
        cwd=tmp_path,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated is not None, run.stdout[-2000:]
    if "HAVEN_FUZZ_EXAMPLES" not in os.environ:
        assert int(generated.group(1)) >= 1000
