"""Each endpoint answers with its own documented status and code, whatever words a service used."""

from __future__ import annotations

import pytest

from haven_gateway.problems import Problem, held_to_contract

LOGIN_REFUSED = ("invalid_credentials", "The email address or password is not right.")


def held(problem: Problem, **contract) -> Problem:  # type: ignore[no-untyped-def]
    with pytest.raises(Problem) as caught, held_to_contract(**contract):
        raise problem
    return caught.value


def test_a_reason_gets_the_status_this_endpoint_promises():
    assert held(Problem(401, "invalid_code"), statuses={"invalid_code": 422}).status == 422
    assert held(Problem(422, "invalid_code"), statuses={"invalid_code": 401}).status == 401


def test_a_throttle_is_named_as_this_endpoint_names_it_and_keeps_retry_after():
    problem = held(
        Problem(429, "too_many_requests", headers={"Retry-After": "30"}),
        throttled="too_many_attempts",
    )
    assert (problem.status, problem.code, problem.headers["Retry-After"]) == (
        429,
        "too_many_attempts",
        "30",
    )


@pytest.mark.parametrize(
    "refusal",
    [
        Problem(401, "invalid_credentials", "the email or password is incorrect"),
        Problem(403, "account_locked", "this account is locked"),
        Problem(401, "account_disabled", "disabled", headers={"WWW-Authenticate": "Bearer"}),
    ],
)
def test_every_refusal_at_login_is_one_and_the_same_answer(refusal):
    problem = held(refusal, refused=LOGIN_REFUSED)
    assert problem.body() == held(Problem(401, "invalid_credentials"), refused=LOGIN_REFUSED).body()
    assert problem.headers == {}


def test_other_failures_pass_through_untouched():
    problem = held(Problem(503, "service_unavailable"), statuses={"invalid_code": 401})
    assert (problem.status, problem.code) == (503, "service_unavailable")
