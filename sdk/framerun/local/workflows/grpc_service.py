"""The Executions API over gRPC, so the SDK's client is the same for cloud and emulator.

The service is assembled from the google-cloud-workflows package's own proto-plus
message types (``Type.serialize`` / ``Type.deserialize``) with a generic handler;
no generated stubs, no protoc. The library's
``ExecutionsClient(transport=ExecutionsGrpcTransport(channel=grpc.insecure_channel(addr)))``
talks to it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.cloud.workflows.executions_v1.types import executions as pb

from .executions import (
    ApiError,
    ExecutionStore,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnimplementedError,
)

__all__ = ["SERVICE_NAME", "executions_handler"]

SERVICE_NAME = "google.cloud.workflows.executions.v1.Executions"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_STATUS = {
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
    UnimplementedError: grpc.StatusCode.UNIMPLEMENTED,
}

Request = TypeVar("Request")


def executions_handler(store: ExecutionStore) -> grpc.GenericRpcHandler:
    """A handler serving CreateExecution, GetExecution, CancelExecution, ListExecutions."""

    def create(request: pb.CreateExecutionRequest) -> pb.Execution:
        execution = request.execution
        record = store.create(
            request.parent,
            execution.argument,
            labels=dict(execution.labels),
            call_log_level=int(execution.call_log_level),
        )
        return record.to_proto()

    def get(request: pb.GetExecutionRequest) -> pb.Execution:
        view = request.view or pb.ExecutionView.FULL  # Get defaults to FULL
        return store.get(request.name).to_proto(view)

    def cancel(request: pb.CancelExecutionRequest) -> pb.Execution:
        return store.cancel(request.name).to_proto()

    def list_(request: pb.ListExecutionsRequest) -> pb.ListExecutionsResponse:
        if request.filter or request.order_by:
            raise UnimplementedError("the local emulator does not implement filter or order_by")
        records = store.list_executions(request.parent)
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            start = int(request.page_token or "0")
        except ValueError:
            raise InvalidArgumentError(f"invalid page_token {request.page_token!r}") from None
        view = request.view or pb.ExecutionView.BASIC  # List defaults to BASIC
        page = records[start : start + size]
        following = start + size
        return pb.ListExecutionsResponse(
            executions=[r.to_proto(view) for r in page],
            next_page_token=str(following) if following < len(records) else "",
        )

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "CreateExecution": _unary(create, pb.CreateExecutionRequest, pb.Execution),
            "GetExecution": _unary(get, pb.GetExecutionRequest, pb.Execution),
            "CancelExecution": _unary(cancel, pb.CancelExecutionRequest, pb.Execution),
            "ListExecutions": _unary(list_, pb.ListExecutionsRequest, pb.ListExecutionsResponse),
        },
    )


def _unary(
    method: Callable[[Any], Any], request_type: Any, response_type: Any
) -> grpc.RpcMethodHandler:
    def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(request)
        except ApiError as exc:
            context.abort(_STATUS.get(type(exc), grpc.StatusCode.UNKNOWN), str(exc))
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=request_type.deserialize,
        response_serializer=response_type.serialize,
    )
