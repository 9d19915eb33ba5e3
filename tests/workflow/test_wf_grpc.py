"""The Executions API over gRPC, through the google-cloud-workflows library's own client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud.workflows.executions_v1 import Execution, ExecutionsClient
from google.cloud.workflows.executions_v1.types import ExecutionView

from framerun.local.workflows import Emulator

HELLO = """
main:
  params: [args]
  steps:
    - greet:
        return: ${"hello " + args.name + " from " + sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID")}
"""
SLEEPY = """
main:
  steps:
    - nap:
        call: sys.sleep
        args:
          seconds: 60
"""
FAILING = """
main:
  steps:
    - boom:
        raise:
          code: NOPE
          message: it failed
"""
TERMINAL = {Execution.State.SUCCEEDED, Execution.State.FAILED, Execution.State.CANCELLED}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(project="proj", location="here") as running:
        running.deploy("hello", HELLO)
        running.deploy("sleepy", SLEEPY)
        running.deploy("failing", FAILING)
        running.start()
        yield running


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> ExecutionsClient:
    return emulator.client()


def wait_done(client: ExecutionsClient, name: str, timeout: float = 10) -> Execution:
    deadline = time.monotonic() + timeout
    while True:
        execution = client.get_execution(name=name)
        if execution.state in TERMINAL or time.monotonic() > deadline:
            return execution
        time.sleep(0.02)


def test_create_then_get_until_succeeded(emulator: Emulator, client: ExecutionsClient) -> None:
    parent = emulator.workflow_name("hello")
    assert parent == "projects/proj/locations/here/workflows/hello"
    created = client.create_execution(
        parent=parent, execution=Execution(argument=json.dumps({"name": "ada"}))
    )
    assert created.name.startswith(parent + "/executions/")
    assert created.argument == '{"name": "ada"}'
    done = wait_done(client, created.name)
    assert done.state == Execution.State.SUCCEEDED
    assert json.loads(done.result) == "hello ada from hello"
    assert done.end_time >= done.start_time
    assert done.workflow_revision_id == "000001-" + done.workflow_revision_id[-3:]


def test_a_failed_execution_carries_its_error_payload(
    emulator: Emulator, client: ExecutionsClient
) -> None:
    created = client.create_execution(
        parent=emulator.workflow_name("failing"), execution=Execution()
    )
    done = wait_done(client, created.name)
    assert done.state == Execution.State.FAILED
    assert json.loads(done.error.payload) == {"code": "NOPE", "message": "it failed"}
    assert 'in step "boom", routine "main"' in done.error.context
    assert [(e.routine, e.step) for e in done.error.stack_trace.elements] == [("main", "boom")]


def test_cancel_a_sleeping_execution(emulator: Emulator, client: ExecutionsClient) -> None:
    created = client.create_execution(
        parent=emulator.workflow_name("sleepy"), execution=Execution()
    )
    deadline = time.monotonic() + 5
    running = client.get_execution(name=created.name)
    while not running.status.current_steps and time.monotonic() < deadline:
        running = client.get_execution(name=created.name)
    assert running.state == Execution.State.ACTIVE
    assert [(s.routine, s.step) for s in running.status.current_steps] == [("main", "nap")]

    cancelled = client.cancel_execution(name=created.name)
    assert cancelled.state == Execution.State.CANCELLED
    assert client.get_execution(name=created.name).state == Execution.State.CANCELLED
    record = emulator.store.get(created.name)
    assert record.thread is not None
    record.thread.join(timeout=2)
    assert not record.thread.is_alive()  # the 60 s sleep was interrupted
    with pytest.raises(exceptions.FailedPrecondition):
        client.cancel_execution(name=created.name)


def test_list_executions_newest_first(emulator: Emulator, client: ExecutionsClient) -> None:
    parent = emulator.workflow_name("hello")
    names = [
        client.create_execution(parent=parent, execution=Execution(argument='{"name": "x"}')).name
        for _ in range(3)
    ]
    listed = list(client.list_executions(request={"parent": parent, "page_size": 2}))
    assert [e.name for e in listed][:3] == names[::-1]
    assert all(e.argument == "" for e in listed)  # BASIC view by default
    full = client.list_executions(request={"parent": parent, "view": ExecutionView.FULL})
    assert next(iter(full)).argument == '{"name": "x"}'


def test_api_errors_map_to_grpc_status_codes(emulator: Emulator, client: ExecutionsClient) -> None:
    with pytest.raises(exceptions.NotFound, match="not deployed"):
        client.create_execution(
            parent="projects/proj/locations/here/workflows/missing", execution=Execution()
        )
    with pytest.raises(exceptions.NotFound):
        client.get_execution(name=emulator.workflow_name("hello") + "/executions/nope")
    with pytest.raises(exceptions.InvalidArgument, match="32 KB"):
        client.create_execution(
            parent=emulator.workflow_name("hello"),
            execution=Execution(argument=json.dumps({"name": "x" * 33_000})),
        )
    with pytest.raises(exceptions.InvalidArgument, match="not valid JSON"):
        client.create_execution(
            parent=emulator.workflow_name("hello"), execution=Execution(argument="{nope")
        )


def test_the_module_runs_as_a_process(tmp_path: Path) -> None:
    source = tmp_path / "hello.yaml"
    source.write_text(
        HELLO.replace('sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID")', 'sys.get_env("WHO")')
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "framerun.local.workflows",
            "--workflow",
            f"hello={source}",
            "--env",
            "WHO=the process",
            "--project",
            "proj",
            "--location",
            "here",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("workflows emulator listening on 127.0.0.1:"), line
        address = line.rsplit(" ", 1)[-1].strip()
        import grpc
        from google.cloud.workflows.executions_v1.services.executions.transports import (
            ExecutionsGrpcTransport,
        )

        with grpc.insecure_channel(address) as channel:
            client = ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))
            created = client.create_execution(
                parent="projects/proj/locations/here/workflows/hello",
                execution=Execution(argument='{"name": "cli"}'),
            )
            done = wait_done(client, created.name)
        assert json.loads(done.result) == "hello cli from the process"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()
