"""`python -m haven_notifications` serves; `python -m haven_notifications migrate` migrates."""

from __future__ import annotations

import asyncio
import sys

from haven_notifications.app import MIGRATIONS_DIR, serve
from haven_notifications.settings import NotificationsSettings
from haven_runtime.config import HavenSettings, load_settings
from haven_runtime.migrations import upgrade


class MigrationSettings(HavenSettings):
    """Migrating needs the database alone, not the keys and SMTP settings of a server."""

    database_url: str


def main(argv: list[str]) -> int:
    if argv[:1] == ["migrate"]:
        upgrade(MIGRATIONS_DIR, load_settings(MigrationSettings).database_url)
        print("notifications: migrations applied", file=sys.stderr)
        return 0
    if argv:
        print("usage: python -m haven_notifications [migrate]", file=sys.stderr)
        return 2
    asyncio.run(serve(load_settings(NotificationsSettings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
