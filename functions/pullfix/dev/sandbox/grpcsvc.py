"""The sandbox's gRPC service: IAM admin v1 (`GetServiceAccount`, `GetRole`), which
google-cloud-iam reaches over gRPC only.

Messages are the client libraries' own proto-plus types, so the wire format is theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.cloud.iam_admin_v1 import types as iam_types

from pullfix.dev.sandbox.errors import ApiError
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
        """roles/X (predefined), projects/P/roles/X and organizations/O/roles/X (custom)."""
        from pullfix.dev.sandbox.evaluate import role_permissions

        name = request.name
        parts = name.split("/")
        if not (
            (len(parts) == 2 and parts[0] == "roles")
            or (
                len(parts) == 4
                and parts[0] in ("projects", "organizations")
                and parts[2] == "roles"
            )
        ):
            raise ApiError(400, f"Invalid role name {name!r}")
        with self.state.lock:
            permissions = role_permissions(self.state.world, name)
        if permissions is None:
            raise ApiError(404, f"Role {name} not found.", status="NOT_FOUND")
        return iam_types.Role(
            name=name,
            title=parts[-1],
            included_permissions=list(permissions),
            stage=iam_types.Role.RoleLaunchStage.GA,
            etag=b"sandbox",
        )

    def _get_service_account(self, request: iam_types.GetServiceAccountRequest) -> Any:
        parts = request.name.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "serviceAccounts":
            raise ApiError(
                400,
                f"Invalid service account name {request.name!r}: want "
                "projects/PROJECT/serviceAccounts/EMAIL",
            )
        key = parts[3]
        with self.state.lock:
            world = self.state.world
            for project in world.projects.values():
                candidates = (
                    [project.service_account(key)]
                    if "@" in key
                    else [
                        sa
                        for sa in (
                            *project.service_accounts.values(),
                            project.service_account(
                                f"{project.number}-compute@developer.gserviceaccount.com"
                            ),
                        )
                        if sa is not None and sa.unique_id == key
                    ]
                )
                account = next((sa for sa in candidates if sa is not None), None)
                if account is not None:
                    return iam_types.ServiceAccount(
                        name=f"projects/{project.project_id}/serviceAccounts/{account.email}",
                        project_id=project.project_id,
                        unique_id=account.unique_id,
                        email=account.email,
                        display_name=account.email.split("@")[0],
                        oauth2_client_id=account.unique_id,
                        disabled=account.disabled,
                    )
        raise ApiError(404, f"Service account {request.name} does not exist.")
