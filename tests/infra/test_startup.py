"""Nothing is downloaded when the service starts: a cold start is the image, nothing more.

The service starts as the image starts it (gunicorn with the packaged config) under a
``sitecustomize`` that refuses and records every outgoing connection, name lookup and
child process of the master and its worker. It must become healthy and answer a probe
and an unauthenticated call having tried none of them: no pip, npm or Playwright
install, no font or browser download, no token-certificate fetch before a request
needs one. The image side is checked statically: the service's dependencies hold no
Playwright and the Dockerfile installs nothing at run time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

from framerun.local.stack import BUCKET, PROJECT, free_port, service_argv, service_environment

REPO = Path(__file__).resolve().parents[2]

GUARD = r"""
import os, socket, subprocess

_LOG = os.environ["FRAMERUN_TEST_NET_LOG"]
with open(_LOG + ".loaded", "a") as _fh:
    _fh.write(f"{os.getpid()}\n")


def _record(what):
    with open(_LOG, "a") as fh:
        fh.write(f"{os.getpid()} {what}\n")


def _connect(self, address):
    _record(f"connect {address!r}")
    raise ConnectionRefusedError("outgoing connections are refused in this test")


def _connect_ex(self, address):
    _record(f"connect_ex {address!r}")
    return 111


def _getaddrinfo(host, *args, **kwargs):
    _record(f"getaddrinfo {host!r}")
    raise socket.gaierror("name lookups are refused in this test")


_popen_init = subprocess.Popen.__init__


def _popen(self, args, *rest, **kwargs):
    _record(f"spawn {args!r}")
    return _popen_init(self, args, *rest, **kwargs)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = _getaddrinfo
subprocess.Popen.__init__ = _popen
"""


def _get(url: str, *, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_service_starts_and_answers_without_any_network_or_child_process(
    tmp_path: Path,
) -> None:
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "net.log"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")]),
        "FRAMERUN_TEST_NET_LOG": str(log),
        # Where storage would be; nothing may contact it at start-up.
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        **service_environment(
            port=port,
            bucket=BUCKET,
            audiences=(f"http://127.0.0.1:{port}",),
            issuer_url="https://accounts.google.com",
            certs_url="https://www.googleapis.com/oauth2/v1/certs",
            work_dir=tmp_path / "work",
            webhook_secret="startup-test",
        ),
    }
    proc = subprocess.Popen(
        service_argv(port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.05)
        assert status == 200, f"the service did not become healthy (exit {proc.poll()})"
        # A call without a token is refused before any key is fetched.
        assert _get(f"http://127.0.0.1:{port}/", data=b"{}") == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert Path(f"{log}.loaded").read_text().strip(), "the guard was not loaded"
    assert not log.exists(), log.read_text()
    assert b"Traceback" not in err, err.decode(errors="replace")


def test_the_guard_records_and_refuses_a_connection(tmp_path: Path) -> None:
    """The guard itself works: a download attempt is refused and recorded."""
    (tmp_path / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "net.log"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FRAMERUN_TEST_NET_LOG": str(log)}
    code = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9/', timeout=2)"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "refused" in run.stderr
    assert "getaddrinfo '127.0.0.1'" in log.read_text()


def test_the_image_installs_no_playwright_and_nothing_at_run_time() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    image = [*project["dependencies"], *extras["service"], *extras["render"]]
    assert not [r for r in image if r.lower().startswith("playwright")], image
    assert 'pip install ".[service]"' in (REPO / "Dockerfile").read_text()
    dockerfile = (REPO / "Dockerfile").read_text().lower()
    assert "playwright" not in dockerfile
    final_stage = dockerfile[dockerfile.rindex("\nfrom ") :]
    cmd = final_stage[final_stage.index("\ncmd ") :]
    for fetcher in ("pip", "npm", "curl", "wget", "playwright"):
        assert fetcher not in cmd, f"the image's command runs {fetcher}"


def test_the_installed_service_closure_has_no_playwright() -> None:
    """scripts/image_size.py resolves what `pip install ".[service]"` installs, as installed
    here: the engine's and the app's libraries, and no Playwright or dev tool."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("image_size", REPO / "scripts/image_size.py")
    assert spec is not None and spec.loader is not None
    image_size = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(image_size)
    names = image_size.python_closure()
    assert {"av", "numpy", "pillow", "flask", "gunicorn", "google-cloud-storage"} <= names
    assert not names & image_size.FORBIDDEN, names & image_size.FORBIDDEN
    # the dev extra would bring them: the resolver does follow extras
    assert "playwright" in image_size.python_closure(extras=("dev",))
