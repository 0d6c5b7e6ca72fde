"""The sandbox's gRPC services: IAM admin v1 `GetServiceAccount` (google-cloud-iam has no
REST transport) and the Firestore v1 RPCs pullfix's dedupe ledger uses.

Messages are the client libraries' own proto-plus types, so the wire format is theirs.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.cloud.firestore_v1.types import common, document, firestore, write
from google.cloud.iam_admin_v1 import types as iam_types
from google.protobuf import empty_pb2

from pullfix.dev.sandbox.errors import ApiError
from pullfix.dev.sandbox.state import SandboxState

__all__ = ["FirestoreStore", "GrpcServer"]

IAM_SERVICE = "google.iam.admin.v1.IAM"
FIRESTORE_SERVICE = "google.firestore.v1.Firestore"


class FirestoreStore:
    """Documents by full name, with commit times that strictly increase."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.documents: dict[str, document.Document] = {}
        self.transactions: set[bytes] = set()
        self._clock = datetime.now(UTC)

    def tick(self) -> datetime:
        with self.lock:
            now = datetime.now(UTC)
            self._clock = max(now, self._clock + timedelta(microseconds=1))
            return self._clock

    def commit(self, writes: list[write.Write]) -> tuple[datetime, list[write.WriteResult]]:
        """Apply all writes atomically, or none: every precondition is checked first."""
        with self.lock:
            for item in writes:
                name = item.update.name if _which(item, "operation") == "update" else item.delete
                self._check_precondition(name, item.current_document)
                if _which(item, "operation") not in ("update", "delete"):
                    raise ApiError(501, "the sandbox supports update and delete writes only")
                if item.update_transforms:
                    raise ApiError(501, "the sandbox does not apply field transforms")
            commit_time = self.tick()
            results = []
            for item in writes:
                if _which(item, "operation") == "delete":
                    self.documents.pop(item.delete, None)
                    results.append(write.WriteResult(update_time=commit_time))
                    continue
                results.append(write.WriteResult(update_time=commit_time))
                self._apply_update(item, commit_time)
            return commit_time, results

    def _check_precondition(self, name: str, precondition: common.Precondition) -> None:
        kind = _which(precondition, "condition_type")
        current = self.documents.get(name)
        if kind == "exists":
            if precondition.exists and current is None:
                raise ApiError(404, f"No document to update: {name}")
            if not precondition.exists and current is not None:
                raise ApiError(409, f"Document already exists: {name}", status="ALREADY_EXISTS")
        elif kind == "update_time" and (
            current is None or current.update_time != precondition.update_time
        ):
            raise ApiError(
                400,
                f"The document {name} was changed since it was read",
                status="FAILED_PRECONDITION",
            )

    def _apply_update(self, item: write.Write, commit_time: datetime) -> None:
        name = item.update.name
        current = self.documents.get(name)
        fields = dict(current.fields) if current is not None else {}
        if item.update_mask and item.update_mask.field_paths:
            for path in item.update_mask.field_paths:
                if path in item.update.fields:
                    fields[path] = item.update.fields[path]
                else:
                    fields.pop(path, None)
        else:
            fields = dict(item.update.fields)
        self.documents[name] = document.Document(
            name=name,
            fields=fields,
            create_time=current.create_time if current is not None else commit_time,
            update_time=commit_time,
        )


def _which(message: Any, oneof: str) -> str | None:
    result: str | None = type(message).pb(message).WhichOneof(oneof)
    return result


