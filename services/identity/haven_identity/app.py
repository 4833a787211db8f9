"""Wiring: settings in, a runnable identity service out."""

from __future__ import annotations

from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization

from haven.identity.v1 import identity_pb2
from haven.identity.v1.identity_pb2_grpc import add_IdentityServiceServicer_to_server
from haven_identity.adapters.password_hasher import PasswordHasher
from haven_identity.entrypoints.grpc import IdentityServicer
from haven_identity.service_layer.dependencies import Dependencies
from haven_identity.service_layer.housekeeping import forget_spent_counters
from haven_identity.settings import IdentitySettings
from haven_runtime.auth import TokenSigner, load_private_key, load_public_key
from haven_runtime.server import Registrar, Service

NAME = "identity"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


class ConfigurationError(ValueError):
    """A setting is present but unusable; the message names the variable."""


def token_signer(settings: IdentitySettings) -> TokenSigner:
    """The signer, after checking that its key pairs with the public key everyone verifies with.

    A mismatch would make every token identity signs fail everywhere else;
    better to refuse to start with a message that names the two variables.
    """
    try:
        private_key = load_private_key(settings.token_signing_key)
    except ValueError as error:
        raise ConfigurationError(f"HAVEN_TOKEN_SIGNING_KEY: {error}") from None
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    public_key = load_public_key(settings.token_public_key)
    if private_key.public_key().public_bytes(*raw) != public_key.public_bytes(*raw):
        raise ConfigurationError("HAVEN_TOKEN_SIGNING_KEY does not match HAVEN_TOKEN_PUBLIC_KEY")
    return TokenSigner(private_key)


def build_service(settings: IdentitySettings) -> tuple[Service, Registrar]:
    service = Service(NAME, settings, migrations_dir=MIGRATIONS_DIR)
    deps = Dependencies.wire(
        db=service.db,
        settings=settings,
        signer=token_signer(settings),
        hasher=PasswordHasher(),
    )
    servicer = IdentityServicer(deps)
    service.background.append(lambda stopping: forget_spent_counters(deps, stopping))

    def register(server: grpc.aio.Server) -> list[str]:
        add_IdentityServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return service, register


async def serve(settings: IdentitySettings) -> None:
    service, register = build_service(settings)
    await service.run(register)
