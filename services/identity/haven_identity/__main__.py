"""`python -m haven_identity` serves; `python -m haven_identity migrate` applies migrations."""

from __future__ import annotations

import asyncio
import sys

from haven_identity.app import MIGRATIONS_DIR, ConfigurationError, serve
from haven_identity.settings import IdentitySettings
from haven_runtime.config import HavenSettings, load_settings
from haven_runtime.migrations import upgrade


class MigrationSettings(HavenSettings):
    """Migrating needs only the database, not the keys and ports the server needs."""

    database_url: str


def main(argv: list[str]) -> int:
    if argv == ["migrate"]:
        upgrade(MIGRATIONS_DIR, load_settings(MigrationSettings).database_url)
        return 0
    if argv:
        print("usage: python -m haven_identity [migrate]", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(load_settings(IdentitySettings)))
    except ConfigurationError as error:
        print(f"haven: configuration error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
