"""The whole Haven stack on one machine: real servers from wheels and the five processes.

`make run` uses it with var/ and fixed ports (data kept between runs); the
end-to-end tests use it with a temporary folder and free ports.

Any service can run as several replicas (HAVEN_DEV_REPLICAS="identity=2,files=3",
or `haven dev run --replicas ...`), each its own process on its own port. Every
caller is given the list of a service's addresses ("127.0.0.1:50051,127.0.0.1:50151")
and spreads its calls over them (haven_runtime.clients), as it would over a DNS
name with several records on Kubernetes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from haven_devstack.nats import LocalNats
from haven_devstack.ports import free_port, port_is_free, reserve
from haven_devstack.postgres import LocalPostgres, ensure_database_sync
from haven_devstack.seaweed import LocalS3
from haven_devstack.secrets import DevSecrets, load_or_create

SERVICES = ("identity", "incidents", "notifications", "files")
STATE_FILE = "stack.json"
REPLICAS_ENV = "HAVEN_DEV_REPLICAS"
MAX_REPLICAS = 9
# Under `make run` (fixed ports) replica k of a service listens on its port + 100 * (k - 1).
REPLICA_PORT_STEP = 100


def parse_replicas(text: str) -> dict[str, int]:
    """ "identity=2,files=3" -> {"identity": 2, "files": 3}; services not named run once.

    "all=2" (or "*=2") gives every service two replicas; a later entry for a
    service overrides it. Anything else is refused with a message saying why.
    """
    counts: dict[str, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, sep, value = (piece.strip() for piece in entry.partition("="))
        if not sep:
            raise ValueError(f"replicas: {entry!r} is not service=count")
        if name not in (*SERVICES, "all", "*"):
            raise ValueError(
                f"replicas: unknown service {name!r} (one of {', '.join(SERVICES)}, or all)"
            )
        try:
            count = int(value)
        except ValueError:
            raise ValueError(f"replicas: the count for {name} must be a number") from None
        if not 1 <= count <= MAX_REPLICAS:
            raise ValueError(f"replicas: the count for {name} must be 1 to {MAX_REPLICAS}")
        if name in ("all", "*"):
            counts |= dict.fromkeys(SERVICES, count)
        else:
            counts[name] = count
    return counts


def replicas_from_env() -> dict[str, int]:
    return parse_replicas(os.environ.get(REPLICAS_ENV, ""))


@dataclass(frozen=True)
class StackPorts:
    """Every port the stack listens on; 5432 and 4222 are left to other servers."""

    http: int = 8080
    identity: int = 50051
    incidents: int = 50052
    notifications: int = 50053
    files: int = 50054
    postgres: int = 55432
    nats: int = 54222
    s3: int = 58333
    smtp: int = 2525

    @classmethod
    def from_env(cls) -> StackPorts:
        """Defaults, each overridable: HAVEN_HTTP_PORT, HAVEN_DEV_POSTGRES_PORT, ..."""
        values = {}
        for f in fields(cls):
            name = "HAVEN_HTTP_PORT" if f.name == "http" else f"HAVEN_DEV_{f.name.upper()}_PORT"
            if name in os.environ:
                values[f.name] = int(os.environ[name])
        return cls(**values)

    @classmethod
    def free(cls) -> StackPorts:
        return cls(**{f.name: free_port() for f in fields(cls)})


class Stack:
    def __init__(
        self,
        state_dir: Path,
        ports: StackPorts,
        postgres_url: str | None = None,
        database_prefix: str = "haven",
        replicas: Mapping[str, int] | None = None,
        free_replica_ports: bool = False,
    ):
        self.state_dir = state_dir.resolve()
        # Tests sharing one external server give each stack its own databases.
        self.database_prefix = database_prefix
        self.ports = ports
        # The port of each replica of each service; the first is the service's own.
        self.service_ports: dict[str, list[int]] = {}
        for service in SERVICES:
            count = (replicas or {}).get(service, 1)
            if not 1 <= count <= MAX_REPLICAS:
                raise ValueError(f"replicas: the count for {service} must be 1 to {MAX_REPLICAS}")
            base = getattr(ports, service)
            self.service_ports[service] = [base] + [
                free_port() if free_replica_ports else base + REPLICA_PORT_STEP * k
                for k in range(1, count)
            ]
        # Keep the servers started below (SeaweedFS picks eight ports) off our own.
        reserve([*asdict(ports).values(), *(p for v in self.service_ports.values() for p in v)])
        self.external_postgres = postgres_url.rstrip("/") if postgres_url else None
        self.postgres: LocalPostgres | None = None
        self.nats = LocalNats(self.state_dir / "nats", ports.nats)
        self.s3 = LocalS3(self.state_dir / "s3", ports.s3)
        self.secrets: DevSecrets | None = None

    @property
    def maildir(self) -> Path:
        return self.state_dir / "mail"

    @property
    def public_url(self) -> str:
        return os.environ.get("HAVEN_PUBLIC_URL", f"http://127.0.0.1:{self.ports.http}")

    @property
    def postgres_url(self) -> str:
        if self.external_postgres:
            return self.external_postgres
        assert self.postgres is not None
        return self.postgres.url

    def replica_names(self, service: str) -> list[str]:
        """A lone service is "files"; several are "files-1", "files-2", ..."""
        count = len(self.service_ports[service])
        return [service] if count == 1 else [f"{service}-{k}" for k in range(1, count + 1)]

    def address(self, service: str) -> str:
        """What callers are given: every replica's host:port, comma-separated."""
        return ",".join(f"127.0.0.1:{port}" for port in self.service_ports[service])

    def database_url(self, service: str) -> str:
        return f"{self.postgres_url}/{self.database_prefix}_{service}"

    def own_ports(self) -> dict[str, int]:
        """The port each of Haven's own processes (not the servers) will listen on."""
        ports = {"gateway": self.ports.http}
        for service in SERVICES:
            ports.update(zip(self.replica_names(service), self.service_ports[service], strict=True))
        return ports

    def start_infrastructure(self) -> None:
        busy = {name: port for name, port in self.own_ports().items() if not port_is_free(port)}
        if busy:
            taken = ", ".join(f"{port} ({name})" for name, port in busy.items())
            raise RuntimeError(
                f"port(s) {taken} already in use: stop what listens there or choose other "
                "ports (HAVEN_HTTP_PORT, HAVEN_DEV_<SERVICE>_PORT; replica k listens on "
                f"the service's port + {REPLICA_PORT_STEP} * (k - 1))"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.maildir.mkdir(exist_ok=True)
        self.secrets = load_or_create(self.state_dir / "secrets.json")
        if not self.external_postgres:
            self.postgres = LocalPostgres(self.state_dir / "postgres", self.ports.postgres)
            self.postgres.start()
        for service in SERVICES:
            ensure_database_sync(self.postgres_url, f"{self.database_prefix}_{service}")
        self.nats.start()
        self.s3.start()
        self._write_state()

    def stop_infrastructure(self) -> None:
        for server in (self.s3, self.nats, self.postgres):
            if server is not None:
                server.stop()

    def _write_state(self) -> None:
        """What `haven admin …` needs to reach the running stack from another terminal."""
        state = {
            "public_url": self.public_url,
            "ports": asdict(self.ports),
            "replicas": {s: self.service_ports[s] for s in SERVICES},
            "databases": {s: self.database_url(s) for s in SERVICES},
            "nats_url": self.nats.url,
        }
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def common_env(self) -> dict[str, str]:
        assert self.secrets is not None
        return {
            "HAVEN_ENV": os.environ.get("HAVEN_ENV", "development"),
            "HAVEN_LOG_LEVEL": os.environ.get("HAVEN_LOG_LEVEL", "INFO"),
            "HAVEN_NATS_URL": self.nats.url,
            "HAVEN_TOKEN_PUBLIC_KEY": self.secrets.token_public_key,
            "HAVEN_PUBLIC_URL": self.public_url,
            "HAVEN_MIGRATE_ON_START": "true",
            "HAVEN_GRPC_HOST": "127.0.0.1",
            **{f"HAVEN_{s.upper()}_ADDR": self.address(s) for s in SERVICES},
        }

    def service_env(self, service: str, replica: int = 0) -> dict[str, str]:
        """The environment of one replica (0 is the first) of `service`."""
        assert self.secrets is not None
        env = {
            **self.common_env(),
            "HAVEN_DATABASE_URL": self.database_url(service),
            "HAVEN_GRPC_PORT": str(self.service_ports[service][replica]),
        }
        if service == "identity":
            env["HAVEN_TOKEN_SIGNING_KEY"] = self.secrets.token_signing_key
            env["HAVEN_SECRET_KEY"] = self.secrets.secret_key
            env["HAVEN_TOTP_ENCRYPTION_KEY"] = self.secrets.totp_encryption_key
        elif service == "notifications":
            env |= {
                "HAVEN_SMTP_HOST": "127.0.0.1",
                "HAVEN_SMTP_PORT": str(self.ports.smtp),
                "HAVEN_SMTP_SECURITY": "none",
            }
        elif service == "files":
            env |= {
                "HAVEN_S3_ENDPOINT": self.s3.endpoint,
                "HAVEN_S3_ACCESS_KEY": self.s3.access_key,
                "HAVEN_S3_SECRET_KEY": self.s3.secret_key,
                "HAVEN_S3_SECURE": "false",
                "HAVEN_FILE_MASTER_KEY": self.secrets.file_master_key,
            }
        return env

    def gateway_env(self) -> dict[str, str]:
        return {
            **self.common_env(),
            "HAVEN_HTTP_HOST": os.environ.get("HAVEN_HTTP_HOST", "127.0.0.1"),
            "HAVEN_HTTP_PORT": str(self.ports.http),
        }

    def processes(self) -> list[tuple[str, list[str], dict[str, str]]]:
        """(name, argv, extra environment) of every process `make run` supervises."""
        python = sys.executable
        specs: list[tuple[str, list[str], dict[str, str]]] = [
            (
                "mail",
                [
                    python,
                    "-m",
                    "haven_devstack.smtp_sink",
                    "--maildir",
                    str(self.maildir),
                    "--port",
                    str(self.ports.smtp),
                ],
                {},
            )
        ]
        specs += [
            (name, [python, "-m", f"haven_{s}"], self.service_env(s, replica))
            for s in SERVICES
            for replica, name in enumerate(self.replica_names(s))
        ]
        specs.append(("gateway", [python, "-m", "haven_gateway"], self.gateway_env()))
        return specs


def read_state(state_dir: Path) -> dict:  # type: ignore[type-arg]
    path = state_dir / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(path)
    return json.loads(path.read_text())
