"""The Cloud Run image's contract, checked statically (no Docker daemon here)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    return [line for line in DOCKERFILE.splitlines() if line.startswith(f"{name} ")]


def test_hadolint_is_clean() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    run = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_base_image_and_system_packages_come_from_the_shared_script() -> None:
    assert _instructions("FROM")[-1] == "FROM python:3.11-slim-bookworm"
    assert "RUN bash scripts/install-system-deps.sh" in DOCKERFILE
    assert "apt-get" not in DOCKERFILE, "system packages are named only in the script"


def test_the_font_set_comes_from_the_lockfile_by_the_setup_script() -> None:
    """The faces are npm @fontsource files at the locked versions, copied by the script
    `make setup` runs, into the package before it is installed."""
    assert _instructions("FROM")[0] == "FROM node:20-bookworm-slim AS fontset"
    assert "RUN npm ci " in DOCKERFILE and "COPY package.json package-lock.json ./" in DOCKERFILE
    assert "RUN node scripts/install-fontset.mjs node_modules /fontset" in DOCKERFILE
    copy = DOCKERFILE.index("COPY --from=fontset /fontset service/framerun_service/render/fontset")
    assert copy < DOCKERFILE.index('pip install ".[service]"')
    vendor = (REPO / "scripts" / "vendor-js.sh").read_text()
    fontset = "service/framerun_service/render/fontset"
    assert f"node scripts/install-fontset.mjs node_modules {fontset}" in vendor


def test_installs_the_service_extra_and_runs_gunicorn_as_non_root() -> None:
    assert 'pip install ".[service]"' in DOCKERFILE
    users = _instructions("USER")
    assert users and users[-1] not in ("USER root", "USER 0")
    assert 'CMD ["gunicorn", "-c", "python:framerun_service.gunicorn_conf"]' in DOCKERFILE
    assert not _instructions("HEALTHCHECK"), "Cloud Run probes the service itself"


def test_gunicorn_runs_one_worker_with_the_cloud_run_timeout() -> None:
    conf = runpy.run_path(str(REPO / "service" / "framerun_service" / "gunicorn_conf.py"))
    assert conf["workers"] == 1 and conf["threads"] == 1
    assert conf["timeout"] == 3600
    assert conf["wsgi_app"] == "framerun_service.app:create_app()"
    assert conf["bind"].endswith(":8080")


def test_ci_runs_make_test_then_make_lint() -> None:
    lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    assert lines.index("make test") < lines.index("make lint")


def test_make_lint_runs_mypy_and_the_import_contracts() -> None:
    makefile = (REPO / "Makefile").read_text()
    lint = makefile[makefile.index("\nlint:") : makefile.index("\nlint-infra:")]
    for tool in ("ruff check", "ruff format --check", "mypy", "lint-imports", "yamllint"):
        assert f"$(VENV)/bin/{tool}" in lint, tool
