# syntax=docker/dockerfile:1
# Echo AI production image: one image for every process (api, worker, beat, migrate).
#
#   docker build -t echo-ai:$(git rev-parse --short HEAD) .
#   docker run --rm echo-ai:TAG --help
#
# Stage 1 installs the locked runtime dependencies (uv.lock, no dev group) and then the
# project into /opt/venv; stage 2 is a slim Python with that venv only: no compiler, no
# uv, no source tree, run as an unprivileged user with a fixed uid (10001) so that mounted
# secret files can be given to exactly that uid (see docs/operations.md).

ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /build
# Dependencies first: this layer is rebuilt only when the lock file changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
# --no-editable: the venv holds a real copy of the package, not a link to /build.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
 && /opt/venv/bin/echo-ai --help >/dev/null

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG APP_UID=10001
ARG VERSION=dev
LABEL org.opencontainers.image.title="echo-ai" \
      org.opencontainers.image.description="AI-search visibility analytics" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid "${APP_UID}" echo-ai \
 && useradd --system --uid "${APP_UID}" --gid echo-ai --home-dir /home/echo-ai \
        --create-home --shell /usr/sbin/nologin echo-ai \
 && install -d -o echo-ai -g echo-ai -m 0700 /var/lib/echo-ai
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ECHO_AI_ENVIRONMENT=production
WORKDIR /home/echo-ai
USER ${APP_UID}:${APP_UID}
EXPOSE 8000
# Liveness of the API (the default command). Compose overrides it for the worker and beat,
# which serve no HTTP. Python, because the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ECHO_AI_HEALTH_PORT', '8000') + '/health', timeout=4)"]
ENTRYPOINT ["echo-ai"]
CMD ["api", "--host", "0.0.0.0"]
