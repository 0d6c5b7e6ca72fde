"""The sandbox's gRPC service: IAM admin v1 (`GetServiceAccount`, `GetRole`), which
google-cloud-iam's generated client reaches over gRPC only (pullfix itself reads both over
REST, `pullfix.dev.sandbox.rest`; both answer from `pullfix.dev.sandbox.iamadmin`).

Messages are the client libraries' own proto-plus types, so the wire format is theirs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.cloud.iam_admin_v1 import types as iam_types

from pullfix.dev.sandbox.errors import ApiError
from pullfix.dev.sandbox.iamadmin import role_json, service_account_json
from pullfix.dev.sandbox.state import SandboxState

__all__ = ["GrpcServer"]

IAM_SERVICE = "google.iam.admin.v1.IAM"


class GrpcServer:
    """A grpcio server with the sandbox's services on 127.0.0.1:port."""

    def __init__(self, state: SandboxState, port: int) -> None:
        self.state = state
        self.port = port
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self.server.add_generic_rpc_handlers((self._iam_handlers(),))
        bound = self.server.add_insecure_port(f"127.0.0.1:{port}")
        if bound == 0:
            raise OSError(f"cannot listen on 127.0.0.1:{port} for gRPC")

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=1).wait(5)

    # -- plumbing ---------------------------------------------------------------------------

    def _guard(self, method_id: str, call: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                self.state.begin(method_id)
                return call(request)
            except ApiError as exc:
                context.abort(
                    getattr(grpc.StatusCode, exc.status, grpc.StatusCode.UNKNOWN), exc.message
                )

        return handler

    # -- IAM admin ------------------------------------------------------------------------------

    def _iam_handlers(self) -> grpc.GenericRpcHandler:
        handler = grpc.unary_unary_rpc_method_handler(
            self._guard("iam.projects.serviceAccounts.get", self._get_service_account),
            request_deserializer=iam_types.GetServiceAccountRequest.deserialize,
            response_serializer=iam_types.ServiceAccount.serialize,
        )
        get_role = grpc.unary_unary_rpc_method_handler(
            self._guard("iam.roles.get", self._get_role),
            request_deserializer=iam_types.GetRoleRequest.deserialize,
            response_serializer=iam_types.Role.serialize,
        )
        return grpc.method_handlers_generic_handler(
            IAM_SERVICE, {"GetServiceAccount": handler, "GetRole": get_role}
        )

    def _get_role(self, request: iam_types.GetRoleRequest) -> Any:
        with self.state.lock:
            found = role_json(self.state.world, request.name)
        return iam_types.Role.from_json(json.dumps(found))

    def _get_service_account(self, request: iam_types.GetServiceAccountRequest) -> Any:
        with self.state.lock:
            found = service_account_json(self.state.world, request.name)
        return iam_types.ServiceAccount.from_json(json.dumps(found))
