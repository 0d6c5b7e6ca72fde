"""The official Google clients pullfix uses, built on first use and then reused.

Production: Application Default Credentials and Google's endpoints, REST transport where the
client has one; pullfix's own calls (`RestClient`) over one `pullfix.gcp.transport` HTTP
transport. With PULLFIX_GCP_ENDPOINT set: anonymous credentials, REST clients at the
sandbox URL, the gRPC client (IAM admin, which tests use; pullfix reads IAM admin over
`RestClient`) on an insecure channel to PORT+1. With
FIRESTORE_EMULATOR_HOST or PUBSUB_EMULATOR_HOST set, that API alone goes to Google's
emulator, over plain HTTP with anonymous credentials (`pullfix.gcp.endpoints`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pullfix.gcp.endpoints import SandboxEndpoint, emulator_hosts, sandbox_endpoint
from pullfix.gcp.errors import error_from_response

if TYPE_CHECKING:
    from google.cloud import artifactregistry_v1, container_v1, resourcemanager_v3
    from google.cloud.firestore_v1.services.firestore import FirestoreClient
    from google.cloud.iam_admin_v1 import IAMClient
    from google.cloud.policytroubleshooter_iam_v3 import PolicyTroubleshooterClient
    from google.pubsub_v1 import PublisherClient

    from pullfix.gcp.transport import Response, Transport

__all__ = ["GoogleClients", "RestClient"]


class _Headers:
    """A transport that adds fixed `headers` to every request."""

    def __init__(self, transport: Transport, headers: Mapping[str, str]) -> None:
        self.transport = transport
        self.headers = dict(headers)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None,
    ) -> Response:
        sent = {**(headers or {}), **self.headers}
        return self.transport.request(method, url, headers=sent, body=body, timeout=timeout)

    def close(self) -> None:
        self.transport.close()


class RestClient:
    """Google REST APIs (JSON) over a `pullfix.gcp.transport.Transport`; errors raised as
    `pullfix.gcp.errors` reads Google's JSON error envelope.

    For every call of `pullfix.gcp.adapter`: those of every first event (GKE `clusters.get`,
    Resource Manager `projects.get`, Compute `instances.get`, the Firestore ledger), of every
    new incident (IAM `serviceAccounts.get`, Artifact Registry `tags.get`, the Policy
    Troubleshooter, Pub/Sub `publish`), of a grant (`getIamPolicy`, `setIamPolicy`) and of
    the rarer reads (`repositories.get`, `folders.get`, `roles.get`, the policies up the
    hierarchy). The generated clients of those APIs would send the same requests, but
    importing them costs more than the rest of a cold start (container_v1's types alone take
    about 130 ms, google-cloud-pubsub about 600 ms, google-cloud-compute about 1.5 s,
    firestore_v1 about 300 ms, google-cloud-iam's admin client, gRPC only, grpc and
    protobuf with it), and a `fields` mask keeps each answer to what pullfix reads.

    `HttpTransport` reads the environment's proxy and CA settings once, and follows no
    redirect. No answer at all raises its `TransportError` (an OSError, which
    `pullfix.gcp.adapter.guard` takes for a transient failure).
    """

    def __init__(
        self,
        transport: Transport | None,
        bases: Mapping[str, str],
        transports: Mapping[str, Transport] | None = None,
        *,
        make: Callable[[], Transport] | None = None,
    ) -> None:
        """`transport` serves every API but those `transports` names (an emulator's,
        without credentials); when it is None, `make()` makes it on the first call of an API
        it serves (so that Application Default Credentials are looked for only when an API
        needs them)."""
        if transport is None and make is None:
            raise ValueError("RestClient needs a transport, or a function that makes it")
        self._default = transport
        self._make = make
        self.bases = bases  # API -> scheme://host
        self.transports = dict(transports or {})
        self._made_lock = threading.Lock()

    @property
    def default(self) -> Transport:
        """The transport of every API without one of its own (made now if not yet)."""
        if self._default is None:
            with self._made_lock:
                if self._default is None:
                    assert self._make is not None
                    self._default = self._make()
        return self._default

    def get(
        self,
        api: str,
        template: str,
        *parts: str,
        fields: str | None,
        timeout: float,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """GET `template` (its `{}` filled with `parts`, each path-escaped) on `api`, only the
        `fields` pullfix reads (None: the whole resource), with `params` in the query."""
        query = {**({"fields": fields} if fields is not None else {}), **(params or {})}
        return self._call("GET", api, template, parts, query, None, timeout)

    def post(
        self,
        api: str,
        template: str,
        *parts: str,
        body: Mapping[str, Any],
        timeout: float,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST `body` as JSON to `template` (filled as for `get`) on `api`, with `params`
        in the query."""
        return self._call("POST", api, template, parts, params, body, timeout)

    def _call(
        self,
        method: str,
        api: str,
        template: str,
        parts: tuple[str, ...],
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        timeout: float,
    ) -> dict[str, Any]:
        from urllib.parse import quote, urlencode

        path = template.format(*(quote(part, safe="") for part in parts))
        url = self.bases[api] + path + (f"?{urlencode(params)}" if params else "")
        headers = {"User-Agent": "pullfix", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        transport = self.transports.get(api) or self.default
        response = transport.request(method, url, headers=headers, body=data, timeout=timeout)
        if response.status >= 400:
            raise error_from_response(response.status, response.body)
        answer: dict[str, Any] = response.json()
        return answer

    @property
    def transport(self) -> RestClient:
        return self

    def close(self) -> None:
        """Close the idle connections of every transport made so far."""
        for own in self.transports.values():
            own.close()
        if self._default is not None:
            self._default.close()


class GoogleClients:
    """One instance per process; each client is created when first asked for."""

    def __init__(
        self,
        endpoint: SandboxEndpoint | None,
        emulators: Mapping[str, str] | None = None,
        http: Transport | None = None,
    ) -> None:
        """`http`: the transport of pullfix's own calls (default: an `HttpTransport` made
        on first use; a `MockTransport` in unit tests)."""
        self.endpoint = endpoint
        # API (firestore, pubsub) -> http://host:port of Google's emulator for it.
        self.emulators = dict(emulators or {})
        self._lock = threading.Lock()
        if http is not None:
            self.__dict__["http"] = http

    @classmethod
    def from_env(cls) -> GoogleClients:
        """Clients for the sandbox named by PULLFIX_GCP_ENDPOINT, else for Google; Firestore
        and Pub/Sub on the emulators FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST name."""
        return cls(sandbox_endpoint(), emulator_hosts())

    def _emulator_options(self, api: str) -> dict[str, Any] | None:
        """A generated client's options for `api`'s emulator, if one is set."""
        base = self.emulators.get(api)
        if base is None:
            return None
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return {
            "transport": "rest",
            "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
            "client_options": ClientOptions(api_endpoint=base),
        }

    def close(self) -> None:
        """Close the transports of every client created so far."""
        for name in (
            "container",
            "artifact_registry",
            "projects",
            "folders",
            "organizations",
            "rest",
            "chat",
            "http",
            "troubleshooter",
            "iam_admin",
            "firestore",
            "publisher",
        ):
            client = self.__dict__.pop(name, None)
            if client is not None:
                getattr(client, "transport", client).close()

    def _rest_options(self) -> dict[str, Any]:
        if self.endpoint is None:
            return {"transport": "rest"}
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return {
            "transport": "rest",
            "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
            "client_options": ClientOptions(api_endpoint=self.endpoint.rest),
        }

    def _grpc_channel(self) -> Any:
        import grpc

        assert self.endpoint is not None
        return grpc.insecure_channel(self.endpoint.grpc)

    @cached_property
    def container(self) -> container_v1.ClusterManagerClient:
        from google.cloud import container_v1

        with self._lock:
            return container_v1.ClusterManagerClient(**self._rest_options())

    @cached_property
    def artifact_registry(self) -> artifactregistry_v1.ArtifactRegistryClient:
        from google.cloud import artifactregistry_v1

        with self._lock:
            return artifactregistry_v1.ArtifactRegistryClient(**self._rest_options())

    @cached_property
    def projects(self) -> resourcemanager_v3.ProjectsClient:
        from google.cloud import resourcemanager_v3

        with self._lock:
            return resourcemanager_v3.ProjectsClient(**self._rest_options())

    @cached_property
    def folders(self) -> resourcemanager_v3.FoldersClient:
        from google.cloud import resourcemanager_v3

        with self._lock:
            return resourcemanager_v3.FoldersClient(**self._rest_options())

    @cached_property
    def organizations(self) -> resourcemanager_v3.OrganizationsClient:
        from google.cloud import resourcemanager_v3

        with self._lock:
            return resourcemanager_v3.OrganizationsClient(**self._rest_options())

    @cached_property
    def http(self) -> Transport:
        """The process's HTTP transport (its connections pooled per host), which reads the
        environment's proxy and CA settings once: Google's REST APIs, the token and
        metadata server calls, the webhooks and the chat APIs share it."""
        from pullfix.gcp.transport import HttpTransport

        with self._lock:
            return HttpTransport()

    def _authorized(self, scopes: list[str]) -> Transport:
        """The shared transport with Application Default Credentials for `scopes` (looked
        up now: call it on the first call that needs them)."""
        from pullfix.gcp.credentials import default_credentials
        from pullfix.gcp.transport import AuthorizedTransport

        return AuthorizedTransport(self.http, default_credentials(scopes))

    @cached_property
    def rest(self) -> RestClient:
        """GKE, Resource Manager, Compute, IAM admin (service accounts, roles), Artifact
        Registry, the Policy Troubleshooter, Pub/Sub publishing and the Firestore ledger over
        HTTP/JSON (see `RestClient`): with Application Default Credentials in production,
        none at the sandbox or the emulators (anonymous: nothing to add to a request)."""
        apis = (
            "container",
            "cloudresourcemanager",
            "compute",
            "iam",
            "artifactregistry",
            "policytroubleshooter",
            "pubsub",
            "firestore",
            "serviceusage",
            "logging",
            "cloudkms",
            "cloudidentity",
            "secretmanager",
            "dns",
        )
        http = self.http
        with self._lock:
            own: dict[str, Transport] = {}
            for api in self.emulators:
                # As google-cloud-firestore calls its emulator: an administrator's token,
                # which the emulator's security rules do not restrict.
                own[api] = (
                    _Headers(http, {"Authorization": "Bearer owner"})
                    if api == "firestore"
                    else http
                )
            if self.endpoint is None:
                bases = {api: f"https://{api}.googleapis.com" for api in apis}
                bases.update(self.emulators)
                scopes = ["https://www.googleapis.com/auth/cloud-platform"]
                return RestClient(None, bases, own, make=lambda: self._authorized(scopes))
            bases = dict.fromkeys(apis, self.endpoint.rest)
            bases.update(self.emulators)
            return RestClient(http, bases, own)

    @cached_property
    def chat(self) -> RestClient:
        """Google Chat's API as the Chat app (`pullfix.gcp.chat`): the function's own service
        account with the chat.bot scope, which a Chat app's calls need instead of
        cloud-platform; anonymous at the sandbox."""
        from pullfix.gcp.chat import CHAT_SCOPE

        http = self.http
        with self._lock:
            if self.endpoint is not None:
                return RestClient(http, {"chat": self.endpoint.rest})
            return RestClient(
                None,
                {"chat": "https://chat.googleapis.com"},
                make=lambda: self._authorized([CHAT_SCOPE]),
            )

    @cached_property
    def troubleshooter(self) -> PolicyTroubleshooterClient:
        from google.cloud.policytroubleshooter_iam_v3 import PolicyTroubleshooterClient

        with self._lock:
            return PolicyTroubleshooterClient(**self._rest_options())

    @cached_property
    def publisher(self) -> PublisherClient:
        """Pub/Sub's generated Publisher client: one synchronous `publish` per outcome.

        google.cloud.pubsub_v1's batching client hands each message to a commit thread and
        waits up to `max_latency` (10 ms by default) for more; pullfix publishes one outcome
        per event and needs its message id before it acknowledges, so the unary call is all
        it needs (https://cloud.google.com/python/docs/reference/pubsub/latest/google.cloud.pubsub_v1.types.BatchSettings).
        """
        from google.pubsub_v1 import PublisherClient

        with self._lock:
            base = self.emulators.get("pubsub")
            if base is not None:
                # The generated client reads PUBSUB_EMULATOR_HOST itself and then hands its
                # REST transport a gRPC channel, which it refuses (TypeError): a transport
                # made here is used as given.
                from google.auth.credentials import AnonymousCredentials
                from google.pubsub_v1.services.publisher.transports import (
                    PublisherRestTransport,
                )

                anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
                return PublisherClient(
                    transport=PublisherRestTransport(host=base, credentials=anonymous)
                )
            return PublisherClient(**self._rest_options())

    @cached_property
    def logging(self) -> Any:
        """google-cloud-logging's Client on its HTTP/JSON transport."""
        from google.cloud import logging as cloud_logging

        with self._lock:
            if self.endpoint is None:
                return cloud_logging.Client(_use_grpc=False)  # type: ignore[no-untyped-call]
            from google.auth.credentials import AnonymousCredentials

            return cloud_logging.Client(
                project="pullfix-sandbox",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                _use_grpc=False,
                client_options={"api_endpoint": self.endpoint.rest},
            )

    @cached_property
    def iam_admin(self) -> IAMClient:
        from google.cloud.iam_admin_v1 import IAMClient
        from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

        with self._lock:
            if self.endpoint is None:
                return IAMClient()
            return IAMClient(transport=IAMGrpcTransport(channel=self._grpc_channel()))

    @cached_property
    def firestore(self) -> FirestoreClient:
        """Firestore's generated client on its REST transport. pullfix's ledger sends its
        requests as JSON over `rest`; this client reads the same documents in tests."""
        from google.cloud.firestore_v1.services.firestore import FirestoreClient

        with self._lock:
            return FirestoreClient(**(self._emulator_options("firestore") or self._rest_options()))
