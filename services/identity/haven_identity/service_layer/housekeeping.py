"""Clearing away rate-limit windows and throttles nobody needs any more."""

from __future__ import annotations

import asyncio

from haven_identity.adapters.login_throttle import forget_old_unknown_emails
from haven_identity.adapters.rate_limits import forget_finished_windows
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_runtime.logging import get_logger
from haven_runtime.wakeup import wait_any

log = get_logger(__name__)

INTERVAL_SECONDS = 15 * 60


async def forget_spent_counters(deps: Dependencies, stopping: asyncio.Event) -> None:
    """Every quarter of an hour (on every replica; the deletes are idempotent)."""
    while not stopping.is_set():
        await wait_any(stopping, timeout=INTERVAL_SECONDS)
        if stopping.is_set():
            return
        try:
            async with deps.db.unit_of_work(PRODUCER) as uow:
                windows = await forget_finished_windows(uow.session)
                emails = await forget_old_unknown_emails(uow.session)
                await uow.commit()
            log.info("counters cleared", rate_limit_windows=windows, unknown_emails=emails)
        except Exception as error:  # noqa: BLE001 - try again next time
            log.warning("clearing counters failed", error=str(error) or type(error).__name__)
