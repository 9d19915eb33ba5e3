# The Cloud Run image: the framerun service under gunicorn, with Debian's
# chrome-headless-shell installed by the same script CI uses.

# HyperFrames' bundled font faces (service/framerun_service/render/fontset.json), from npm @fontsource at
# the versions package-lock.json pins: copied out here, by the script `make setup` runs,
# so the image draws text with the same bytes as a local render (and carries no node).
FROM node:20-bookworm-slim AS fontset
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY service/framerun_service/render/fontset.json service/framerun_service/render/fontset.json
COPY scripts/install-fontset.mjs scripts/install-fontset.mjs
RUN node scripts/install-fontset.mjs node_modules /fontset

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FRAMERUN_APT_CLEAN=1 \
    PORT=8080

WORKDIR /app

COPY scripts/install-system-deps.sh scripts/install-system-deps.sh
RUN bash scripts/install-system-deps.sh

COPY pyproject.toml README.md ./
COPY sdk sdk
COPY service service
# The local stack's copy of the workflow (sdk/framerun/local/render.yaml) links here.
COPY workflows workflows
COPY --from=fontset /fontset service/framerun_service/render/fontset
# The project itself, from this checkout; its dependencies are bounded in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[service]"

RUN useradd --create-home --uid 10001 framerun \
    && mkdir -p /tmp/framerun \
    && chown framerun /tmp/framerun
USER 10001

EXPOSE 8080
CMD ["gunicorn", "-c", "python:framerun_service.gunicorn_conf"]
