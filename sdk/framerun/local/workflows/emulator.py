"""The emulator: deployed workflows plus the Executions gRPC server on 127.0.0.1.

::

    with Emulator(token_url=issuer.token_url, invoker_email=INVOKER) as emulator:
        emulator.deploy("render", Path("workflows/render.yaml").read_text(),
                        {"FRAMERUN_SERVICE_URL": service_url})
        address = emulator.start()              # "127.0.0.1:PORT"
        client = emulator.client()              # the library's ExecutionsClient
        client.create_execution(parent=emulator.workflow_name("render"), execution=...)

It binds to loopback only: anyone who can reach it can run workflows that mint
ID tokens for the invoker identity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

import grpc

from .executions import ExecutionStore
from .grpc_service import executions_handler
from .model import Workflow
from .tokens import IssuerTokenProvider, TokenProvider, no_token_provider

if TYPE_CHECKING:
    from google.cloud.workflows.executions_v1 import ExecutionsClient

__all__ = ["DEFAULT_LOCATION", "DEFAULT_PROJECT", "Emulator"]

DEFAULT_PROJECT = "local-project"
DEFAULT_LOCATION = "us-central1"

log = logging.getLogger("framerun.local.workflows")


class Emulator:
    """Cloud Workflows on loopback: ``deploy`` workflows, ``start`` the Executions API.

    :param token_provider: audience → ID token for ``auth: {type: OIDC}`` calls.
        Without one, ``token_url`` + ``invoker_email`` build an
        :class:`IssuerTokenProvider` (the local issuer's ``POST /token``).
    :param sleep: replaces real waiting (``sys.sleep``, retry backoff) in every
        execution; tests pass a recorder so retries take no time.
    """

    def __init__(
        self,
        *,
        project: str = DEFAULT_PROJECT,
        location: str = DEFAULT_LOCATION,
        token_provider: TokenProvider | None = None,
        token_url: str | None = None,
        invoker_email: str | None = None,
        sleep: Callable[[float], None] | None = None,
        host: str = "127.0.0.1",
        max_rpc_workers: int = 8,
    ) -> None:
        if token_provider is None and token_url is not None:
            if not invoker_email:
                raise ValueError(
                    "a token URL needs the identity to mint tokens for: pass invoker_email "
                    "(--invoker-email), the service account the service allows"
                )
            token_provider = IssuerTokenProvider(token_url, invoker_email)
        self.store = ExecutionStore(
            project=project,
            location=location,
            token_provider=token_provider or no_token_provider,
            service_account=invoker_email,
            sleep=sleep,
        )
        self._host = host
        self._max_rpc_workers = max_rpc_workers
        self._server: grpc.Server | None = None
        self._port: int | None = None

    # -- workflows ----------------------------------------------------------------------

    def deploy(
        self, workflow_id: str, source: str, env: Mapping[str, str] | None = None
    ) -> Workflow:
        """Validate and (re)deploy ``source`` as ``workflow_id`` with user env vars ``env``.

        Raises :class:`~.errors.WorkflowDefinitionError` (naming the step) for a
        workflow that could not run, before any execution starts.
        """
        return self.store.deploy(workflow_id, source, env).workflow

    def workflow_name(self, workflow_id: str) -> str:
        """``projects/P/locations/L/workflows/ID``: the parent for CreateExecution."""
        return self.store.workflow_name(workflow_id)

    # -- server -------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve the Executions API on ``host:port`` (0 picks a free port); returns the address."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = grpc.server(
            ThreadPoolExecutor(self._max_rpc_workers, thread_name_prefix="executions-rpc"),
            handlers=[executions_handler(self.store)],
        )
        try:
            bound = server.add_insecure_port(f"{self._host}:{port}")
        except RuntimeError:  # grpc's way of saying the bind failed
            bound = 0
        if bound == 0:
            server.stop(None)
            raise OSError(f"cannot listen on {self._host}:{port}: is the port in use?")
        server.start()
        self._server, self._port = server, bound
        log.info("Executions API at %s", self.address)
        return self.address

    @property
    def address(self) -> str:
        if self._port is None:
            raise RuntimeError("the emulator is not running: call start() first")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    def stop(self, grace: float = 1.0) -> None:
        """Cancel running executions and stop serving (idempotent)."""
        server, self._server, self._port = self._server, None, None
        self.store.shutdown()
        if server is not None:
            server.stop(grace).wait()

    def client(self) -> ExecutionsClient:
        """The library's ExecutionsClient over an insecure channel to this emulator."""
        from google.cloud.workflows.executions_v1 import ExecutionsClient
        from google.cloud.workflows.executions_v1.services.executions.transports import (
            ExecutionsGrpcTransport,
        )

        channel = grpc.insecure_channel(self.address)
        return ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
