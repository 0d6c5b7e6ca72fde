"""The official Google clients pullfix uses, built on first use and then reused.

Production: Application Default Credentials and Google's endpoints, REST transport where the
client has one. With PULLFIX_GCP_ENDPOINT set: anonymous credentials, REST clients at the
sandbox URL, gRPC clients (IAM admin, Firestore) on an insecure channel to PORT+1.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pullfix.gcp.endpoints import SandboxEndpoint, sandbox_endpoint

if TYPE_CHECKING:
    from google.cloud import artifactregistry_v1, container_v1, resourcemanager_v3
    from google.cloud.firestore_v1.services.firestore import FirestoreClient
    from google.cloud.iam_admin_v1 import IAMClient
    from google.cloud.policytroubleshooter_iam_v3 import PolicyTroubleshooterClient
    from google.pubsub_v1 import PublisherClient

__all__ = ["GoogleClients", "RestReader"]


class RestReader:
    """GETs of Google REST APIs (JSON) over google-auth's authorized session; errors raised
    as google.api_core's, as the generated clients raise them.

    For the reads every first event makes (GKE `clusters.get`, Resource Manager
    `projects.get`, Compute `instances.get`) and every new incident makes (Artifact Registry
    `tags.get`): the generated clients of those APIs would send
    the same requests, but importing them costs more than the rest of a cold start
    (container_v1's types alone take about 130 ms, google-cloud-compute about 1.5 s), and a
    `fields` mask keeps each answer to what pullfix reads.
    """

    def __init__(self, session: Any, bases: Mapping[str, str]) -> None:
        self.session = session
        self.bases = bases  # API -> scheme://host

    def get(
        self, api: str, template: str, *parts: str, fields: str, timeout: float
    ) -> dict[str, Any]:
        """GET `template` (its `{}` filled with `parts`, each path-escaped) on `api`."""
        from urllib.parse import quote

        from google.api_core import exceptions

        path = template.format(*(quote(part, safe="") for part in parts))
        response = self.session.get(
            self.bases[api] + path, params={"fields": fields}, timeout=timeout
        )
        if response.status_code >= 400:
            raise exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
        body: dict[str, Any] = response.json()
        return body

    @property
    def transport(self) -> Any:
        return self.session


class GoogleClients:
    """One instance per process; each client is created when first asked for."""

    def __init__(self, endpoint: SandboxEndpoint | None) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> GoogleClients:
        """Clients for the sandbox named by PULLFIX_GCP_ENDPOINT, else for Google."""
        return cls(sandbox_endpoint())

    def close(self) -> None:
        """Close the transports of every client created so far."""
        for name in (
            "container",
            "artifact_registry",
            "projects",
            "folders",
            "organizations",
            "rest",
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
    def rest(self) -> RestReader:
        """GKE, Resource Manager, Compute and Artifact Registry tag reads over HTTP/JSON
        (see `RestReader`)."""
        from google.auth.transport.requests import AuthorizedSession

        apis = ("container", "cloudresourcemanager", "compute", "artifactregistry")
        with self._lock:
            if self.endpoint is None:
                import google.auth

                credentials, _ = google.auth.default(
                    scopes=["https://www.googleapis.com/auth/cloud-platform"]
                )
                bases = {api: f"https://{api}.googleapis.com" for api in apis}
            else:
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
                bases = dict.fromkeys(apis, self.endpoint.rest)
            session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
            return RestReader(session, bases)

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
        from google.cloud.firestore_v1.services.firestore import FirestoreClient
        from google.cloud.firestore_v1.services.firestore.transports import (
            FirestoreGrpcTransport,
        )

        with self._lock:
            if self.endpoint is None:
                return FirestoreClient()
            return FirestoreClient(transport=FirestoreGrpcTransport(channel=self._grpc_channel()))
