"""The Google adapter: `pullfix.core.model.GoogleApis` on the official client libraries.

Every call has a short timeout and a bounded retry; what still fails transiently becomes
`TransientError` (Pub/Sub redelivers), what pullfix may not do becomes `AccessDenied`.
Cluster, project and service-account lookups are cached per instance for a short while.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from pullfix.checks.registry import read_permissions
from pullfix.core.access import verdict_from_troubleshooter
from pullfix.core.model import (
    DOWNLOAD_PERMISSION,
    AccessDenied,
    AccessVerdict,
    AccountInfo,
    Binding,
    ClusterInfo,
    GrantResult,
    InstanceGroup,
    NodePoolInfo,
    PolicyView,
    TransientError,
)
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.errors import Conflict, Denied, NotFound, Retryable, api_error
from pullfix.gcp.retries import Retry, bounded_retry

if TYPE_CHECKING:
    from pullfix.core.policy import GrantCondition

__all__ = ["PERMISSIONS", "GoogleAdapter", "PubSubPublisher", "guard", "list_log_entries"]

T = TypeVar("T")

# Every permission pullfix's calls need, next to the code that makes them: the reads are the
# ones the diagnosis checks declare (`pullfix.checks`, `Check.reads`); the IAM write, the
# publisher's and verification's log read are here. Terraform's custom roles hold exactly
# these (`functions/pullfix/permissions.json`, built by `python -m pullfix.checks
# --permissions`).
PERMISSIONS = {
    **read_permissions(),
    "add_member_repository": (
        "artifactregistry.repositories.getIamPolicy",
        "artifactregistry.repositories.setIamPolicy",
    ),
    "add_member_project": (
        "resourcemanager.projects.getIamPolicy",
        "resourcemanager.projects.setIamPolicy",
    ),
    "publish": ("pubsub.topics.publish",),
    # Approvers by Google group (`auto_grant.approvers: group:EMAIL`): Cloud Identity's
    # groups.lookup and groups.memberships.checkTransitiveMembership take no IAM permission;
    # Google Workspace authorizes them: the approve function's account needs the Groups
    # Reader admin role, or to be allowed to view the group's members (docs/permissions.md).
    "approver_groups": (),
    # Verification: the kubelet's events of an incident's cluster since the action.
    "verify_logs": ("logging.logEntries.list",),
    # The Firestore ledger's reads, creates, updates and deletes (pullfix.engine.ledger's
    # FirestoreLedger, over these clients' REST session).
    "ledger": (
        "datastore.entities.create",
        "datastore.entities.delete",
        "datastore.entities.get",
        "datastore.entities.list",
        "datastore.entities.update",
    ),
}

CALL_TIMEOUT = 10.0
CONFLICT_ATTEMPTS = 8
_RETRY_BUDGET = 4.0
_RETRY = bounded_retry(_RETRY_BUDGET)


def _retry_within(timeout: float) -> Retry:
    """The calls' retry, its budget no longer than one call's timeout."""
    return _RETRY.with_timeout(min(_RETRY_BUDGET, timeout))


# What pullfix reads of a cluster (GKE API v1 `Cluster`, REST field names).
_CLUSTER_FIELDS = (
    "name,location,currentMasterVersion,currentNodeVersion,"
    "nodePools(name,version,instanceGroupUrls,config/serviceAccount,config/oauthScopes)"
)


class _TtlCache:
    """Results kept for `ttl` seconds, at most `size` of them: the keys come from events, so
    a storm of distinct ones must not grow an instance's memory without bound."""

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] > now:
                value: T = hit[1]
                return value
        value = load()
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (now + self.ttl, value)
            while len(self._items) > self.size:  # the oldest entry first (insertion order)
                del self._items[next(iter(self._items))]
        return value


