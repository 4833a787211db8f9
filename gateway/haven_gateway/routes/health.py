"""Probes: /healthz says the process is alive, /readyz that every service answers."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from haven_gateway.auth import get_peers
from haven_gateway.peers import Peers
from haven_gateway.problems import Problem
from haven_gateway.schemas import HealthOut, ReadyOut, problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyOut, responses=problem_responses(503))
async def readyz(peers: Peers = Depends(get_peers)) -> dict[str, object]:
    services = await peers.readiness()
    if any(state != "serving" for state in services.values()):
        failing = sorted(name for name, state in services.items() if state != "serving")
        raise Problem(
            503,
            "not_ready",
            "Not ready: " + ", ".join(failing) + " not serving.",
            extra={"services": services},
            headers={"Retry-After": "1"},
        )
    return {"status": "ready", "services": services}
