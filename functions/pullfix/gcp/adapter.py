"""The Google adapter: `pullfix.core.model.GoogleApis` on Google's REST APIs (JSON, over
pullfix's one transport with Application Default Credentials: `pullfix.gcp.clients.RestClient`,
`pullfix.gcp.transport`), so that no event loads a generated client, grpc or requests.

Every call has a short timeout and a bounded retry; what still fails transiently becomes
`TransientError` (Pub/Sub redelivers), what pullfix may not do becomes `AccessDenied`.
Cluster, project and service-account lookups are cached per instance for a short while.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import random
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from pullfix.checks.registry import read_permissions
from pullfix.clock import SYSTEM, Clock
from pullfix.core.access import verdict_from_troubleshooter
from pullfix.core.model import (
    DOWNLOAD_PERMISSION,
    AccessDenied,
    AccessVerdict,
    AccountInfo,
    Binding,
    ClusterInfo,
    ClusterNetwork,
    DnsRecord,
    DnsZone,
    DockerImageInfo,
    FirewallRule,
    GrantResult,
    InstanceGroup,
    NodePoolInfo,
    PolicyView,
    RouteInfo,
    RouterNat,
    SubnetInfo,
    TransientError,
)
from pullfix.core.vpcsc import (
    VpcScDenial,
    denial_from_entry,
    policy_log_filter,
    principal_log_filter,
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


def _retry_within(timeout: float, clock: Clock = SYSTEM) -> Retry:
    """The calls' retry, its budget no longer than one call's timeout."""
    return bounded_retry(min(_RETRY_BUDGET, timeout), clock)


# What pullfix reads of a cluster (GKE API v1 `Cluster`, REST field names).
_CLUSTER_FIELDS = (
    "name,location,currentMasterVersion,currentNodeVersion,"
    "nodePools(name,version,instanceGroupUrls,config/serviceAccount,config/oauthScopes,"
    "config/imageType,config/gcfsConfig/enabled),"
    # The cluster's kind: Autopilot, and the defaults its auto-created pools take.
    "autopilot/enabled,"
    "autoscaling/autoprovisioningNodePoolDefaults(serviceAccount,oauthScopes)"
)


# What pullfix reads of a repository (Artifact Registry v1 `Repository`): one read for the
# existence, key and upstream checks; never the password, only the secret version's name.
_REPOSITORY_FIELDS = (
    "name,mode,kmsKeyName,"
    "remoteRepositoryConfig/upstreamCredentials/usernamePasswordCredentials/passwordSecretVersion,"
    "remoteRepositoryConfig/dockerRepository(publicRepository,customRepository/uri),"
    "remoteRepositoryConfig/commonRepository/uri,"
    "virtualRepositoryConfig/upstreamPolicies(id,repository,priority)"
)


class _TtlCache:
    """Results kept for `ttl` seconds, at most `size` of them: the keys come from events, so
    a storm of distinct ones must not grow an instance's memory without bound."""

    def __init__(self, ttl: float, size: int = 10_000, clock: Clock = SYSTEM) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], T]) -> T:
        now = self.clock.monotonic()
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
            # Connection refused or reset, the transport's own timeout (pullfix.gcp.transport's
            # errors and requests' are OSErrors), anything else of the transport layer (the
            # generated clients' requests and grpc channels, which the CLI uses), or
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


def _policy_view(policy: dict[str, Any]) -> PolicyView:
    """An IAM `Policy` as Google's JSON has it (https://cloud.google.com/iam/docs/reference/
    rest/v1/Policy): `bindings` of a `role`, its `members` and an optional `condition` (an
    `Expr`), and the `etag` (bytes, base64 in JSON)."""
    bindings = []
    for b in policy.get("bindings") or ():
        condition = b.get("condition") or {}
        bindings.append(
            Binding(
                role=str(b.get("role", "")),
                members=frozenset(b.get("members") or ()),
                condition=(
                    f"{condition.get('title') or 'untitled'}: {condition['expression']}"
                    if condition.get("expression")
                    else None
                ),
            )
        )
    etag = base64.b64decode(str(policy.get("etag") or ""))
    return PolicyView(bindings=tuple(bindings), etag=etag, raw=policy)


