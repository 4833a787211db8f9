"""An SMTP relay as a school's would be: TLS (STARTTLS or implicit) and a login it checks.

A real aiosmtpd server with a certificate generated for the test (signed by
itself, for 127.0.0.1 and localhost), that refuses AUTH before TLS and any
login but the one it was given, and keeps what it receives in memory.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

RELAY_USER = "haven@school.example"
RELAY_PASSWORD = "relay password for the test"  # noqa: S105 - a test's own server


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def self_signed_certificate(folder: Path, name: str = "relay") -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    # What the session had been through before DATA.
    tls: bool
    login: str | None


@dataclass
class _Handler:
    deliveries: list[Delivery] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        self.deliveries.append(
            Delivery(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                message=parsed,
                tls=server.transport.get_extra_info("ssl_object") is not None,
                login=session.auth_data.login.decode() if session.authenticated else None,
            )
        )
        return "250 OK"


def _check_login(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == RELAY_USER.encode()
        and data.password == RELAY_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


class TlsRelay:
    """mode "starttls": plain connection that must be upgraded; "tls": TLS from the first byte."""

    def __init__(
        self,
        certificate: Certificate,
        port: int,
        mode: Literal["starttls", "tls", "plain"],
    ):
        self.certificate = certificate
        self.port = port
        self.mode = mode
        self.handler = _Handler()
        self._controller: Controller | None = None

    @property
    def deliveries(self) -> list[Delivery]:
        return self.handler.deliveries

    def start(self) -> None:
        options: dict[str, Any] = {
            "authenticator": _check_login,
            "auth_required": True,
            # aiosmtpd only counts STARTTLS as TLS; implicit TLS is TLS from the start.
            "auth_require_tls": self.mode == "starttls",
        }
        context = self.certificate.server_context()
        if self.mode == "starttls":
            options.update(tls_context=context, require_starttls=True)
        elif self.mode == "tls":
            options["ssl_context"] = context
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="relay.school.example",
            **options,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
