"""Every failure the gateway answers with is RFC 9457 problem+json with a stable code."""

from __future__ import annotations

import json

import grpc
import pytest

from haven_gateway.problems import FieldError, Problem, problem_from_remote
from haven_runtime.errors import FieldViolation, RemoteError


def remote(
    code: grpc.StatusCode,
    reason: str = "",
    message: str = "it failed",
    violations: list[FieldViolation] | None = None,
    metadata: dict[str, str] | None = None,
) -> RemoteError:
    return RemoteError(code, reason, message, violations or [], metadata or {})


def rendered(problem: Problem) -> tuple[int, dict, dict]:
    response = problem.response()
    return response.status_code, json.loads(response.body), dict(response.headers)


def test_a_problem_has_type_title_status_detail_and_code_as_problem_json():
    status, body, headers = rendered(Problem(404, "not_found", "No such incident."))
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert body == {
        "type": "urn:haven:problem:not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "No such incident.",
        "code": "not_found",
    }


def test_a_422_always_lists_its_field_errors():
    problem = Problem(422, "validation_failed", errors=[FieldError("body_map[0].x", "too big")])
    _, body, _ = rendered(problem)
    assert body["errors"] == [{"field": "body_map[0].x", "message": "too big"}]
    _, bare, _ = rendered(Problem(422, "invalid_code"))
    assert bare["errors"] == []


@pytest.mark.parametrize(
    ("code", "reason", "status", "api_code"),
    [
        (grpc.StatusCode.NOT_FOUND, "not_found", 404, "not_found"),
        (grpc.StatusCode.NOT_FOUND, "", 404, "not_found"),
        (grpc.StatusCode.PERMISSION_DENIED, "forbidden", 403, "forbidden"),
        (grpc.StatusCode.PERMISSION_DENIED, "elevation_required", 403, "elevation_required"),
        (grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials", 401, "invalid_credentials"),
        (grpc.StatusCode.UNAUTHENTICATED, "", 401, "unauthenticated"),
        (grpc.StatusCode.FAILED_PRECONDITION, "invalid_token", 410, "invalid_token"),
        (grpc.StatusCode.FAILED_PRECONDITION, "totp_not_enrolled", 409, "totp_not_enrolled"),
        (grpc.StatusCode.ALREADY_EXISTS, "conflict", 409, "conflict"),
        (grpc.StatusCode.INVALID_ARGUMENT, "file_too_large", 413, "file_too_large"),
        (grpc.StatusCode.FAILED_PRECONDITION, "file_too_large", 413, "file_too_large"),
        (grpc.StatusCode.INVALID_ARGUMENT, "file_type_not_allowed", 415, "file_type_not_allowed"),
        (grpc.StatusCode.INVALID_ARGUMENT, "invalid_code", 422, "invalid_code"),
        (grpc.StatusCode.UNAVAILABLE, "", 503, "service_unavailable"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "", 503, "service_unavailable"),
        (grpc.StatusCode.INTERNAL, "internal", 500, "internal_error"),
        (grpc.StatusCode.INTERNAL, "file_type_not_allowed", 415, "file_type_not_allowed"),
        (grpc.StatusCode.UNKNOWN, "", 500, "internal_error"),
        (grpc.StatusCode.UNIMPLEMENTED, "", 501, "not_implemented"),
    ],
)
def test_a_failed_call_maps_to_the_apis_status_and_code(code, reason, status, api_code):
    problem = problem_from_remote(remote(code, reason))
    assert (problem.status, problem.code) == (status, api_code)


def test_a_validation_failure_becomes_422_validation_failed_with_each_field():
    problem = problem_from_remote(
        remote(
            grpc.StatusCode.INVALID_ARGUMENT,
            "validation_failed",
            violations=[
                FieldViolation("student_id", "no such pupil in this school"),
                FieldViolation("category_ids[1]", "no such category"),
            ],
        )
    )
    status, body, _ = rendered(problem)
    assert status == 422
    assert body["code"] == "validation_failed"
    assert body["errors"] == [
        {"field": "student_id", "message": "no such pupil in this school"},
        {"field": "category_ids[1]", "message": "no such category"},
    ]


def test_too_many_requests_says_when_to_come_back():
    problem = problem_from_remote(
        remote(
            grpc.StatusCode.RESOURCE_EXHAUSTED, "too_many_attempts", metadata={"retry_after": "42"}
        )
    )
    status, body, headers = rendered(problem)
    assert (status, body["code"], headers["retry-after"]) == (429, "too_many_attempts", "42")


def test_too_many_requests_without_a_hint_still_sends_retry_after():
    problem = problem_from_remote(remote(grpc.StatusCode.RESOURCE_EXHAUSTED, "too_many_requests"))
    assert int(problem.headers["Retry-After"]) > 0


def test_internal_and_transport_failures_do_not_leak_the_services_message():
    for code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN):
        problem = problem_from_remote(remote(code, message="connection to 10.0.0.5 refused"))
        assert "10.0.0.5" not in problem.detail


def test_extension_members_travel_with_the_problem():
    problem = Problem(422, "weak_password", extra={"strength": {"score": 1}})
    _, body, _ = rendered(problem)
    assert body["strength"] == {"score": 1}
