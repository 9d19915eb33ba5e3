# The Cloud Run image: the framerun service under gunicorn, with Debian's
# chrome-headless-shell installed by the same script CI uses.
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

COPY pyproject.toml README.md gunicorn.conf.py ./
COPY sdk sdk
COPY service service
# The project itself, from this checkout; its dependencies are bounded in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[service]"

RUN useradd --create-home --uid 10001 framerun \
    && mkdir -p /tmp/framerun \
    && chown framerun /tmp/framerun
USER 10001

EXPOSE 8080
CMD ["gunicorn", "-c", "/app/gunicorn.conf.py"]