class GoogleAdapter:
    """GoogleApis over Google's REST APIs (production, or the sandbox)."""

    def __init__(
        self,
        clients: GoogleClients,
        *,
        cache_ttl: float = 60.0,
        timeout: float = CALL_TIMEOUT,
        clock: Clock = SYSTEM,
    ) -> None:
        """`clock` (`pullfix.clock`) is what the retries sleep on and the caches age by."""
        self.clients = clients
        self.timeout = timeout
        self.clock = clock
        self.retry = _retry_within(timeout, clock)
        cache = functools.partial(_TtlCache, clock=clock)
        self._clusters = cache(cache_ttl)
        self._accounts = cache(cache_ttl)
        self._numbers = cache(3600.0)
        self._resource_policies = cache(min(cache_ttl, 30.0))
        self._instances = cache(600.0)  # a node's instance group never changes
        self._verdicts = cache(min(cache_ttl, 30.0))
        self._parents = cache(3600.0)
        self._roles = cache(3600.0)
        # Repository and tag existence: a storm of one incident asks once, not per event.
        self._existence = cache(min(cache_ttl, 30.0))
        # The network path of a pool (the network check): one storm asks once.
        self._network = cache(min(cache_ttl, 60.0))
        # An image's manifest: a tag may be pushed again, so it is kept as briefly.
        self._images = cache(min(cache_ttl, 30.0))
        self._services = cache(cache_ttl)  # an API's state changes by an admin's hand
        self._vpc_sc = cache(min(cache_ttl, 30.0))
        self._kms = cache(min(cache_ttl, 30.0))

    def cluster(self, project: str, location: str, name: str) -> ClusterInfo | None:
        resource = f"projects/{project}/locations/{location}/clusters/{name}"
        return self._clusters.get(resource, lambda: self._load_cluster(resource, project))

    def _get(
        self, what: str, needs: tuple[str, ...], api: str, template: str, *parts: str, **query: Any
    ) -> Any:
        """One REST GET of a Google API, retried within the call's timeout and read through
        `guard` (`what` names the call, `needs` the permissions a refusal names); NotFound and
        the other errors raise as `guard` raises them."""
        return guard(
            what,
            lambda: self.retry(self.clients.rest.get)(
                api, template, *parts, timeout=self.timeout, **query
            ),
            needs,
        )

    def _load_cluster(self, resource: str, project: str) -> ClusterInfo | None:
        try:
            cluster = self._get(
                f"reading {resource}",
                PERMISSIONS["cluster"],
                "container",
                "/v1/projects/{}/locations/{}/clusters/{}",
                *resource.split("/")[1::2],
                fields=_CLUSTER_FIELDS,
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
                image_type=str((pool.get("config") or {}).get("imageType") or ""),
                image_streaming=((pool.get("config") or {}).get("gcfsConfig") or {}).get("enabled")
                is True,
            )
            for pool in cluster.get("nodePools") or ()
        )
        defaults = (cluster.get("autoscaling") or {}).get("autoprovisioningNodePoolDefaults") or {}
        return ClusterInfo(
            project=project,
            location=str(cluster.get("location", "")),
            name=str(cluster.get("name", "")),
            master_version=str(cluster.get("currentMasterVersion", "")),
            node_pools=pools,
            autopilot=(cluster.get("autopilot") or {}).get("enabled") is True,
            autoprovisioning_account=defaults.get("serviceAccount") or None,
            autoprovisioning_scopes=tuple(defaults.get("oauthScopes") or ()),
        )

    def project_number(self, project: str) -> int | None:
        found = self._numbers.get(project, lambda: self._load_project(project))
        return found[0] if found is not None else None

    def _load_project(self, project: str) -> tuple[int, str] | None:
        """The project's number and parent (`folders/N`, `organizations/N` or "")."""
        try:
            got = self._get(
                f"reading project {project}",
                PERMISSIONS["project_number"],
                "cloudresourcemanager",
                "/v3/projects/{}",
                project,
                fields="name,parent",
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
            instance = self._get(
                f"reading instance {node} in {zone}",
                PERMISSIONS["node_instance"],
                "compute",
                "/compute/v1/projects/{}/zones/{}/instances/{}",
                project,
                zone,
                node,
                fields="name,metadata/items",
            )
        except NotFound:
            return None
        items = (instance.get("metadata") or {}).get("items") or []
        return next(
            (str(item.get("value", "")) for item in items if item.get("key") == "created-by"), ""
        )

    def repository_mode(self, repository: str) -> str | None:
        got = self._repository(repository)
        if got is None:
            return None
        mode = str(got.get("mode") or "")
        return mode if mode and mode != "MODE_UNSPECIFIED" else "STANDARD_REPOSITORY"

    def _repository(self, repository: str) -> dict[str, Any] | None:
        """Artifact Registry `repositories.get`: `GET https://artifactregistry.googleapis.com/
        v1/{name=projects/*/locations/*/repositories/*}`, the `Repository`'s `mode` (unset or
        MODE_UNSPECIFIED is a standard one), `kmsKeyName` and a remote repository's
        `remoteRepositoryConfig.upstreamCredentials.usernamePasswordCredentials.
        passwordSecretVersion` (RemoteRepositoryConfig, UpstreamCredentials), read once for the
        existence, key and upstream checks, and a virtual repository's
        `virtualRepositoryConfig.upstreamPolicies[].repository` (VirtualRepositoryConfig,
        UpstreamPolicy) (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/
        projects.locations.repositories#Repository); None: no such repository."""
        return self._existence.get(
            ("repository", repository), lambda: self._load_repository(repository)
        )

    def _load_repository(self, repository: str) -> dict[str, Any] | None:
        try:
            got: dict[str, Any] = self._get(
                f"reading {repository}",
                PERMISSIONS["repository_exists"],
                "artifactregistry",
                "/v1/projects/{}/locations/{}/repositories/{}",
                *repository.split("/")[1::2],
                fields=_REPOSITORY_FIELDS,
            )
        except NotFound:
            return None
        return got

    def troubleshoot(self, email: str, repository: str) -> AccessVerdict:
        return self._verdicts.get(
            (email, repository), lambda: self._troubleshoot(email, repository)
        )

    def _troubleshoot(self, email: str, repository: str) -> AccessVerdict:
        """Policy Troubleshooter `iam.troubleshoot` (https://cloud.google.com/
        policy-intelligence/docs/reference/troubleshooter/rest/v3beta/iam/troubleshoot):
        v3beta, whose answer adds `pabPolicyExplanation` (principal access boundary policies)
        to v3's allow and deny explanations; the request is v3's."""

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
                    "request": {"receiveTime": format_timestamp(self.clock.now())},
                },
            }
        }
        response = guard(
            f"troubleshooting {email}'s access to {repository}",
            lambda: self.retry(self.clients.rest.post)(
                "policytroubleshooter", "/v3beta/iam:troubleshoot", body=body, timeout=self.timeout
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
        """Resource Manager v3 `folders.get`: `GET https://cloudresourcemanager.googleapis.com/
        v3/{name=folders/*}`, the `Folder`'s `parent` (https://cloud.google.com/
        resource-manager/reference/rest/v3/folders/get)."""
        got = self._get(
            f"reading {folder}",
            PERMISSIONS["ancestry"],
            "cloudresourcemanager",
            "/v3/folders/{}",
            folder.split("/", 1)[1],
            fields="parent",
        )
        return str(got.get("parent") or "")

    def resource_policy(self, resource: str) -> PolicyView:
        return self._resource_policies.get(
            resource, lambda: _policy_view(self._read_policy(resource))
        )

    def role_permissions(self, role: str) -> frozenset[str]:
        return self._roles.get(role, lambda: self._load_role(role))

    def _load_role(self, role: str) -> frozenset[str]:
        """IAM `roles.get`, `projects.roles.get` or `organizations.roles.get` by the role's
        name: `GET https://iam.googleapis.com/v1/{name=roles/*}` (and `projects/*/roles/*`,
        `organizations/*/roles/*`; https://cloud.google.com/iam/docs/reference/rest/v1/
        roles/get), the `Role`'s `includedPermissions`."""
        parts = role.split("/")  # roles/R, projects/P/roles/R, organizations/O/roles/R
        template = "/v1/" + "/".join("{}" if i % 2 else part for i, part in enumerate(parts))
        got = self._get(
            f"reading role {role}",
            PERMISSIONS["role_permissions"],
            "iam",
            template,
            *parts[1::2],
            fields="includedPermissions",
        )
        return frozenset(got.get("includedPermissions") or ())

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
        found = self._get(
            what,
            needs,
            "cloudidentity",
            "/v1/groups:lookup",
            fields="name",
            params={"groupKey.id": group},
        )
        name = str(found.get("name") or "")
        if not name.startswith("groups/") or "/" in name.removeprefix("groups/"):
            raise AccessDenied(f"{what}: Cloud Identity named no group", call=what, needs=needs)
        answer = self._get(
            what,
            needs,
            "cloudidentity",
            "/v1/groups/{}/memberships:checkTransitiveMembership",
            name.removeprefix("groups/"),
            fields="hasMembership",
            params={"query": f"member_key_id == '{_cel_string(member)}'"},
        )
        return answer.get("hasMembership") is True

    def service_account(self, email: str) -> AccountInfo:
        return self._accounts.get(email, lambda: self._load_account(email))

    def _load_account(self, email: str) -> AccountInfo:
        """IAM `projects.serviceAccounts.get`: `GET https://iam.googleapis.com/v1/
        {name=projects/*/serviceAccounts/*}`, the project `-` (the account's own, whichever it
        is), the `ServiceAccount`'s `email` and `disabled` (https://cloud.google.com/iam/docs/
        reference/rest/v1/projects.serviceAccounts/get)."""
        name = f"projects/-/serviceAccounts/{email}"
        try:
            account = self._get(
                f"reading {name}",
                PERMISSIONS["service_account"],
                "iam",
                "/v1/projects/-/serviceAccounts/{}",
                email,
                fields="email,disabled",
            )
        except NotFound:
            return AccountInfo(email=email, exists=False)
        return AccountInfo(email=email, exists=True, disabled=bool(account.get("disabled")))

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

    @staticmethod
    def _policy_path(resource: str) -> tuple[str, str, tuple[str, ...]]:
        """The API holding `resource`'s IAM policy, the resource's REST path (its `{}` filled
        with the resource name's ids), and the permissions of reading the policy."""
        if "/repositories/" in resource:
            template = "/v1/projects/{}/locations/{}/repositories/{}"
            return "artifactregistry", template, PERMISSIONS["repository_policy"]
        if resource.startswith("folders/"):
            return "cloudresourcemanager", "/v3/folders/{}", PERMISSIONS["folder_policy"]
        if resource.startswith("organizations/"):
            template = "/v3/organizations/{}"
            return "cloudresourcemanager", template, PERMISSIONS["organization_policy"]
        return "cloudresourcemanager", "/v3/projects/{}", PERMISSIONS["project_policy"]

    def _read_policy(self, resource: str) -> dict[str, Any]:
        """The resource's IAM policy (Google's `Policy` JSON), read at version 3.

        requestedPolicyVersion 3: "Requests for policies with any conditional role bindings
        must specify version 3"; read at 1, a conditional binding comes back as a role
        suffixed `_withcond_…` without its condition ("Policy versions",
        https://cloud.google.com/iam/docs/policies#versions; GetPolicyOptions). Artifact
        Registry's `repositories.getIamPolicy` is `GET .../v1/{resource=projects/*/locations/*/
        repositories/*}:getIamPolicy` with `options.requestedPolicyVersion` in the query
        (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/
        projects.locations.repositories/getIamPolicy); Resource Manager v3's (projects,
        folders, organizations) is `POST .../v3/{resource=projects/*}:getIamPolicy` with
        `{"options": {"requestedPolicyVersion": 3}}` as its body (https://cloud.google.com/
        resource-manager/reference/rest/v3/projects/getIamPolicy)."""
        api, template, needs = self._policy_path(resource)
        parts = resource.split("/")[1::2]
        path = template + ":getIamPolicy"
        if api == "artifactregistry":

            def read() -> dict[str, Any]:
                return self.retry(self.clients.rest.get)(
                    api,
                    path,
                    *parts,
                    fields=None,
                    timeout=self.timeout,
                    params={"options.requestedPolicyVersion": "3"},
                )

        else:

            def read() -> dict[str, Any]:
                return self.retry(self.clients.rest.post)(
                    api,
                    path,
                    *parts,
                    body={"options": {"requestedPolicyVersion": 3}},
                    timeout=self.timeout,
                )

        return guard(f"reading the IAM policy of {resource}", read, needs)

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

        def change(policy: dict[str, Any]) -> bool:
            plain = _binding(policy, role, None)
            if plain is not None and member in plain.get("members", ()):
                return False
            title = condition.title if condition is not None else None
            target = plain if condition is None else _binding(policy, role, title)
            if target is not None and member in target.get("members", ()):
                return False
            if target is None:
                target = {"role": role, "members": []}
                if condition is not None:
                    # Google's `Expr` (proto3 JSON: an empty description is no field).
                    target["condition"] = {
                        "title": condition.title,
                        "expression": condition.expression,
                    }
                    if condition.description:
                        target["condition"]["description"] = condition.description
                policy.setdefault("bindings", []).append(target)
            target.setdefault("members", []).append(member)
            return True

        return self._rewrite(resource, change, first)

    def remove_member(
        self, resource: str, role: str, member: str, condition_title: str | None = None
    ) -> GrantResult:
        """Take `member` out of one binding of `role` (the unconditional one, or the one
        whose condition has `condition_title`); a binding left empty goes. Every other
        member, binding and condition is written back as read (version 3, with the etag)."""

        def change(policy: dict[str, Any]) -> bool:
            target = _binding(policy, role, condition_title)
            if target is None or member not in target.get("members", ()):
                return False
            target["members"].remove(member)
            if not target["members"]:
                policy["bindings"] = [b for b in policy["bindings"] if b is not target]
            return True

        return self._rewrite(resource, change)

    def _rewrite(
        self,
        resource: str,
        change: Callable[[dict[str, Any]], bool],
        first: PolicyView | None = None,
    ) -> GrantResult:
        """One IAM read-modify-write: `change` edits the policy read at version 3 (False:
        nothing to write); it is written with the etag it was read with, and on 409 ABORTED
        ("concurrent policy changes") read and changed again.

        The write is `setIamPolicy` with `{"policy": ...}` as its body on the resource's REST
        path (`POST .../v1/{resource=projects/*/locations/*/repositories/*}:setIamPolicy`,
        https://cloud.google.com/artifact-registry/docs/reference/rest/v1/
        projects.locations.repositories/setIamPolicy; `POST .../v3/{resource=projects/*}:
        setIamPolicy`, https://cloud.google.com/resource-manager/reference/rest/v3/projects/
        setIamPolicy); without an `updateMask`, only `bindings` and `etag` are written."""
        api, template, _ = self._policy_path(resource)
        parts = resource.split("/")[1::2]
        repository = "/repositories/" in resource
        needs = PERMISSIONS["add_member_repository" if repository else "add_member_project"]
        # A copy: the policy read may be a cached one (`resource_policy`).
        policy = copy.deepcopy(first.raw) if first is not None and first.raw is not None else None
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            if policy is None:
                policy = self._read_policy(resource)
            if not change(policy):
                return GrantResult(changed=False, attempts=attempt)
            # Version 3 on every write: "any operation that affects conditional role
            # bindings must specify version 3", and the etag goes with it so a policy with
            # conditions is never overwritten by one without (https://cloud.google.com/iam/
            # docs/reference/rest/v1/Policy, `version`).
            policy["version"] = 3
            try:
                guard(
                    f"writing the IAM policy of {resource}",
                    functools.partial(
                        self.clients.rest.post,
                        api,
                        template + ":setIamPolicy",
                        *parts,
                        body={"policy": policy},
                        timeout=self.timeout,
                    ),
                    needs,
                )
                return GrantResult(changed=True, attempts=attempt)
            except Conflict:
                policy = None
                self.clock.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311
        raise TransientError(
            f"{resource}: the IAM policy kept changing under {CONFLICT_ATTEMPTS} "
            "read-modify-write attempts"
        )

    # -- the network path (pullfix.checks.network) -----------------------------------------

    def cluster_network(self, project: str, location: str, name: str) -> ClusterNetwork | None:
        resource = f"projects/{project}/locations/{location}/clusters/{name}"
        return self._network.get(
            ("cluster", resource), lambda: self._load_cluster_network(project, location, name)
        )

    def _load_cluster_network(
        self, project: str, location: str, name: str
    ) -> ClusterNetwork | None:
        """GKE `clusters.get`: `networkConfig.network`/`subnetwork` are full paths
        (`projects/P/global/networks/N`, `projects/P/regions/R/subnetworks/S`); the pool's
        `networkConfig.enablePrivateNodes` overrides the cluster's default
        (`networkConfig.defaultEnablePrivateNodes`, formerly
        `privateClusterConfig.enablePrivateNodes`)."""
        try:
            got = self._get(
                f"reading the network of projects/{project}/locations/{location}/clusters/{name}",
                PERMISSIONS["cluster_network"],
                "container",
                "/v1/projects/{}/locations/{}/clusters/{}",
                project,
                location,
                name,
                fields="network,subnetwork," + _NETWORK_FIELDS,
            )
        except NotFound:
            return None
        config = got.get("networkConfig") or {}
        region = location if location.count("-") == 1 else location.rsplit("-", 1)[0]
        network = str(
            config.get("network")
            or f"projects/{project}/global/networks/{got.get('network') or 'default'}"
        )
        subnetwork = str(
            config.get("subnetwork")
            or f"projects/{project}/regions/{region}/subnetworks/"
            f"{got.get('subnetwork') or 'default'}"
        )
        default = config.get("defaultEnablePrivateNodes")
        if default is None:
            default = (got.get("privateClusterConfig") or {}).get("enablePrivateNodes", False)
        private = frozenset(
            str(pool.get("name", ""))
            for pool in got.get("nodePools") or ()
            if (pool.get("networkConfig") or {}).get("enablePrivateNodes", default)
        )
        return ClusterNetwork(network=network, subnetwork=subnetwork, private_pools=private)

    def subnetwork(self, project: str, region: str, name: str) -> SubnetInfo | None:
        return self._network.get(
            ("subnetwork", project, region, name),
            lambda: self._load_subnetwork(project, region, name),
        )

    def _load_subnetwork(self, project: str, region: str, name: str) -> SubnetInfo | None:
        try:
            got = self._get(
                f"reading subnetwork {name} of {project} in {region}",
                PERMISSIONS["subnetwork"],
                "compute",
                "/compute/v1/projects/{}/regions/{}/subnetworks/{}",
                project,
                region,
                name,
                fields="name,privateIpGoogleAccess",
            )
        except NotFound:
            return None
        return SubnetInfo(
            name=str(got.get("name", name)),
            private_google_access=bool(got.get("privateIpGoogleAccess", False)),
        )

    def _pages(
        self,
        what: str,
        call: str,
        api: str,
        template: str,
        parts: tuple[str, ...],
        key: str,
        fields: str,
    ) -> list[Any]:
        """Every item (`key`) of a Google list, its pages followed by `nextPageToken`, at most
        20 (Compute's lists, `items`; Cloud DNS's, `managedZones` and `rrsets`:
        https://cloud.google.com/dns/docs/reference/v1/managedZones/list)."""
        items: list[Any] = []
        token = ""
        for _ in range(20):
            page = self._get(
                what,
                PERMISSIONS[call],
                api,
                template,
                *parts,
                fields=f"{key}({fields}),nextPageToken",
                params={"pageToken": token} if token else None,
            )
            items.extend(page.get(key) or ())
            token = str(page.get("nextPageToken") or "")
            if not token:
                break
        return items

    def router_nats(self, project: str, region: str) -> tuple[RouterNat, ...]:
        return self._network.get(
            ("routers", project, region), lambda: self._load_router_nats(project, region)
        )

    def _load_router_nats(self, project: str, region: str) -> tuple[RouterNat, ...]:
        """Compute `routers.list`: each router's `nats[]` (`subnetworks[].name` is a URL)."""
        routers = self._pages(
            f"listing the Cloud Routers of {project} in {region}",
            "router_nats",
            "compute",
            "/compute/v1/projects/{}/regions/{}/routers",
            (project, region),
            "items",
            "name,network,nats(name,sourceSubnetworkIpRangesToNat,subnetworks/name)",
        )
        return tuple(
            RouterNat(
                router=str(router.get("name", "")),
                name=str(nat.get("name", "")),
                network=_last(router.get("network")),
                source=str(nat.get("sourceSubnetworkIpRangesToNat", "")),
                subnetworks=tuple(_last(s.get("name")) for s in nat.get("subnetworks") or ()),
            )
            for router in routers
            for nat in router.get("nats") or ()
        )

    def egress_firewalls(self, project: str) -> tuple[FirewallRule, ...]:
        return self._network.get(("firewalls", project), lambda: self._load_firewalls(project))

    def _load_firewalls(self, project: str) -> tuple[FirewallRule, ...]:
        rules = self._pages(
            f"listing the firewall rules of {project}",
            "egress_firewalls",
            "compute",
            "/compute/v1/projects/{}/global/firewalls",
            (project,),
            "items",
            "name,network,direction,priority,allowed,denied,destinationRanges,"
            "targetTags,targetServiceAccounts,disabled",
        )
        return tuple(
            FirewallRule(
                name=str(rule.get("name", "")),
                network=_last(rule.get("network")),
                # "Priority for this rule … Default value is 1000" (Firewall resource).
                priority=int(rule.get("priority", 1000)),
                deny="denied" in rule,
                covers_443=any(map(_covers_443, rule.get("denied") or rule.get("allowed") or ())),
                destination_ranges=tuple(rule.get("destinationRanges") or ()),
                targeted=bool(rule.get("targetTags") or rule.get("targetServiceAccounts")),
                disabled=bool(rule.get("disabled", False)),
            )
            for rule in rules
            if rule.get("direction") == "EGRESS"
        )

    def routes(self, project: str) -> tuple[RouteInfo, ...]:
        return self._network.get(("routes", project), lambda: self._load_routes(project))

    def _load_routes(self, project: str) -> tuple[RouteInfo, ...]:
        routes = self._pages(
            f"listing the routes of {project}",
            "routes",
            "compute",
            "/compute/v1/projects/{}/global/routes",
            (project,),
            "items",
            "name,network,destRange,nextHopGateway,tags",
        )
        return tuple(
            RouteInfo(
                name=str(route.get("name", "")),
                network=_last(route.get("network")),
                dest_range=str(route.get("destRange", "")),
                internet_gateway=_last(route.get("nextHopGateway")) == "default-internet-gateway",
                targeted=bool(route.get("tags")),
            )
            for route in routes
        )

    def dns_zones(self, project: str) -> tuple[DnsZone, ...]:
        return self._network.get(("dns_zones", project), lambda: self._load_dns_zones(project))

    def _load_dns_zones(self, project: str) -> tuple[DnsZone, ...]:
        """Cloud DNS v1 `managedZones.list` (`GET https://dns.googleapis.com/dns/v1/projects/
        {project}/managedZones`): the private zones, each with the networks its
        `privateVisibilityConfig.networks[].networkUrl` names (a Compute URL, kept as
        `projects/P/global/networks/N`) and whether it forwards or peers (its answers are not
        its records): https://cloud.google.com/dns/docs/reference/v1/managedZones#resource."""
        zones = self._pages(
            f"listing the Cloud DNS zones of {project}",
            "dns_zones",
            "dns",
            "/dns/v1/projects/{}/managedZones",
            (project,),
            "managedZones",
            "name,dnsName,visibility,privateVisibilityConfig/networks/networkUrl,"
            "forwardingConfig/targetNameServers,peeringConfig/targetNetwork/networkUrl",
        )
        return tuple(
            DnsZone(
                name=str(zone.get("name", "")),
                dns_name=str(zone.get("dnsName", "")),
                networks=tuple(
                    _network_path(network.get("networkUrl"))
                    for network in (zone.get("privateVisibilityConfig") or {}).get("networks") or ()
                ),
                delegated=bool(zone.get("forwardingConfig") or zone.get("peeringConfig")),
            )
            for zone in zones
            if zone.get("visibility") == "private"
        )

    def dns_records(self, project: str, zone: str) -> tuple[DnsRecord, ...]:
        return self._network.get(
            ("dns_records", project, zone), lambda: self._load_dns_records(project, zone)
        )

    def _load_dns_records(self, project: str, zone: str) -> tuple[DnsRecord, ...]:
        """Cloud DNS v1 `resourceRecordSets.list` (`GET https://dns.googleapis.com/dns/v1/
        projects/{project}/managedZones/{managedZone}/rrsets`): each set's `name`, `type` and
        `rrdatas` (https://cloud.google.com/dns/docs/reference/v1/resourceRecordSets/list)."""
        try:
            sets = self._pages(
                f"listing the records of Cloud DNS zone {zone} in {project}",
                "dns_records",
                "dns",
                "/dns/v1/projects/{}/managedZones/{}/rrsets",
                (project, zone),
                "rrsets",
                "name,type,rrdatas",
            )
        except NotFound:
            return ()
        return tuple(
            DnsRecord(
                name=str(item.get("name", "")),
                type=str(item.get("type", "")),
                rrdatas=tuple(str(value) for value in item.get("rrdatas") or ()),
            )
            for item in sets
        )

    # What the network check reads of a cluster (GKE API v1 `Cluster`, REST field names).

    def docker_image(
        self, repository: str, image_path: str, reference: str
    ) -> DockerImageInfo | None:
        return self._images.get(
            (repository, image_path, reference),
            lambda: self._load_docker_image(repository, image_path, reference),
        )

    def _load_docker_image(
        self, repository: str, image_path: str, reference: str
    ) -> DockerImageInfo | None:
        """A tag's version (Artifact Registry `tags.get`: `version` ends in the digest), then
        the image by digest (`dockerImages.get`: `mediaType`, `imageSizeBytes`; the image id is
        the package, "/" escaped, `@` the digest: https://cloud.google.com/artifact-registry/
        docs/reference/rest/v1/projects.locations.repositories.dockerImages/get)."""
        parts = repository.split("/")[1::2]
        digest = reference
        try:
            if not reference.startswith("sha256:"):
                tag = self._get(
                    f"reading tag {reference} of {image_path} in {repository}",
                    PERMISSIONS["docker_image_tag"],
                    "artifactregistry",
                    "/v1/projects/{}/locations/{}/repositories/{}/packages/{}/tags/{}",
                    *parts,
                    image_path,
                    reference,
                    fields="name,version",
                )
                digest = str(tag.get("version") or "").rsplit("/versions/", 1)[-1]
                if not digest.startswith("sha256:"):
                    return None
            image = self._get(
                f"reading image {image_path}@{digest} in {repository}",
                PERMISSIONS["docker_image"],
                "artifactregistry",
                "/v1/projects/{}/locations/{}/repositories/{}/dockerImages/{}",
                *parts,
                f"{image_path}@{digest}",
                fields="name,mediaType,imageSizeBytes",
            )
        except NotFound:
            return None
        size = image.get("imageSizeBytes")  # int64: a JSON string
        return DockerImageInfo(
            name=str(image.get("name", "")),
            media_type=str(image.get("mediaType") or ""),
            size_bytes=int(size) if isinstance(size, str | int) and str(size).isdigit() else None,
        )

    def service_state(self, project: str, service: str) -> str:
        return self._services.get(
            (project, service), lambda: self._load_service_state(project, service)
        )

    def _load_service_state(self, project: str, service: str) -> str:
        """Service Usage v1 `services.get` (https://cloud.google.com/service-usage/docs/
        reference/rest/v1/services/get): `state`, ENABLED or DISABLED; a project id stands
        for its number in the name, as gcloud sends it."""
        try:
            got = self._get(
                f"reading the state of {service} in project {project}",
                PERMISSIONS["service_state"],
                "serviceusage",
                "/v1/projects/{}/services/{}",
                project,
                service,
                fields="name,state",
            )
        except NotFound:
            return ""
        return str(got.get("state") or "")

    def vpc_sc_denial(self, project: str, unique_id: str) -> VpcScDenial | None:
        return self._vpc_sc.get(
            (project, unique_id), lambda: self._load_vpc_sc_denial(project, unique_id)
        )

    def _load_vpc_sc_denial(self, project: str, unique_id: str) -> VpcScDenial | None:
        return self._policy_log_denial(
            project,
            policy_log_filter(project, unique_id),
            lambda denial: denial.unique_id == unique_id,
        )

    def vpc_sc_denial_of(
        self, project: str, principal: str, start: str, end: str
    ) -> VpcScDenial | None:
        return self._vpc_sc.get(
            (project, principal, start, end),
            lambda: self._policy_log_denial(
                project,
                principal_log_filter(project, principal, start, end),
                lambda denial: denial.principal == principal,
            ),
        )

    def _policy_log_denial(
        self, project: str, query: str, wanted: Callable[[VpcScDenial], bool]
    ) -> VpcScDenial | None:
        """Logging v2 `entries.list` (https://cloud.google.com/logging/docs/reference/v2/rest/
        v2/entries/list) of the project's policy audit log, the newest first: the first
        denial `wanted` takes (by its identifier, or by the principal refused)."""
        got = guard(
            f"reading the policy audit log of project {project}",
            lambda: self.retry(self.clients.rest.post)(
                "logging",
                "/v2/entries:list",
                body={
                    "resourceNames": [f"projects/{project}"],
                    "filter": query,
                    "orderBy": "timestamp desc",
                    "pageSize": 5,
                },
                timeout=self.timeout,
            ),
            PERMISSIONS["vpc_sc_denial"],
        )
        for entry in got.get("entries") or ():
            denial = denial_from_entry(entry)
            if denial is not None and wanted(denial):
                return denial
        return None

    def repository_kms_key(self, repository: str) -> str:
        got = self._repository(repository)  # the read the existence check shares
        return str(got.get("kmsKeyName") or "") if got is not None else ""

    def crypto_key_state(self, key: str) -> str:
        return self._kms.get(("state", key), lambda: self._load_key_state(key))

    def _load_key_state(self, key: str) -> str:
        """Cloud KMS `cryptoKeys.get` (https://cloud.google.com/kms/docs/reference/rest/v1/
        projects.locations.keyRings.cryptoKeys#CryptoKey): `primary.state`
        (CryptoKeyVersionState)."""
        parts = key.split("/")
        try:
            got = self._get(
                f"reading {key}",
                PERMISSIONS["crypto_key_state"],
                "cloudkms",
                "/v1/projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}",
                *parts[1::2],
                fields="name,primary(name,state)",
            )
        except NotFound:
            return ""
        return str((got.get("primary") or {}).get("state") or "")

    def crypto_key_policy(self, key: str) -> PolicyView:
        """Cloud KMS `cryptoKeys.getIamPolicy` at version 3 (https://cloud.google.com/kms/
        docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys/getIamPolicy)."""
        parts = key.split("/")
        got = self._get(
            f"reading the IAM policy of {key}",
            PERMISSIONS["crypto_key_policy"],
            "cloudkms",
            "/v1/projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}:getIamPolicy",
            *parts[1::2],
            fields="bindings,etag",
            params={"options.requestedPolicyVersion": "3"},
        )
        bindings = tuple(
            Binding(
                role=str(b.get("role", "")),
                members=frozenset(b.get("members") or ()),
                condition=(
                    f"{(b.get('condition') or {}).get('title') or 'untitled'}: "
                    f"{b['condition'].get('expression', '')}"
                    if b.get("condition")
                    else None
                ),
            )
            for b in got.get("bindings") or ()
        )
        return PolicyView(bindings=bindings, etag=str(got.get("etag", "")).encode())

    def repository_upstream_secret(self, repository: str) -> str:
        got = self._repository(repository)  # the read the existence and key checks share
        if got is None:
            return ""
        credentials = (
            (got.get("remoteRepositoryConfig") or {}).get("upstreamCredentials") or {}
        ).get("usernamePasswordCredentials") or {}
        return str(credentials.get("passwordSecretVersion") or "")

    def repository_remote_upstream(self, repository: str) -> str:
        """A remote repository's upstream, from the read the existence check shares:
        `remoteRepositoryConfig.dockerRepository.publicRepository` (DOCKER_HUB),
        `.dockerRepository.customRepository.uri` or `.commonRepository.uri` (an Artifact
        Registry repository, or a URL): https://cloud.google.com/artifact-registry/docs/
        reference/rest/v1/projects.locations.repositories#RemoteRepositoryConfig."""
        got = self._repository(repository)
        config = (got or {}).get("remoteRepositoryConfig") or {}
        if not config:
            return ""
        docker = config.get("dockerRepository") or {}
        return str(
            (docker.get("customRepository") or {}).get("uri")
            or (config.get("commonRepository") or {}).get("uri")
            or docker.get("publicRepository")
            or ""
        )

    def vpcsc_policy(self, project: str, location: str) -> str:
        return self._kms.get(
            ("vpcsc", project, location), lambda: self._load_vpcsc_policy(project, location)
        )

    def _load_vpcsc_policy(self, project: str, location: str) -> str:
        """Artifact Registry `projects.locations.getVpcscConfig` (`GET https://
        artifactregistry.googleapis.com/v1/{name=projects/*/locations/*/vpcscConfig}`,
        permission `artifactregistry.vpcscconfigs.get`: https://cloud.google.com/
        artifact-registry/docs/reference/rest/v1/projects.locations/getVpcscConfig): its
        `vpcscPolicy`, DENY or ALLOW; unset (VPCSC_POLICY_UNSPECIFIED) is DENY, "the default
        behavior" (VPCSCConfig.VPCSCPolicy)."""
        got = self._get(
            f"reading the VPC Service Controls setting of Artifact Registry in {project} "
            f"({location})",
            PERMISSIONS["vpcsc_policy"],
            "artifactregistry",
            "/v1/projects/{}/locations/{}/vpcscConfig",
            project,
            location,
            fields="name,vpcscPolicy",
        )
        policy = str(got.get("vpcscPolicy") or "")
        return policy if policy in ("DENY", "ALLOW") else "DENY"

    def repository_upstreams(self, repository: str) -> tuple[str, ...]:
        got = self._repository(repository)  # the read the existence and key checks share
        if got is None:
            return ()
        policies = (got.get("virtualRepositoryConfig") or {}).get("upstreamPolicies") or ()
        return tuple(str(p["repository"]) for p in policies if p.get("repository"))

    def upstream_policy(self, repository: str) -> PolicyView | None:
        """Artifact Registry `repositories.getIamPolicy` of a virtual repository's upstream
        (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/
        projects.locations.repositories/getIamPolicy); None: no such repository."""
        try:
            return self.repository_policy(repository)
        except NotFound:
            return None

    def secret_version_state(self, version: str) -> str:
        return self._kms.get(("secret", version), lambda: self._load_secret_state(version))

    def _load_secret_state(self, version: str) -> str:
        """Secret Manager `versions.get`: `GET https://secretmanager.googleapis.com/v1/
        {name=projects/*/secrets/*/versions/*}`, the SecretVersion's metadata, its `state`
        (ENABLED, DISABLED, DESTROYED; https://cloud.google.com/secret-manager/docs/reference/
        rest/v1/projects.secrets.versions#SecretVersion). Never `versions.access`: pullfix
        reads no payload."""
        parts = version.split("/")
        try:
            got = self._get(
                f"reading {version}",
                PERMISSIONS["secret_version_state"],
                "secretmanager",
                "/v1/projects/{}/secrets/{}/versions/{}",
                *parts[1::2],
                fields="name,state",
            )
        except NotFound:
            return ""
        return str(got.get("state") or "")

    def secret_policy(self, secret: str) -> PolicyView:
        """Secret Manager `secrets.getIamPolicy` at version 3 (https://cloud.google.com/
        secret-manager/docs/reference/rest/v1/projects.secrets/getIamPolicy)."""
        parts = secret.split("/")
        got = self._get(
            f"reading the IAM policy of {secret}",
            PERMISSIONS["secret_policy"],
            "secretmanager",
            "/v1/projects/{}/secrets/{}:getIamPolicy",
            *parts[1:4:2],
            fields="bindings,etag",
            params={"options.requestedPolicyVersion": "3"},
        )
        return _policy_view(got)


_NETWORK_FIELDS = (
    "networkConfig(network,subnetwork,defaultEnablePrivateNodes),"
    "privateClusterConfig/enablePrivateNodes,nodePools(name,networkConfig/enablePrivateNodes)"
)


def _network_path(url: object) -> str:
    """`projects/P/global/networks/N` of a network's Compute URL (or of that path itself)."""
    text = str(url or "")
    at = text.find("projects/")
    return text[at:].rstrip("/") if at >= 0 else text


def _last(url: object) -> str:
    """The name at the end of a Compute URL or partial path."""
    return str(url or "").rstrip("/").rsplit("/", 1)[-1]


def _covers_443(rule: Any) -> bool:
    """Whether a firewall rule's `allowed[]`/`denied[]` entry matches tcp:443: protocol
    `tcp`, `6` or `all`, and no `ports` (every port) or a port or range holding 443."""
    if str(rule.get("IPProtocol", "")).lower() not in ("tcp", "6", "all"):
        return False
    ports = rule.get("ports") or ()
    for port in ports:
        low, _, high = str(port).partition("-")
        try:
            if int(low) <= 443 <= int(high or low):
                return True
        except ValueError:
            continue
    return not ports


def _binding(
    policy: dict[str, Any], role: str, condition_title: str | None
) -> dict[str, Any] | None:
    """The binding of `role` without a condition (title None), or with a condition titled so."""
    binding: dict[str, Any]
    for binding in policy.get("bindings") or ():
        if binding.get("role") != role:
            continue
        condition = binding.get("condition") or {}
        conditional = bool(condition.get("expression"))
        if condition_title is None and not conditional:
            return binding
        if (
            condition_title is not None
            and conditional
            and condition.get("title") == condition_title
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