class GrpcServer:
    """A grpcio server with the sandbox's services on 127.0.0.1:port."""

    def __init__(self, state: SandboxState, store: FirestoreStore, port: int) -> None:
        self.state = state
        self.store = store
        self.port = port
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self.server.add_generic_rpc_handlers((self._iam_handlers(), self._firestore_handlers()))
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

    def _guard_stream(
        self, method_id: str, call: Callable[[Any], Iterator[Any]]
    ) -> Callable[[Any, Any], Iterator[Any]]:
        def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                self.state.begin(method_id)
                yield from call(request)
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

    # -- Firestore --------------------------------------------------------------------------

    def _firestore_handlers(self) -> grpc.GenericRpcHandler:
        prefix = "firestore.projects.databases.documents."
        unary: dict[str, tuple[str, Callable[[Any], Any], Any, Any]] = {
            "GetDocument": (
                prefix + "get",
                self._get_document,
                firestore.GetDocumentRequest,
                document.Document,
            ),
            "Commit": (
                prefix + "commit",
                self._commit,
                firestore.CommitRequest,
                firestore.CommitResponse,
            ),
            "BeginTransaction": (
                prefix + "beginTransaction",
                self._begin_transaction,
                firestore.BeginTransactionRequest,
                firestore.BeginTransactionResponse,
            ),
            "Rollback": (prefix + "rollback", self._rollback, firestore.RollbackRequest, None),
            "ListDocuments": (
                prefix + "list",
                self._list_documents,
                firestore.ListDocumentsRequest,
                firestore.ListDocumentsResponse,
            ),
        }
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for rpc, (method_id, call, request_type, response_type) in unary.items():
            handlers[rpc] = grpc.unary_unary_rpc_method_handler(
                self._guard(method_id, call),
                request_deserializer=request_type.deserialize,
                response_serializer=(
                    response_type.serialize if response_type else empty_pb2.Empty.SerializeToString
                ),
            )
        handlers["BatchGetDocuments"] = grpc.unary_stream_rpc_method_handler(
            self._guard_stream(prefix + "batchGet", self._batch_get),
            request_deserializer=firestore.BatchGetDocumentsRequest.deserialize,
            response_serializer=firestore.BatchGetDocumentsResponse.serialize,
        )
        return grpc.method_handlers_generic_handler(FIRESTORE_SERVICE, handlers)

    def _list_documents(
        self, request: firestore.ListDocumentsRequest
    ) -> firestore.ListDocumentsResponse:
        """The documents of one collection under `parent`, in name order, a page at a time
        (the page token is the last name of the page before)."""
        prefix = f"{request.parent}/{request.collection_id}/"
        with self.store.lock:
            names = sorted(
                name
                for name in self.store.documents
                if name.startswith(prefix)
                and "/" not in name[len(prefix) :]
                and name > request.page_token
            )
            size = request.page_size or 300
            page = [document.Document(self.store.documents[name]) for name in names[:size]]
        token = names[size - 1] if len(names) > size else ""
        return firestore.ListDocumentsResponse(documents=page, next_page_token=token)

    def _get_document(self, request: firestore.GetDocumentRequest) -> document.Document:
        with self.store.lock:
            found = self.store.documents.get(request.name)
            if found is None:
                raise ApiError(404, f'Document "{request.name}" not found.')
            return document.Document(found)

    def _batch_get(
        self, request: firestore.BatchGetDocumentsRequest
    ) -> Iterator[firestore.BatchGetDocumentsResponse]:
        transaction = b""
        if _which(request, "consistency_selector") == "new_transaction":
            transaction = self._new_transaction()
        with self.store.lock:
            read_time = self.store.tick()
            found = {name: self.store.documents.get(name) for name in request.documents}
        for index, name in enumerate(request.documents):
            response = firestore.BatchGetDocumentsResponse(read_time=read_time)
            if index == 0 and transaction:
                response.transaction = transaction
            doc = found[name]
            if doc is None:
                response.missing = name
            else:
                response.found = document.Document(doc)
            yield response

    def _new_transaction(self) -> bytes:
        transaction = secrets.token_bytes(16)
        with self.store.lock:
            self.store.transactions.add(transaction)
        return transaction

    def _begin_transaction(
        self, request: firestore.BeginTransactionRequest
    ) -> firestore.BeginTransactionResponse:
        return firestore.BeginTransactionResponse(transaction=self._new_transaction())

    def _rollback(self, request: firestore.RollbackRequest) -> Any:
        with self.store.lock:
            self.store.transactions.discard(request.transaction)
        return empty_pb2.Empty()

    def _commit(self, request: firestore.CommitRequest) -> firestore.CommitResponse:
        with self.store.lock:
            if request.transaction:
                if request.transaction not in self.store.transactions:
                    raise ApiError(400, "Transaction is invalid or has expired.")
                self.store.transactions.discard(request.transaction)
            commit_time, results = self.store.commit(list(request.writes))
        return firestore.CommitResponse(write_results=results, commit_time=commit_time)
