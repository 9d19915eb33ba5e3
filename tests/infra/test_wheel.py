"""The wheel is the product: installed from it, with no checkout in reach, the local stack
runs and renders, and the light ``framerun[cloud]`` client installs without the engine.

Each venv is fresh and outside the repository; pip resolves the extras from the package
index (its cache makes a re-run quick). Nothing here imports from the checkout except
the comparison render, which runs in the test's own venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from framerun import render
from tests.compositions import write_composition
from tests.videos import DecodedVideo, decode, min_psnr

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 600
CHUNK_SIZE = 10
# Runs inside the installed venv: the public API only, exactly as a user would call it.
RENDER_SCRIPT = """
import json, os, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
import framerun
from framerun.target import CloudRunTarget

project, outputs_file, chunk_size, dest = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
outputs = json.loads(open(outputs_file).read())
os.environ["STORAGE_EMULATOR_HOST"] = outputs["storage_emulator_host"]["value"]
target = CloudRunTarget.from_outputs_file(outputs_file)
handle = framerun.render_to_cloud_run(project, {"chunkSize": chunk_size}, target=target)
progress = framerun.wait_for_render(handle, target=target, timeout_s=240, poll_interval_s=0.5)
bucket, _, key = progress.output_file.removeprefix("gs://").partition("/")
client = storage.Client(project="framerun-local", credentials=AnonymousCredentials())
client.bucket(bucket).blob(key).download_to_filename(dest)
print(json.dumps({"chunks": progress.chunks_total}))
"""
# Modules a cloud client must not be able to import: the browser, PyAV and Flask.
ENGINE_MODULES = ("av", "playwright", "flask")
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FRAMERUN_LOCAL_DIR")}


def _run(
    argv: list[str], timeout: float, cwd: str | Path = "/"
) -> subprocess.CompletedProcess[str]:
    # From the filesystem root, so nothing can resolve against the checkout.
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=timeout, cwd=cwd, env=ENV
    )
    assert result.returncode == 0, f"{argv[:4]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _venv(where: Path, requirement: str) -> Path:
    _run([sys.executable, "-m", "venv", str(where)], timeout=120)
    python = where / "bin" / "python"
    # --no-compile: the interpreter compiles what a test imports anyway; skipping the
    # up-front byte-compile of every installed module saved ~7 % of a [local] install.
    install = ["install", "-q", "--no-compile", "--disable-pip-version-check", requirement]
    _run([str(python), "-m", "pip", *install], timeout=INSTALL_TIMEOUT_S)
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        timeout=INSTALL_TIMEOUT_S,
    )
    (built,) = out.glob("framerun-*.whl")
    return built


@pytest.fixture(scope="module")
def installed_stack(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``framerun local up`` from a fresh ``framerun[local]`` venv; yields its outputs file."""
    root = tmp_path_factory.mktemp("installed")
    framerun_cli = _venv(root / "venv", f"{wheel}[local]").with_name("framerun")
    state_dir = root / "stack"
    _run([str(framerun_cli), "local", "up", "--state-dir", str(state_dir)], timeout=180)
    try:
        yield state_dir / "outputs.json"
    finally:
        _run([str(framerun_cli), "local", "down", "--state-dir", str(state_dir)], timeout=60)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DecodedVideo]:
    """A small composition and its in-process render, made by the test's own venv."""
    root = tmp_path_factory.mktemp("reference")
    project = write_composition(
        root / "project",
        '<div class="box" style="animation: mv 1s linear forwards"></div>'
        "<style>@keyframes mv { to { transform: translateX(200px) } }</style>",
    )
    render(project, root / "in-process.mp4", chunk_size=CHUNK_SIZE)
    return project, decode(root / "in-process.mp4")


def _render_from(python: Path, outputs_file: Path, project: Path, dest: Path) -> int:
    argv = [str(python), "-c", RENDER_SCRIPT, str(project), str(outputs_file)]
    done = _run([*argv, str(CHUNK_SIZE), str(dest)], timeout=300)
    return int(json.loads(done.stdout.strip().splitlines()[-1])["chunks"])


def test_the_wheel_carries_what_its_extras_need_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "framerun/local/render.yaml",
        "framerun_service/gunicorn_conf.py",
        "framerun_service/render/runtime.js",
        "framerun_service/render/adapters/hyperframes.js",
        "framerun_service/render/fontset.json",
        "framerun_service/render/fontset/inter-latin-400-normal.woff2",
        "framerun/templates/vendor.json",
        "framerun/templates/vendor.mjs",
        "framerun/templates/package.json",
        "framerun/templates/package-lock.json",
        "framerun/templates/hf-scenes/scenes/intro.html",
        # framerun preview's page and service worker
        "framerun_service/render/previewui/index.html",
        "framerun_service/render/previewui/preview.js",
        "framerun_service/render/previewui/preview.css",
        "framerun_service/render/previewui/sw.js",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    # `framerun init`'s templates are the examples themselves, without the vendored copies.
    for example in ("hello", "hf-titles", "three"):
        packaged = zipfile.ZipFile(wheel).read(f"framerun/templates/{example}/index.html")
        assert packaged == (REPO / "examples" / example / "index.html").read_bytes()
    assert not [n for n in names if "/vendor/" in n], "vendor/ copies must not ship"
    packaged = zipfile.ZipFile(wheel).read("framerun/local/render.yaml")
    assert packaged == (REPO / "workflows" / "render.yaml").read_bytes(), (
        "the packaged workflow must be the one source, workflows/render.yaml"
    )


def test_an_installed_local_stack_renders_through_render_to_cloud_run(
    installed_stack: Path, reference: tuple[Path, DecodedVideo], tmp_path: Path
) -> None:
    project, in_process = reference
    python = installed_stack.parents[1] / "venv" / "bin" / "python"
    chunks = _render_from(python, installed_stack, project, tmp_path / "out.mp4")
    distributed = decode(tmp_path / "out.mp4")
    assert chunks == 3
    assert len(distributed.frames) == len(in_process.frames) == 30
    assert min_psnr(distributed.frames, in_process.frames) >= 45.0


def test_the_cloud_client_installs_without_the_engine_and_renders(
    wheel: Path,
    installed_stack: Path,
    reference: tuple[Path, DecodedVideo],
    tmp_path: Path,
) -> None:
    python = _venv(tmp_path / "venv-cloud", f"{wheel}[cloud]")
    probe = (
        "import importlib.util, json\n"
        f"modules = {ENGINE_MODULES!r}\n"
        "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in modules}))"
    )
    found = json.loads(_run([str(python), "-c", probe], timeout=60).stdout)
    assert found == dict.fromkeys(ENGINE_MODULES, False), found
    # init needs no checkout and no engine: the templates come with the package.
    scaffolded = tmp_path / "titles"
    framerun_cli = str(python.with_name("framerun"))
    _run([framerun_cli, "init", str(scaffolded), "--example", "hf-titles", "--no-install"], 60)
    assert (scaffolded / "index.html").read_bytes() == (
        REPO / "examples" / "hf-titles" / "index.html"
    ).read_bytes()
    assert json.loads((scaffolded / "package.json").read_text())["dependencies"] == {
        "gsap": json.loads((REPO / "package.json").read_text())["dependencies"]["gsap"]
    }
    project, in_process = reference
    _render_from(python, installed_stack, project, tmp_path / "out.mp4")
    distributed = decode(tmp_path / "out.mp4")
    assert len(distributed.frames) == len(in_process.frames)
    assert min_psnr(distributed.frames, in_process.frames) >= 45.0
