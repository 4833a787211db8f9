"""`python -m haven_files` serves; `python -m haven_files migrate` applies migrations."""

from __future__ import annotations

import asyncio
import sys

from haven_files.app import MIGRATIONS, serve
from haven_files.settings import FilesSettings
from haven_runtime.config import HavenSettings, load_settings
from haven_runtime.migrations import upgrade

USAGE = "usage: python -m haven_files [migrate]"


class MigrateSettings(HavenSettings):
    """Migrating needs only the database, not S3 or keys."""

    database_url: str


def main(argv: list[str]) -> int:
    if argv == ["migrate"]:
        upgrade(MIGRATIONS, load_settings(MigrateSettings).database_url)
        print("files: migrations applied")
        return 0
    if argv:
        print(USAGE, file=sys.stderr)
        return 2
    asyncio.run(serve(load_settings(FilesSettings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