def guard(what: str, call: Callable[[], T], needs: tuple[str, ...] = ()) -> T:
    """Run a client call, turning its failures into pullfix's two kinds.

    `needs` names the permissions the call takes, so that a denial says which is missing.
    """
    try:
        return call()
    except Exception as exc:
        error = api_error(exc)
        if error is None:
            # Connection refused or reset, the transport's own timeout (requests' errors are
            # OSErrors), anything else of the transport layer (a grpc channel's errors), or
            # google-auth failing to reach its token endpoint or told to try again (the
            # metadata server's blips): Pub/Sub redelivers.
            if (
                isinstance(exc, OSError)
                or type(exc).__module__.startswith(("requests", "urllib3", "grpc"))
                or _auth_transient(exc)
            ):
                raise TransientError(f"{what}: {exc}") from exc
            raise
        if isinstance(error, Denied):
            wanted = f" (needs {', '.join(needs)})" if needs else ""
            raise AccessDenied(f"{what}: {error.message}{wanted}", call=what, needs=needs) from exc
        if isinstance(error, Retryable):
            raise TransientError(f"{what}: {error}") from exc
        # A permanent answer about the world: what was asked goes with it, so that the
        # incident it ends can say so (callers still catch NotFound and Conflict by kind).
        error.call, error.needs = error.call or what, error.needs or needs
        if error is exc:
            raise
        raise error from exc  # a generated client's error, as pullfix's own kind


