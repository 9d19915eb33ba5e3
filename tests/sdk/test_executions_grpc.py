"""The real ExecutionsClient over plain gRPC, as the SDK builds it for an emulator endpoint.

A minimal in-process gRPC server speaks the Executions API's wire format (the
messages google-cloud-workflows defines), so this checks the SDK's one client
path — channel, transport, request and response encoding — without the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from google.cloud.workflows.executions_v1 import (
    CreateExecutionRequest,
    Execution,
    GetExecutionRequest,
)

from framerun.cloudrun import render_to_cloud_run
from framerun.render_progress import get_render_progress
from framerun.target import CloudRunTarget
from framerun_service.core.errors import ExecutionNotFoundError
from framerun_service.core.storage import Storage

SERVICE = "google.cloud.workflows.executions.v1.Executions"


class _Executions:
    def __init__(self) -> None:
        self.created: list[CreateExecutionRequest] = []
        self.store: dict[str, Execution] = {}

    def create(self, request: CreateExecutionRequest, context: grpc.ServicerContext) -> Execution:
        self.created.append(request)
        name = f"{request.parent}/executions/g{len(self.created)}"
        execution = Execution(
            name=name, argument=request.execution.argument, state=Execution.State.ACTIVE
        )
        self.store[name] = execution
        return execution

    def get(self, request: GetExecutionRequest, context: grpc.ServicerContext) -> Execution:
        if request.name not in self.store:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return self.store[request.name]


@pytest.fixture
def grpc_executions() -> Iterator[tuple[str, _Executions]]:
    servicer = _Executions()
    handlers = {
        "CreateExecution": grpc.unary_unary_rpc_method_handler(
            servicer.create,
            request_deserializer=CreateExecutionRequest.deserialize,
            response_serializer=Execution.serialize,
        ),
        "GetExecution": grpc.unary_unary_rpc_method_handler(
            servicer.get,
            request_deserializer=GetExecutionRequest.deserialize,
            response_serializer=Execution.serialize,
        ),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(grace=None).wait()


def test_render_and_progress_through_real_grpc(
    grpc_executions: tuple[str, _Executions],
    project: Path,
    target: CloudRunTarget,
    storage: Storage,
) -> None:
    endpoint, servicer = grpc_executions
    local = replace(target, executions_endpoint=endpoint)
    handle = render_to_cloud_run(project, {"chunkSize": 10}, target=local, storage=storage)

    (request,) = servicer.created
    assert request.parent == target.workflow_path
    assert set(json.loads(request.execution.argument)) == {"renderId", "requestUri"}
    progress = get_render_progress(handle.execution_name, target=local, storage=storage)
    assert (progress.status, progress.render_id) == ("running", handle.render_id)

    with pytest.raises(ExecutionNotFoundError):
        get_render_progress(
            f"{target.workflow_path}/executions/nope", target=local, storage=storage
        )


def test_cli_progress_with_an_executions_endpoint(
    grpc_executions: tuple[str, _Executions],
    project: Path,
    target: CloudRunTarget,
    storage: Storage,
) -> None:
    from click.testing import CliRunner

    from framerun.cli import main

    endpoint, _ = grpc_executions
    local = replace(target, executions_endpoint=endpoint)
    handle = render_to_cloud_run(project, {}, target=local, storage=storage)
    # No seams: the CLI builds the real client for the endpoint and Storage from the env.
    result = CliRunner().invoke(
        main,
        ["cloudrun", "progress", handle.execution_name, "--json"],
        env={"FRAMERUN_EXECUTIONS_ENDPOINT": endpoint},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["renderId"] == handle.render_id
