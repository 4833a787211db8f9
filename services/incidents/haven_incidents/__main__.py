"""`python -m haven_incidents` serves; `python -m haven_incidents migrate` migrates and exits."""

from __future__ import annotations

import asyncio
import sys

from haven_incidents.app import MIGRATIONS_DIR, serve
from haven_incidents.settings import IncidentsSettings
from haven_runtime.config import load_settings
from haven_runtime.migrations import upgrade


def main(argv: list[str]) -> int:
    settings = load_settings(IncidentsSettings)
    if argv[:1] == ["migrate"]:
        upgrade(MIGRATIONS_DIR, settings.database_url)
        return 0
    if argv:
        print("usage: python -m haven_incidents [migrate]", file=sys.stderr)
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