def _cel_string(text: str) -> str:
    """`text` inside a single-quoted CEL string literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _auth_transient(exc: BaseException) -> bool:
    """A google-auth failure that a later attempt may not meet: its TransportError, or an
    error it marks `retryable` (a token endpoint's 5xx)."""
    if not type(exc).__module__.startswith("google.auth"):
        return False
    from google.auth import exceptions as auth_exceptions

    return isinstance(exc, auth_exceptions.TransportError) or bool(getattr(exc, "retryable", False))


def _policy_view(policy: Any) -> PolicyView:
    bindings = tuple(
        Binding(
            role=b.role,
            members=frozenset(b.members),
            condition=(
                f"{b.condition.title or 'untitled'}: {b.condition.expression}"
                if b.HasField("condition") and b.condition.expression
                else None
            ),
        )
        for b in policy.bindings
    )
    return PolicyView(bindings=bindings, etag=bytes(policy.etag), raw=policy)


class GoogleAdapter:
    """GoogleApis over the official clients (production, or the sandbox)."""

    def __init__(
        self, clients: GoogleClients, *, cache_ttl: float = 60.0, timeout: float = CALL_TIMEOUT
    ) -> None:
        self.clients = clients
        self.timeout = timeout
        self.retry = _retry_within(timeout)
        self._clusters = _TtlCache(cache_ttl)
        self._accounts = _TtlCache(cache_ttl)
        self._numbers = _TtlCache(3600.0)
        self._resource_policies = _TtlCache(min(cache_ttl, 30.0))
        self._instances = _TtlCache(600.0)  # a node's instance group never changes
        self._verdicts = _TtlCache(min(cache_ttl, 30.0))
        self._parents = _TtlCache(3600.0)
        self._roles = _TtlCache(3600.0)
        # Repository and tag existence: a storm of one incident asks once, not per event.
        self._existence = _TtlCache(min(cache_ttl, 30.0))

    def cluster(self, project: str, location: str, name: str) -> ClusterInfo | None:
        resource = f"projects/{project}/locations/{location}/clusters/{name}"
        return self._clusters.get(resource, lambda: self._load_cluster(resource, project))

    def _load_cluster(self, resource: str, project: str) -> ClusterInfo | None:
        try:
            cluster = guard(
                f"reading {resource}",
                lambda: self.retry(self.clients.rest.get)(
                    "container",
                    "/v1/projects/{}/locations/{}/clusters/{}",
                    *resource.split("/")[1::2],
                    fields=_CLUSTER_FIELDS,
                    timeout=self.timeout,
                ),
                PERMISSIONS["cluster"],
            )
        except NotFound:
            return None
        pools = tuple(
            NodePoolInfo(
                name=str(pool.get("name", "")),
                service_account=(pool.get("config") or {}).get("serviceAccount") or "default",
                oauth_scopes=tuple((pool.get("config") or {}).get("oauthScopes") or ()),
                version=pool.get("version") or cluster.get("currentNodeVersion") or "",
                instance_groups=tuple(
                    group
                    for group in map(InstanceGroup.from_url, pool.get("instanceGroupUrls") or ())
                    if group is not None
                ),
            )
            for pool in cluster.get("nodePools") or ()
        )
        return ClusterInfo(
            project=project,
            location=str(cluster.get("location", "")),
            name=str(cluster.get("name", "")),
            master_version=str(cluster.get("currentMasterVersion", "")),
            node_pools=pools,
        )

    def project_number(self, project: str) -> int | None:
        found = self._numbers.get(project, lambda: self._load_project(project))
        return found[0] if found is not None else None

    def _load_project(self, project: str) -> tuple[int, str] | None:
        """The project's number and parent (`folders/N`, `organizations/N` or "")."""
        try:
            got = guard(
                f"reading project {project}",
                lambda: self.retry(self.clients.rest.get)(
                    "cloudresourcemanager",
                    "/v3/projects/{}",
                    project,
                    fields="name,parent",
                    timeout=self.timeout,
                ),
                PERMISSIONS["project_number"],
            )
        except NotFound:
            return None
        return int(str(got["name"]).split("/")[1]), str(got.get("parent") or "")

    def node_created_by(self, project: str, zone: str, node: str) -> str | None:
        return self._instances.get(
            (project, zone, node), lambda: self._load_created_by(project, zone, node)
        )

    def _load_created_by(self, project: str, zone: str, node: str) -> str | None:
        try:
            instance = guard(
                f"reading instance {node} in {zone}",
                lambda: self.retry(self.clients.rest.get)(
                    "compute",
                    "/compute/v1/projects/{}/zones/{}/instances/{}",
                    project,
                    zone,
                    node,
                    fields="name,metadata/items",
                    timeout=self.timeout,
                ),
                PERMISSIONS["node_instance"],
            )
        except NotFound:
            return None
        items = (instance.get("metadata") or {}).get("items") or []
        return next(
            (str(item.get("value", "")) for item in items if item.get("key") == "created-by"), ""
        )

    def repository_mode(self, repository: str) -> str | None:
        return self._existence.get(("mode", repository), lambda: self._load_mode(repository))

    def _load_mode(self, repository: str) -> str | None:
        try:
            got = guard(
                f"reading {repository}",
                lambda: self.retry(self.clients.artifact_registry.get_repository)(
                    name=repository, timeout=self.timeout, retry=None
                ),
                PERMISSIONS["repository_exists"],
            )
        except NotFound:
            return None
        return type(got).Mode(got.mode).name if got.mode else "STANDARD_REPOSITORY"

    def troubleshoot(self, email: str, repository: str) -> AccessVerdict:
        return self._verdicts.get(
            (email, repository), lambda: self._troubleshoot(email, repository)
        )

    def _troubleshoot(self, email: str, repository: str) -> AccessVerdict:
        """Policy Troubleshooter v3 `iam.troubleshoot` (https://cloud.google.com/
        policy-intelligence/docs/reference/troubleshooter/rest/v3/iam/troubleshoot)."""
        from datetime import UTC, datetime

        from pullfix.core.intake import format_timestamp

        body = {
            "accessTuple": {
                "principal": email,
                "fullResourceName": f"//artifactregistry.googleapis.com/{repository}",
                "permission": DOWNLOAD_PERMISSION,
                # What conditions on time and on the resource are evaluated against.
                "conditionContext": {
                    "resource": {
                        "name": repository,
                        "service": "artifactregistry.googleapis.com",
                        "type": "artifactregistry.googleapis.com/Repository",
                    },
                    "request": {"receiveTime": format_timestamp(datetime.now(UTC))},
                },
            }
        }
        response = guard(
            f"troubleshooting {email}'s access to {repository}",
            lambda: self.retry(self.clients.rest.post)(
                "policytroubleshooter", "/v3/iam:troubleshoot", body=body, timeout=self.timeout
            ),
            PERMISSIONS["troubleshoot"],
        )
        return verdict_from_troubleshooter(response)

    def ancestry(self, project: str) -> tuple[str, ...]:
        found = self._numbers.get(project, lambda: self._load_project(project))
        chain: list[str] = []
        parent = found[1] if found is not None else ""
        while parent.startswith("folders/") and len(chain) < 12:  # folders nest 10 deep
            chain.append(parent)
            parent = self._parents.get(parent, lambda p=parent: self._load_folder_parent(p))  # type: ignore[misc]
        if parent.startswith("organizations/"):
            chain.append(parent)
        return tuple(chain)

    def _load_folder_parent(self, folder: str) -> str:
        got = guard(
            f"reading {folder}",
            lambda: self.retry(self.clients.folders.get_folder)(
                name=folder, timeout=self.timeout, retry=None
            ),
            PERMISSIONS["ancestry"],
        )
        return str(got.parent)

    def resource_policy(self, resource: str) -> PolicyView:
        return self._resource_policies.get(
            resource, lambda: _policy_view(self._read_policy(resource))
        )

    def role_permissions(self, role: str) -> frozenset[str]:
        return self._roles.get(role, lambda: self._load_role(role))

    def _load_role(self, role: str) -> frozenset[str]:
        got = guard(
            f"reading role {role}",
            lambda: self.retry(self.clients.iam_admin.get_role)(
                request={"name": role}, timeout=self.timeout, retry=None
            ),
            PERMISSIONS["role_permissions"],
        )
        return frozenset(got.included_permissions)

    def group_has_member(self, group: str, member: str) -> bool:
        """Whether `member` (an email) belongs to the Google group `group` (an email),
        directly or through nested groups: Cloud Identity's `groups.lookup` gives the group's
        resource name (https://cloud.google.com/identity/docs/reference/rest/v1/groups/lookup),
        then `groups.memberships.checkTransitiveMembership`
        (https://cloud.google.com/identity/docs/reference/rest/v1/groups.memberships/checkTransitiveMembership)
        answers `hasMembership`. Never cached: a click is checked as the group stands.
        AccessDenied when Cloud Identity refuses pullfix, TransientError when it fails."""
        what = f"checking whether {member} is a member of the group {group}"
        needs = ("the Groups Reader admin role, or view access to the group's members",)
        found = guard(
            what,
            lambda: self.retry(self.clients.rest.get)(
                "cloudidentity",
                "/v1/groups:lookup",
                fields="name",
                params={"groupKey.id": group},
                timeout=self.timeout,
            ),
            needs,
        )
        name = str(found.get("name") or "")
        if not name.startswith("groups/") or "/" in name.removeprefix("groups/"):
            raise AccessDenied(f"{what}: Cloud Identity named no group", call=what, needs=needs)
        answer = guard(
            what,
            lambda: self.retry(self.clients.rest.get)(
                "cloudidentity",
                "/v1/groups/{}/memberships:checkTransitiveMembership",
                name.removeprefix("groups/"),
                fields="hasMembership",
                params={"query": f"member_key_id == '{_cel_string(member)}'"},
                timeout=self.timeout,
            ),
            needs,
        )
        return answer.get("hasMembership") is True

    def service_account(self, email: str) -> AccountInfo:
        return self._accounts.get(email, lambda: self._load_account(email))

    def _load_account(self, email: str) -> AccountInfo:
        name = f"projects/-/serviceAccounts/{email}"
        try:
            account = guard(
                f"reading {name}",
                lambda: self.retry(self.clients.iam_admin.get_service_account)(
                    name=name, timeout=self.timeout, retry=None
                ),
                PERMISSIONS["service_account"],
            )
        except NotFound:
            return AccountInfo(email=email, exists=False)
        return AccountInfo(email=email, exists=True, disabled=bool(account.disabled))

    def _exists(self, name: str, read: Callable[[], Any], needs: tuple[str, ...]) -> bool:
        return self._existence.get(name, lambda: self._read_exists(name, read, needs))

    def _read_exists(self, name: str, read: Callable[[], Any], needs: tuple[str, ...]) -> bool:
        try:
            guard(
                f"reading {name}",
                read,
                needs,
            )
        except NotFound:
            return False
        return True

    def repository_exists(self, repository: str) -> bool:
        return self.repository_mode(repository) is not None

    def tag_exists(self, repository: str, image_path: str, tag: str) -> bool:
        package = urllib.parse.quote(image_path, safe="")
        name = f"{repository}/packages/{package}/tags/{tag}"

        def read() -> None:
            # A JSON GET: every new incident asks it, and the tag's name is all it needs.
            self.retry(self.clients.rest.get)(
                "artifactregistry",
                "/v1/projects/{}/locations/{}/repositories/{}/packages/{}/tags/{}",
                *repository.split("/")[1::2],
                image_path,
                tag,
                fields="name",
                timeout=self.timeout,
            )

        return self._exists(name, read, PERMISSIONS["tag_exists"])

    def repository_policy(self, repository: str) -> PolicyView:
        return _policy_view(self._read_policy(repository))

    def _client_for(self, resource: str) -> tuple[Any, tuple[str, ...]]:
        if "/repositories/" in resource:
            return self.clients.artifact_registry, PERMISSIONS["repository_policy"]
        if resource.startswith("folders/"):
            return self.clients.folders, PERMISSIONS["folder_policy"]
        if resource.startswith("organizations/"):
            return self.clients.organizations, PERMISSIONS["organization_policy"]
        return self.clients.projects, PERMISSIONS["project_policy"]

    def _read_policy(self, resource: str) -> Any:
        # requestedPolicyVersion 3: "Requests for policies with any conditional role bindings
        # must specify version 3"; read at 1, a conditional binding comes back as a role
        # suffixed `_withcond_…` without its condition ("Policy versions",
        # https://cloud.google.com/iam/docs/policies#versions; GetPolicyOptions).
        client, needs = self._client_for(resource)
        return guard(
            f"reading the IAM policy of {resource}",
            lambda: self.retry(client.get_iam_policy)(
                request={"resource": resource, "options": {"requested_policy_version": 3}},
                timeout=self.timeout,
                retry=None,
            ),
            needs,
        )

    def add_member(
        self,
        resource: str,
        role: str,
        member: str,
        first: PolicyView | None = None,
        *,
        condition: GrantCondition | None = None,
    ) -> GrantResult:
        """Read-modify-write at version 3 with the etag; re-read and retry on 409. With a
        `condition`, the member goes into a binding of its own under that condition ("a
        conditional binding is a binding of its own", https://cloud.google.com/iam/docs/
        conditions-overview); a member already bound unconditionally needs nothing."""

        def change(policy: Any) -> bool:
            plain = _binding(policy, role, None)
            if plain is not None and member in plain.members:
                return False
            title = condition.title if condition is not None else None
            target = plain if condition is None else _binding(policy, role, title)
            if target is not None and member in target.members:
                return False
            if target is None:
                target = policy.bindings.add(role=role)
                if condition is not None:
                    target.condition.title = condition.title
                    target.condition.expression = condition.expression
                    target.condition.description = condition.description
            target.members.append(member)
            return True

        return self._rewrite(resource, change, first)

    def remove_member(
        self, resource: str, role: str, member: str, condition_title: str | None = None
    ) -> GrantResult:
        """Take `member` out of one binding of `role` (the unconditional one, or the one
        whose condition has `condition_title`); a binding left empty goes. Every other
        member, binding and condition is written back as read (version 3, with the etag)."""

        def change(policy: Any) -> bool:
            target = _binding(policy, role, condition_title)
            if target is None or member not in target.members:
                return False
            target.members.remove(member)
            if not target.members:
                policy.bindings.remove(target)
            return True

        return self._rewrite(resource, change)

    def _rewrite(
        self, resource: str, change: Callable[[Any], bool], first: PolicyView | None = None
    ) -> GrantResult:
        """One IAM read-modify-write: `change` edits the policy read at version 3 (False:
        nothing to write); it is written with the etag it was read with, and on 409 ABORTED
        ("concurrent policy changes") read and changed again."""
        client, _ = self._client_for(resource)
        repository = "/repositories/" in resource
        needs = PERMISSIONS["add_member_repository" if repository else "add_member_project"]
        policy = first.raw if first is not None and first.raw is not None else None
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            if policy is None:
                policy = self._read_policy(resource)
            if not change(policy):
                return GrantResult(changed=False, attempts=attempt)
            # Version 3 on every write: "any operation that affects conditional role
            # bindings must specify version 3", and the etag goes with it so a policy with
            # conditions is never overwritten by one without (https://cloud.google.com/iam/
            # docs/reference/rest/v1/Policy, `version`).
            policy.version = 3
            request = {"resource": resource, "policy": policy}
            try:
                guard(
                    f"writing the IAM policy of {resource}",
                    lambda: client.set_iam_policy(request=request, timeout=self.timeout),  # noqa: B023
                    needs,
                )
                return GrantResult(changed=True, attempts=attempt)
            except Conflict:
                policy = None
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311
        raise TransientError(
            f"{resource}: the IAM policy kept changing under {CONFLICT_ATTEMPTS} "
            "read-modify-write attempts"
        )


def _binding(policy: Any, role: str, condition_title: str | None) -> Any:
    """The binding of `role` without a condition (title None), or with a condition titled so."""
    for binding in policy.bindings:
        if binding.role != role:
            continue
        conditional = binding.HasField("condition") and bool(binding.condition.expression)
        if condition_title is None and not conditional:
            return binding
        if (
            condition_title is not None
            and conditional
            and binding.condition.title == condition_title
        ):
            return binding
    return None


class PubSubPublisher:
    """Publishes outcomes (JSON) with their cause, action and fingerprint as attributes:
    Pub/Sub's `topics.publish` (https://cloud.google.com/pubsub/docs/reference/rest/v1/
    projects.topics/publish), one message per call, its id known before the event is
    acknowledged."""

    def __init__(self, clients: GoogleClients, topic: str, timeout: float = CALL_TIMEOUT) -> None:
        self.clients = clients
        self.topic = topic
        # projects/P/topics/T, as outcomes_topic() checked it: the URL's two path parameters.
        _, self._project, _, self._name = topic.split("/")
        self.timeout = timeout
        self.retry = _retry_within(timeout)

    def publish(self, outcome: dict[str, Any]) -> None:
        import base64

        data = json.dumps(outcome, separators=(",", ":")).encode()
        attributes = {
            "schema": str(outcome.get("schema", "")),
            "cause": str(outcome.get("cause", "")),
            "action": str(outcome.get("action", "")),
            "fingerprint": str(outcome.get("fingerprint", "")),
        }
        body = {"messages": [{"data": base64.b64encode(data).decode(), "attributes": attributes}]}
        guard(
            f"publishing to {self.topic}",
            lambda: self.retry(self.clients.rest.post)(
                "pubsub",
                "/v1/projects/{}/topics/{}:publish",
                self._project,
                self._name,
                body=body,
                timeout=self.timeout,
            ),
        )


def list_log_entries(
    logging_client: Any, resource_names: list[str], filter_text: str, page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every LogEntry matching the filter, oldest first, as the camelCase JSON a log sink
    publishes (google-cloud-logging's HTTP/JSON client)."""
    for entry in logging_client.list_entries(
        resource_names=resource_names,
        filter_=filter_text,
        order_by="timestamp asc",
        page_size=page_size,
    ):
        data: dict[str, Any] = entry.to_api_repr()
        yield data
