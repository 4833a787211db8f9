# syntax=docker/dockerfile:1
# Haven's images: one target per process, all built from this file.
#
#   docker build --target identity      -t haven-identity .
#   docker build --target incidents     -t haven-incidents .
#   docker build --target notifications -t haven-notifications .
#   docker build --target files         -t haven-files .
#   docker build --target gateway       -t haven-gateway .
#
# Each starts the way `make run` starts it (`python -m haven_<name>`); the
# migration Jobs run `haven migrate <name>` in the same image. Kubernetes
# probes the processes (gRPC health, the gateway's /healthz and /readyz), so
# there is no HEALTHCHECK here.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder --
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/haven

# Dependencies in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/haven/bin/pip install --no-cache-dir -r requirements.txt

# The gRPC code is generated here from protos/, never committed (lib/haven/).
# grpcio-tools stays in this stage.
RUN pip install --no-cache-dir 'grpcio-tools==1.85.1'
COPY tools/gen_protos.py tools/
COPY protos protos
RUN python tools/gen_protos.py

COPY lib lib
COPY services services
COPY gateway gateway
RUN /opt/haven/bin/pip install --no-cache-dir --no-deps . \
 && /opt/haven/bin/python -c "import haven.events.v1.envelope_pb2, haven_gateway.app, haven_identity.app, haven_incidents.app, haven_notifications.app, haven_files.app"

# ---------------------------------------------------------------- runtime --
# The interpreter, the virtual environment and an unprivileged user: no
# compiler, no pip cache, no sources, no secrets (those come from Kubernetes).
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/haven/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HAVEN_ENV=production \
    HAVEN_GRPC_HOST=0.0.0.0 \
    HAVEN_HTTP_HOST=0.0.0.0 \
    HAVEN_METRICS_PORT=9090
RUN groupadd --system --gid 10001 haven \
 && useradd --system --uid 10001 --gid haven --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin haven
COPY --from=builder /opt/haven /opt/haven
WORKDIR /tmp
# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001

# --------------------------------------------------------------- processes --
FROM runtime AS identity
EXPOSE 50051 9090
CMD ["python", "-m", "haven_identity"]

FROM runtime AS incidents
EXPOSE 50052 9090
CMD ["python", "-m", "haven_incidents"]

FROM runtime AS notifications
EXPOSE 50053 9090
CMD ["python", "-m", "haven_notifications"]

FROM runtime AS files
EXPOSE 50054 9090
CMD ["python", "-m", "haven_files"]

FROM runtime AS gateway
EXPOSE 8080 9090
CMD ["python", "-m", "haven_gateway"]
