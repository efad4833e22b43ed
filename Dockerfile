# consent-svc container image.
#
#   docker build -t consent-svc .
#   docker run -p 8000:8000 -e CONSENT_DATABASE_URL=... -e CONSENT_PEPPER=... -e CONSENT_TOKEN_KEYS=... consent-svc
#
# Two stages: the first builds a virtualenv from the hash-checked lock
# requirements/runtime.lock (docs/adr/0007-lock-file.md; compilers are there in
# case a dependency has no wheel for the platform), then the project itself
# with --no-deps, then removes pip and setuptools from it; the second copies
# only that virtualenv onto a slim Python image, removes the image's own pip,
# setuptools and wheel (nothing installs packages at run time), and runs as an
# unprivileged user. Nothing in the final image is writable by that user except /data
# (the embedded database, when no CONSENT_DATABASE_URL is given) and /tmp, so
# it runs with a read-only root filesystem (the helm chart does).
#
# No container engine runs where this was written: it is linted with hadolint
# by the test suite (tests/deploy/test_dockerfile.py), not built there.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/consent-svc
WORKDIR /src
# The dependencies first (a layer of their own until the lock changes): exactly
# the locked versions, each file checked against its hash. The lock also holds
# the build backend (setuptools), so the project builds without fetching an
# unpinned one.
COPY requirements/runtime.lock ./requirements/
RUN /opt/consent-svc/bin/pip install --no-compile --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY consent_svc ./consent_svc
COPY sql ./sql
# The wheel carries the migrations from sql/ as consent_svc/_sql (pyproject.toml).
# No run-time use for pip and setuptools: they do not go into the image.
RUN /opt/consent-svc/bin/pip install --no-compile --no-deps --no-build-isolation . \
    && /opt/consent-svc/bin/pip uninstall --yes setuptools pip \
    && /opt/consent-svc/bin/python -m compileall -q /opt/consent-svc/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="consent-svc" \
      org.opencontainers.image.description="Consent and marketing-preference service" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/consent-svc/consent-svc"
RUN python -m pip uninstall --yes --disable-pip-version-check pip setuptools wheel \
    && groupadd --system --gid 10001 consent \
    && useradd --system --uid 10001 --gid consent --home-dir /data --shell /usr/sbin/nologin consent \
    && mkdir -p /data \
    && chown consent:consent /data
COPY --from=build /opt/consent-svc /opt/consent-svc
ENV PATH=/opt/consent-svc/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONSENT_HOST=0.0.0.0 \
    CONSENT_PORT=8000 \
    CONSENT_DATA_DIR=/data \
    CONSENT_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CONSENT_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["consent-svc"]
CMD ["serve"]
