"""The official Google clients pullfix uses, built on first use and then reused.

Production: Application Default Credentials and Google's endpoints, REST transport where the
client has one. With PULLFIX_GCP_ENDPOINT set: anonymous credentials, REST clients at the
sandbox URL, the gRPC client (IAM admin, which tests use; pullfix reads IAM admin over
`RestClient`) on an insecure channel to PORT+1. With
FIRESTORE_EMULATOR_HOST or PUBSUB_EMULATOR_HOST set, that API alone goes to Google's
emulator, over plain HTTP with anonymous credentials (`pullfix.gcp.endpoints`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
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

__all__ = ["GoogleClients", "RestClient"]


class RestClient:
    """Google REST APIs (JSON) over google-auth's authorized session; errors raised as
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

    The environment's proxy and CA settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE,
    CURL_CA_BUNDLE) are read once: the CA bundle when the client is made, the proxies of an
    API host on its first call. requests reads them again on every request otherwise
    (`trust_env`), walking the whole environment twice, which cost about 0.7 ms of each 2 ms
    loopback call.
    """

    def __init__(
        self,
        session: Any,
        bases: Mapping[str, str],
        sessions: Mapping[str, Any] | None = None,
    ) -> None:
        """`session` serves every API but those `sessions` names (an emulator's, without
        credentials); `session` may be a function that makes it, called on the first call of
        an API it serves (so that Application Default Credentials are looked for only when
        an API needs them)."""
        self._session = session
        self.bases = bases  # API -> scheme://host
        self.sessions = dict(sessions or {})
        self._proxies: dict[str, dict[str, str]] = {}  # by base, found on its first call
        self._made_lock = threading.Lock()
        for own in self.sessions.values():
            self._configure(own)
        if not callable(session) or hasattr(session, "request"):
            self._configure(session)

    @staticmethod
    def _configure(session: Any) -> None:
        # What requests' merge_environment_settings would find, found once.
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False

    @property
    def session(self) -> Any:
        """The session of every API without one of its own (made now if not yet)."""
        if callable(self._session) and not hasattr(self._session, "request"):
            with self._made_lock:
                if not hasattr(self._session, "request"):
                    made = self._session()
                    self._configure(made)
                    self._session = made
        return self._session

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
        from urllib.parse import quote

        base = self.bases[api]
        proxies = self._proxies.get(base)
        if proxies is None:
            from requests.utils import get_environ_proxies

            proxies = self._proxies.setdefault(base, get_environ_proxies(base))
        path = template.format(*(quote(part, safe="") for part in parts))
        session = self.sessions.get(api) or self.session
        response = session.request(
            method, base + path, params=params, json=body, timeout=timeout, proxies=proxies
        )
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content)
        answer: dict[str, Any] = response.json()
        return answer

    @property
    def transport(self) -> RestClient:
        return self

    def close(self) -> None:
        """Close every session made so far."""
        for own in self.sessions.values():
            own.close()
        if hasattr(self._session, "request"):
            self._session.close()


class GoogleClients:
    """One instance per process; each client is created when first asked for."""

    def __init__(
        self, endpoint: SandboxEndpoint | None, emulators: Mapping[str, str] | None = None
    ) -> None:
        self.endpoint = endpoint
        # API (firestore, pubsub) -> http://host:port of Google's emulator for it.
        self.emulators = dict(emulators or {})
        self._lock = threading.Lock()

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
            "troubleshooter",
            "iam_admin",
            "firestore",
            "publisher",
        ):
            client = self.__dict__.pop(name, None)
            if client is not None:
                client.transport.close()

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
    def rest(self) -> RestClient:
        """GKE, Resource Manager, Compute, IAM admin (service accounts, roles), Artifact
        Registry, the Policy Troubleshooter, Pub/Sub publishing and the Firestore ledger over
        HTTP/JSON (see `RestClient`)."""
        from google.auth.transport.requests import AuthorizedSession

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
        from google.auth.credentials import AnonymousCredentials

        with self._lock:
            session: Any
            if self.endpoint is None:

                def session() -> Any:
                    import google.auth

                    credentials, _ = google.auth.default(
                        scopes=["https://www.googleapis.com/auth/cloud-platform"]
                    )
                    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]

                bases = {api: f"https://{api}.googleapis.com" for api in apis}
            else:
                anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
                session = AuthorizedSession(anonymous)  # type: ignore[no-untyped-call]
                bases = dict.fromkeys(apis, self.endpoint.rest)
            own: dict[str, Any] = {}
            for api, base in self.emulators.items():
                bases[api] = base
                own[api] = AuthorizedSession(AnonymousCredentials())  # type: ignore[no-untyped-call]
                if api == "firestore":  # as google-cloud-firestore calls its emulator
                    own[api].headers["Authorization"] = "Bearer owner"
            return RestClient(session, bases, own)

    @cached_property
    def chat(self) -> RestClient:
        """Google Chat's API as the Chat app (`pullfix.gcp.chat`): the function's own service
        account with the chat.bot scope, which a Chat app's calls need instead of
        cloud-platform; anonymous at the sandbox."""
        from google.auth.credentials import AnonymousCredentials
        from google.auth.transport.requests import AuthorizedSession

        from pullfix.gcp.chat import CHAT_SCOPE

        with self._lock:
            if self.endpoint is not None:
                anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
                session = AuthorizedSession(anonymous)  # type: ignore[no-untyped-call]
                return RestClient(session, {"chat": self.endpoint.rest})

            def made() -> Any:
                import google.auth

                credentials, _ = google.auth.default(scopes=[CHAT_SCOPE])
                return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]

            return RestClient(made, {"chat": "https://chat.googleapis.com"})

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
