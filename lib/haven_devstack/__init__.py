"""Real local infrastructure for Haven: PostgreSQL, NATS JetStream, S3, SMTP.

Used by ``make run`` (state under ``var/``, kept between runs) and by the
pytest fixtures (temporary directories, free ports), so tests exercise the same
servers production uses and can stop, kill and restart them.

Names are imported lazily so that ``python -m haven_devstack.smtp_sink`` does
not import its own module twice and a user of one server does not pay for the
others' dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LocalNats": "nats",
    "LocalPostgres": "postgres",
    "LocalS3": "seaweed",
    "MailSink": "smtp_sink",
    "ProcessSpec": "processes",
    "Supervisor": "processes",
    "ensure_database": "postgres",
    "ensure_database_sync": "postgres",
    "free_port": "ports",
    "read_messages": "smtp_sink",
    "run_all": "processes",
    "wait_for_port": "ports",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on demand
    from haven_devstack.nats import LocalNats as LocalNats
    from haven_devstack.ports import free_port as free_port
    from haven_devstack.ports import wait_for_port as wait_for_port
    from haven_devstack.postgres import LocalPostgres as LocalPostgres
    from haven_devstack.postgres import ensure_database as ensure_database
    from haven_devstack.postgres import ensure_database_sync as ensure_database_sync
    from haven_devstack.processes import ProcessSpec as ProcessSpec
    from haven_devstack.processes import Supervisor as Supervisor
    from haven_devstack.processes import run_all as run_all
    from haven_devstack.seaweed import LocalS3 as LocalS3
    from haven_devstack.smtp_sink import MailSink as MailSink
    from haven_devstack.smtp_sink import read_messages as read_messages


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'haven_devstack' has no attribute {name!r}")
    return getattr(importlib.import_module(f"haven_devstack.{module}"), name)
