"""`python -m haven_gateway`: serve the HTTP API with uvicorn.

uvicorn handles SIGTERM and SIGINT itself: it stops accepting connections,
lets requests in flight finish (up to HAVEN_SHUTDOWN_GRACE_SECONDS), then runs
the app's shutdown, which closes the gRPC channels.
"""

from __future__ import annotations

import uvicorn

from haven_gateway.app import create_app
from haven_gateway.settings import GatewaySettings
from haven_runtime.config import load_settings
from haven_runtime.logging import configure_logging, get_logger
from haven_runtime.metrics import start_metrics_server


def main() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level)
    start_metrics_server(settings.metrics_port)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        # Keep the JSON logging configured above; the app logs each request itself.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        lifespan="on",
    )
    get_logger("haven.gateway").info(
        "gateway starting", host=settings.http_host, port=settings.http_port
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
