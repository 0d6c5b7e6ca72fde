"""The sandbox's REST endpoints: container v1, artifactregistry v1, cloudresourcemanager v3
(projects, folders, organizations), compute v1 (instances.get, subnetworks.get, routers.list,
firewalls.list, routes.list), dns v1 (managedZones.list, resourceRecordSets.list), iam v1
(service accounts and roles: `get`), policytroubleshooter v3 and v3beta, pubsub v1, logging
v2, firestore v1, serviceusage v1 (services.get), chat v1 (spaces.messages.create) and
cloudidentity v1 (groups.lookup, checkTransitiveMembership) (JSON over HTTP, Google's error
envelope), and the `/_sandbox/` control routes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from werkzeug.wrappers import Request, Response

from pullfix.dev.sandbox.contract import response_violations
from pullfix.dev.sandbox.errors import ApiError
from pullfix.dev.sandbox.iam import policy_json, set_policy
from pullfix.dev.sandbox.iamadmin import role_json, service_account_json
from pullfix.dev.sandbox.push import Delivery, PushDelivery
from pullfix.dev.sandbox.state import Fault, SandboxState
from pullfix.dev.sandbox.world import (
    Cluster,
    Folder,
    NodePool,
    Organization,
    Project,
    Repository,
    Secret,
    world_from_dict,
)

__all__ = ["RestApp"]

Handler = Callable[["RestApp", Request, dict[str, str]], Any]
_SEG = r"(?P<{}>[^/:]+)"


@dataclass(frozen=True)
class Route:
    http_method: str
    pattern: re.Pattern[str]
    method_id: str  # the discovery document's method id
    version: str
    handler: Handler


def _route(
    http_method: str, template: str, method_id: str, version: str
) -> Callable[[Handler], Handler]:
    regex = re.sub(r"\{(\w+)\}", lambda m: _SEG.format(m.group(1)), template)
    pattern = re.compile(regex + "$")

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(http_method, pattern, method_id, version, handler))
        return handler

    return register


ROUTES: list[Route] = []
_CLUSTER = "/v1/projects/{project}/locations/{location}/clusters/{cluster}"
_ZONAL_CLUSTER = "/v1/projects/{project}/zones/{location}/clusters/{cluster}"
_REPO = "/v1/projects/{project}/locations/{location}/repositories/{repository}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


if TYPE_CHECKING:
    from pullfix.dev.sandbox.firestore import FirestoreStore


class RestApp:
    """A WSGI application serving the world in `state`."""

    _store: FirestoreStore | None
    _store_lock: threading.Lock

    @property
    def store(self) -> FirestoreStore:
        with self._store_lock:
            if self._store is None:
                from pullfix.dev.sandbox.firestore import FirestoreStore as Store

                self._store = Store()
            return self._store

    def __init__(
        self,
        state: SandboxState,
        pusher: PushDelivery,
        store: FirestoreStore | None = None,
        *,
        strict: bool = False,
        log: TextIO | None = None,
    ) -> None:
        """`store` serves Firestore; without one, a `FirestoreStore` is made at the first
        Firestore request (it loads the Firestore client's message types, a quarter of a
        second that `pullfix replay` and the demo, which use no Firestore, need not pay)."""
        self.state = state
        self.pusher = pusher
        self._store = store
        self._store_lock = threading.Lock()
        self.strict = strict
        self.log = log
        self._message_counter = 0
        # Called with each Google Chat message the app posts (the demo shows them as posted).
        self.chat_listeners: list[Callable[[dict[str, Any]], None]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
        path = raw_path.split("?", 1)[0]
        route, params = _find_route(request.method, path)
        try:
            if path.startswith("/_sandbox/"):
                response = self._control(request, path)
            elif route is None:
                raise ApiError(404, f"The sandbox serves no {request.method} {path}")
            else:
                response = _json(self._serve(route, params, request), 200)
        except ApiError as exc:
            response = _json(exc.envelope(), exc.code)
        except Exception as exc:  # a sandbox bug must answer, not hang the client
            response = _json(ApiError(500, f"sandbox error: {exc!r}").envelope(), 500)
        if self.log is not None:
            elapsed = (time.perf_counter() - started) * 1000
            method_id = route.method_id if route else "-"
            self.log.write(
                f"sandbox {response.status_code} {request.method} {path} {method_id} "
                f"{elapsed:.1f}ms\n"
            )
            self.log.flush()
        return response(environ, start_response)

    def _serve(self, route: Route, params: dict[str, str], request: Request) -> Any:
        race = self.state.begin(route.method_id)
        body = route.handler(self, request, params)
        if race is not None and "etag" in body:
            self._apply_race(params, race)
        if self.strict:
            # A server stream (firestore batchGet) answers one JSON array of its responses.
            problems = [
                problem
                for item in (body if isinstance(body, list) else [body])
                for problem in response_violations(route.method_id, route.version, item)
            ]
            if problems:
                raise ApiError(
                    500,
                    f"sandbox response breaks the discovery schema of {route.method_id}: "
                    + "; ".join(problems),
                )
        return body

    # -- control routes -------------------------------------------------------------------

    def _control(self, request: Request, path: str) -> Response:
        state = self.state
        if path == "/_sandbox/world" and request.method == "GET":
            with state.lock:
                return _json(state.world.to_dict(), 200)
        if path == "/_sandbox/world" and request.method == "PUT":
            new_world = world_from_dict(_body(request), source="PUT /_sandbox/world")
            with state.lock:
                state.world = new_world
            return _json({}, 200)
        if path == "/_sandbox/stats" and request.method == "GET":
            return _json(state.stats(), 200)
        if path == "/_sandbox/stats" and request.method == "DELETE":
            state.reset_stats()
            return _json({}, 200)
        if path == "/_sandbox/faults" and request.method == "POST":
            state.add_fault(Fault.from_dict(_body(request)))
            return _json({}, 200)
        if path == "/_sandbox/faults" and request.method == "GET":
            with state.lock:
                return _json({"faults": [f.to_dict() for f in state.faults]}, 200)
        if path == "/_sandbox/faults" and request.method == "DELETE":
            state.clear_faults()
            return _json({}, 200)
        if path == "/_sandbox/deliveries" and request.method == "GET":
            if request.args.get("drain"):
                self.pusher.drain(float(request.args["drain"]))
            return _json({"deliveries": self.pusher.summary()}, 200)
        raise ApiError(404, f"no sandbox control route {request.method} {path}")

    def _apply_race(self, params: dict[str, str], fault: Fault) -> None:
        with self.state.lock:
            project = self._project(params["project"])
            if "repository" in params:
                policy = self._repository(project, params).policy
            else:
                policy = project.policy
            self.state.race(policy, fault)

    # -- lookups --------------------------------------------------------------------------

    def _project(self, key: str) -> Project:
        project = self.state.world.find_project(key)
        if project is None:
            raise ApiError(
                403, f"Permission denied on resource project {key} (or it may not exist)."
            )
        return project

    def _cluster(self, params: dict[str, str]) -> tuple[Project, Cluster]:
        project = self._project(params["project"])
        cluster = project.clusters.get(params["cluster"])
        if cluster is None or cluster.location != params["location"]:
            raise ApiError(
                404,
                f"Not found: projects/{params['project']}/locations/"
                f"{params['location']}/clusters/{params['cluster']}.",
            )
        return project, cluster

    def _repository(self, project: Project, params: dict[str, str]) -> Repository:
        repository = project.repositories.get(params["repository"])
        if repository is None or repository.location != params["location"]:
            raise ApiError(
                404,
                f"Requested entity was not found: repository "
                f"{params['repository']} in {params['location']}",
            )
        return repository

    def next_message_id(self) -> str:
        with self.state.lock:
            self._message_counter += 1
            return str(4_000_000_000_000 + self._message_counter)


def _find_route(http_method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        match = route.pattern.match(path)
        if match and http_method == route.http_method:
            return route, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
    return None, {}


def _json(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _body(request: Request) -> Any:
    if not request.data:
        return {}
    try:
        return json.loads(request.data)
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc


def _repository_name(project: Project, repo: Repository) -> str:
    return f"projects/{project.project_id}/locations/{repo.location}/repositories/{repo.name}"


def _requested_version(value: Any) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(
            400, f"Invalid value at 'options.requested_policy_version': {value!r}"
        ) from exc


# -- container v1 ---------------------------------------------------------------------------


def _zone_suffixes(location: str) -> list[str]:
    return [location] if re.fullmatch(r".+-[a-z]", location) else [f"{location}-{z}" for z in "abc"]


def cluster_json(project: Project, cluster: Cluster) -> dict[str, Any]:
    """A Cluster resource as container v1 returns it."""
    base = f"https://container.googleapis.com/v1/projects/{project.project_id}/locations/{cluster.location}/clusters/{cluster.name}"
    zones = _zone_suffixes(cluster.location)
    host = cluster.network_project or project.project_id  # a Shared VPC's host project
    pools = []
    for pool in cluster.node_pools.values():
        # GKE names a pool's instance group gke-CLUSTER-POOL-HASH-grp and its nodes
        # gke-CLUSTER-POOL-HASH-XXXX; one group per zone.
        prefixes = sorted({node.rsplit("-", 1)[0] for node in pool.nodes})
        if not prefixes:
            digest = hashlib.sha256(f"{cluster.name}/{pool.name}".encode()).hexdigest()[:8]
            prefixes = [f"gke-{cluster.name}-{pool.name}-{digest}"]
        urls = [
            f"https://www.googleapis.com/compute/v1/projects/{project.project_id}/zones/"
            f"{zones[i % len(zones)]}/instanceGroupManagers/{prefix}-grp"
            for i, prefix in enumerate(prefixes)
        ]
        pools.append(
            {
                "name": pool.name,
                "config": {
                    "machineType": "e2-medium",
                    "diskSizeGb": 100,
                    "oauthScopes": list(pool.oauth_scopes),
                    "serviceAccount": pool.service_account,
                    "imageType": pool.image_type,
                    "gcfsConfig": {"enabled": True} if pool.image_streaming else {},
                },
                "initialNodeCount": len(pool.nodes),
                "version": pool.version,
                "instanceGroupUrls": urls,
                "status": "RUNNING",
                "selfLink": f"{base}/nodePools/{pool.name}",
                "locations": zones,
                # NodeNetworkConfig.enablePrivateNodes: the pool's own setting, else the
                # cluster's default.
                "networkConfig": {
                    "enablePrivateNodes": (
                        cluster.private_nodes if pool.private_nodes is None else pool.private_nodes
                    )
                },
            }
        )
    node_versions = sorted((p.version for p in cluster.node_pools.values()), key=_version_key)
    kind: dict[str, Any] = {"autopilot": {}}  # proto3 JSON leaves out `enabled: false`
    if cluster.autopilot:
        # An Autopilot cluster's pools are made from its auto-provisioning defaults
        # (https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/
        # projects.locations.clusters#ClusterAutoscaling): the world's first pool stands for them.
        first = next(iter(cluster.node_pools.values()))
        kind = {
            "autopilot": {"enabled": True},
            "autoscaling": {
                "enableNodeAutoprovisioning": True,
                "autoprovisioningNodePoolDefaults": {
                    "serviceAccount": first.service_account,
                    "oauthScopes": list(first.oauth_scopes),
                },
            },
        }
    return {
        "name": cluster.name,
        "location": cluster.location,
        "zone": cluster.location,
        "locations": zones,
        "currentMasterVersion": cluster.version,
        "initialClusterVersion": cluster.version,
        "currentNodeVersion": node_versions[0],
        "currentNodeCount": sum(len(p.nodes) for p in cluster.node_pools.values()),
        "status": "RUNNING",
        "selfLink": base,
        # The names, and in networkConfig the paths (the host project's, for a Shared VPC).
        "network": cluster.network,
        "subnetwork": cluster.subnetwork,
        "networkConfig": {
            "network": f"projects/{host}/global/networks/{cluster.network}",
            "subnetwork": (
                f"projects/{host}/regions/{_region(cluster.location)}/"
                f"subnetworks/{cluster.subnetwork}"
            ),
            "defaultEnablePrivateNodes": cluster.private_nodes,
        },
        **({"privateClusterConfig": {"enablePrivateNodes": True}} if cluster.private_nodes else {}),
        "nodePools": pools,
        **kind,
    }


def _region(location: str) -> str:
    """us-central1 for us-central1 and us-central1-b."""
    return location.rsplit("-", 1)[0] if re.fullmatch(r".+-[a-z]", location) else location


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


@_route("GET", _CLUSTER, "container.projects.locations.clusters.get", "v1")
def _get_cluster(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        return cluster_json(*app._cluster(params))


@_route("GET", _ZONAL_CLUSTER, "container.projects.zones.clusters.get", "v1")
def _get_zonal_cluster(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        return cluster_json(*app._cluster(params))


# -- artifactregistry v1 --------------------------------------------------------------------


@_route("GET", _REPO, "artifactregistry.projects.locations.repositories.get", "v1")
def _get_repository(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        repo = app._repository(project, params)
        return {
            "name": _repository_name(project, repo),
            "format": "DOCKER",
            "mode": f"{repo.mode.upper()}_REPOSITORY",
            **({"kmsKeyName": repo.kms_key_name} if repo.kms_key_name else {}),
            **_remote_config(repo),
            "createTime": "2024-01-01T00:00:00Z",
            "updateTime": "2024-01-01T00:00:00Z",
        }


def _remote_config(repo: Repository) -> dict[str, Any]:
    """A virtual repository's `virtualRepositoryConfig`; a remote repository's
    `remoteRepositoryConfig` (https://cloud.google.com/
    artifact-registry/docs/reference/rest/v1/projects.locations.repositories#
    RemoteRepositoryConfig): Docker Hub upstream, with its credentials where the world has
    them (`upstreamCredentials.usernamePasswordCredentials.passwordSecretVersion`)."""
    if repo.mode == "virtual":
        # VirtualRepositoryConfig (https://cloud.google.com/artifact-registry/docs/reference/
        # rest/v1/projects.locations.repositories#VirtualRepositoryConfig): the first listed
        # upstream has the highest priority.
        count = len(repo.upstreams)
        policies = [
            {"id": name.rsplit("/", 1)[-1], "repository": name, "priority": (count - i) * 10}
            for i, name in enumerate(repo.upstreams)
        ]
        return {"virtualRepositoryConfig": {"upstreamPolicies": policies}}
    if repo.mode != "remote":
        return {}
    upstream = repo.remote_upstream
    config: dict[str, Any] = {"description": "Docker Hub" if upstream == "DOCKER_HUB" else upstream}
    if upstream == "DOCKER_HUB":
        config["dockerRepository"] = {"publicRepository": "DOCKER_HUB"}
    elif upstream.startswith("projects/"):
        config["commonRepository"] = {"uri": upstream}
    else:
        config["dockerRepository"] = {"customRepository": {"uri": upstream}}
    if repo.upstream_secret_version:
        config["upstreamCredentials"] = {
            "usernamePasswordCredentials": {
                "username": "pull-bot",
                "passwordSecretVersion": repo.upstream_secret_version,
            }
        }
    return {"remoteRepositoryConfig": config}


@_route(
    "GET",
    "/v1/projects/{project}/locations/{location}/vpcscConfig",
    "artifactregistry.projects.locations.getVpcscConfig",
    "v1",
)
def _get_vpcsc_config(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """A project and location's VPCSCConfig (https://cloud.google.com/artifact-registry/docs/
    reference/rest/v1/VPCSCConfig): `vpcscPolicy` where the world sets one; unset
    (VPCSC_POLICY_UNSPECIFIED, which proto3 JSON leaves out) behaves as DENY."""
    with app.state.lock:
        project = app._project(params["project"])
        policy = project.vpcsc_policy.get(params["location"])
        name = f"projects/{project.project_id}/locations/{params['location']}/vpcscConfig"
        return {"name": name, **({"vpcscPolicy": policy} if policy else {})}


@_route(
    "GET",
    _REPO + ":getIamPolicy",
    "artifactregistry.projects.locations.repositories.getIamPolicy",
    "v1",
)
def _get_repository_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    version = _requested_version(request.args.get("options.requestedPolicyVersion"))
    with app.state.lock:
        repo = app._repository(app._project(params["project"]), params)
        return policy_json(repo.policy, version)


@_route(
    "POST",
    _REPO + ":setIamPolicy",
    "artifactregistry.projects.locations.repositories.setIamPolicy",
    "v1",
)
def _set_repository_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    body = _body(request)
    with app.state.lock:
        repo = app._repository(app._project(params["project"]), params)
        return set_policy(repo.policy, body, app.state.world)


@_route(
    "GET",
    _REPO + "/packages/{package}/tags/{tag}",
    "artifactregistry.projects.locations.repositories.packages.tags.get",
    "v1",
)
def _get_tag(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        repo = app._repository(project, params)
        # A package id is the image path with "/" escaped as %2F.
        image = urllib.parse.unquote(params["package"])
        if f"{image}:{params['tag']}" not in repo.tags:
            raise ApiError(404, f"Requested entity was not found: tag {params['tag']} of {image}")
        name = f"{_repository_name(project, repo)}/packages/{urllib.parse.quote(image, safe='')}"
        digest = _digest(name, params["tag"])
        return {
            "name": f"{name}/tags/{params['tag']}",
            "version": f"{name}/versions/sha256:{digest}",
        }


def _digest(package: str, tag: str) -> str:
    """The sandbox's digest of a tagged image: stable, one per package and tag."""
    return hashlib.sha256(f"{package}:{tag}".encode()).hexdigest()


@_route(
    "GET",
    _REPO + "/dockerImages/{image}",
    "artifactregistry.projects.locations.repositories.dockerImages.get",
    "v1",
)
def _get_docker_image(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """A DockerImage by `IMAGE@sha256:DIGEST` (the image path with "/" escaped as %2F), as
    Artifact Registry's dockerImages.get answers (https://cloud.google.com/artifact-registry/
    docs/reference/rest/v1/projects.locations.repositories.dockerImages#DockerImage)."""
    with app.state.lock:
        project = app._project(params["project"])
        repo = app._repository(project, params)
        image, _, digest = urllib.parse.unquote(params["image"]).partition("@sha256:")
        repository = _repository_name(project, repo)
        package = f"{repository}/packages/{urllib.parse.quote(image, safe='')}"
        for tag in repo.tags:
            path, _, name = tag.rpartition(":")
            if path == image and _digest(package, name) == digest:
                manifest = repo.manifest(tag)
                escaped = urllib.parse.quote(image, safe="")
                return {
                    "name": f"{repository}/dockerImages/{escaped}@sha256:{digest}",
                    "uri": f"{repo.location}-docker.pkg.dev/{project.project_id}/"
                    f"{repo.name}/{image}@sha256:{digest}",
                    "tags": [
                        n
                        for p, _, n in (t.rpartition(":") for t in repo.tags)
                        if p == image and _digest(package, n) == digest
                    ],
                    "imageSizeBytes": str(manifest.size_bytes),
                    "mediaType": manifest.media_type,
                    "uploadTime": "2024-01-01T00:00:00Z",
                    "updateTime": "2024-01-01T00:00:00Z",
                }
        raise ApiError(404, f"Requested entity was not found: image {image}@sha256:{digest}")


# -- cloudresourcemanager v3 ----------------------------------------------------------------


@_route("GET", "/v3/projects/{project}", "cloudresourcemanager.projects.get", "v3")
def _get_project(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        out = {
            "name": f"projects/{project.number}",
            "projectId": project.project_id,
            "state": "ACTIVE",
            "displayName": project.project_id,
            "createTime": "2024-01-01T00:00:00Z",
            "etag": base64.b64encode(f"p{project.number}".encode()).decode(),
        }
        if project.parent is not None:
            out["parent"] = project.parent
        return out


def _folder(app: RestApp, key: str) -> Folder:
    folder = app.state.world.folders.get(key)
    if folder is None:
        raise ApiError(403, f"Permission denied on resource folders/{key} (or it may not exist).")
    return folder


def _organization(app: RestApp, key: str) -> Organization:
    org = app.state.world.organization
    if org is None or org.org_id != key:
        raise ApiError(
            403, f"Permission denied on resource organizations/{key} (or it may not exist)."
        )
    return org


def _policy_request_version(request: Request) -> int:
    body = _body(request)
    options = body.get("options") or {} if isinstance(body, dict) else {}
    return _requested_version(options.get("requestedPolicyVersion"))


@_route("GET", "/v3/folders/{folder}", "cloudresourcemanager.folders.get", "v3")
def _get_folder(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        folder = _folder(app, params["folder"])
        return {
            "name": f"folders/{folder.folder_id}",
            "parent": folder.parent,
            "displayName": f"folder-{folder.folder_id}",
            "state": "ACTIVE",
            "createTime": "2024-01-01T00:00:00Z",
            "etag": base64.b64encode(f"f{folder.folder_id}".encode()).decode(),
        }


@_route(
    "POST", "/v3/folders/{folder}:getIamPolicy", "cloudresourcemanager.folders.getIamPolicy", "v3"
)
def _get_folder_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    version = _policy_request_version(request)
    with app.state.lock:
        return policy_json(_folder(app, params["folder"]).policy, version)


@_route("GET", "/v3/organizations/{organization}", "cloudresourcemanager.organizations.get", "v3")
def _get_organization(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        org = _organization(app, params["organization"])
        return {
            "name": f"organizations/{org.org_id}",
            "displayName": "example.com",
            "directoryCustomerId": "C0sandbox",
            "state": "ACTIVE",
            "createTime": "2024-01-01T00:00:00Z",
            "etag": base64.b64encode(f"o{org.org_id}".encode()).decode(),
        }


@_route(
    "POST",
    "/v3/organizations/{organization}:getIamPolicy",
    "cloudresourcemanager.organizations.getIamPolicy",
    "v3",
)
def _get_organization_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    version = _policy_request_version(request)
    with app.state.lock:
        return policy_json(_organization(app, params["organization"]).policy, version)


# -- iam v1 (IAM admin) ---------------------------------------------------------------------


@_route(
    "GET",
    "/v1/projects/{project}/serviceAccounts/{account}",
    "iam.projects.serviceAccounts.get",
    "v1",
)
def _get_service_account(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        name = f"projects/{params['project']}/serviceAccounts/{params['account']}"
        return service_account_json(app.state.world, name)


@_route("GET", "/v1/roles/{role}", "iam.roles.get", "v1")
def _get_role(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        return role_json(app.state.world, f"roles/{params['role']}")


@_route("GET", "/v1/projects/{project}/roles/{role}", "iam.projects.roles.get", "v1")
def _get_project_role(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        return role_json(app.state.world, f"projects/{params['project']}/roles/{params['role']}")


@_route("GET", "/v1/organizations/{organization}/roles/{role}", "iam.organizations.roles.get", "v1")
def _get_organization_role(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        name = f"organizations/{params['organization']}/roles/{params['role']}"
        return role_json(app.state.world, name)


# -- policytroubleshooter v3 ----------------------------------------------------------------


@_route("POST", "/v3/iam:troubleshoot", "policytroubleshooter.iam.troubleshoot", "v3")
def _troubleshoot(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    from pullfix.dev.sandbox.evaluate import troubleshoot

    body = _body(request)
    with app.state.lock:
        return troubleshoot(app.state.world, body)


@_route("POST", "/v3beta/iam:troubleshoot", "policytroubleshooter.iam.troubleshoot", "v3beta")
def _troubleshoot_v3beta(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    from pullfix.dev.sandbox.evaluate import troubleshoot_v3beta

    body = _body(request)
    with app.state.lock:
        return troubleshoot_v3beta(app.state.world, body)


# -- compute v1 -----------------------------------------------------------------------------


def node_zone(cluster: Cluster, pool: NodePool, node: str) -> str:
    """The zone GKE put a node in: its instance group's (see `cluster_json`)."""
    zones = _zone_suffixes(cluster.location)
    prefixes = sorted({n.rsplit("-", 1)[0] for n in pool.nodes})
    return zones[prefixes.index(node.rsplit("-", 1)[0]) % len(zones)]


@_route(
    "GET",
    "/compute/v1/projects/{project}/zones/{zone}/instances/{instance}",
    "compute.instances.get",
    "v1",
)
def _get_instance(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        for cluster in project.clusters.values():
            for pool in cluster.node_pools.values():
                if params["instance"] not in pool.nodes:
                    continue
                zone = node_zone(cluster, pool, params["instance"])
                if zone != params["zone"]:
                    continue
                return _instance_json(project, cluster, pool, params["instance"], zone)
        raise ApiError(
            404,
            f"The resource 'projects/{params['project']}/zones/{params['zone']}/instances/"
            f"{params['instance']}' was not found",
        )


def _instance_json(
    project: Project, cluster: Cluster, pool: NodePool, node: str, zone: str
) -> dict[str, Any]:
    base = f"https://www.googleapis.com/compute/v1/projects/{project.project_id}/zones/{zone}"
    group = f"{node.rsplit('-', 1)[0]}-grp"
    account = (
        pool.service_account
        if pool.service_account != "default"
        else f"{project.number}-compute@developer.gserviceaccount.com"
    )
    digest = int(hashlib.sha256(f"{project.project_id}/{node}".encode()).hexdigest()[:15], 16)
    return {
        "kind": "compute#instance",
        "id": str(digest),
        "name": node,
        "zone": base,
        "status": "RUNNING",
        "machineType": f"{base}/machineTypes/e2-medium",
        "selfLink": f"{base}/instances/{node}",
        "metadata": {
            "kind": "compute#metadata",
            "fingerprint": base64.b64encode(node.encode()).decode(),
            "items": [
                # GKE's managed instance groups write these (created-by with the number).
                {
                    "key": "created-by",
                    "value": (
                        f"projects/{project.number}/zones/{zone}/instanceGroupManagers/{group}"
                    ),
                },
                {"key": "cluster-name", "value": cluster.name},
                {"key": "cluster-location", "value": cluster.location},
            ],
        },
        "serviceAccounts": [{"email": account, "scopes": list(pool.oauth_scopes)}],
        "labels": {"goog-gke-node": ""},
    }


_COMPUTE = "https://www.googleapis.com/compute/v1/projects/{}"


@_route(
    "GET",
    "/compute/v1/projects/{project}/regions/{region}/subnetworks/{subnetwork}",
    "compute.subnetworks.get",
    "v1",
)
def _get_subnetwork(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        subnet = project.subnetworks.get(params["subnetwork"])
        if subnet is None or subnet.region != params["region"]:
            raise ApiError(
                404,
                f"The resource 'projects/{params['project']}/regions/{params['region']}/"
                f"subnetworks/{params['subnetwork']}' was not found",
            )
        base = _COMPUTE.format(project.project_id)
        return {
            "kind": "compute#subnetwork",
            "id": str(int(hashlib.sha256(subnet.name.encode()).hexdigest()[:15], 16)),
            "name": subnet.name,
            "network": f"{base}/global/networks/{subnet.network}",
            "ipCidrRange": subnet.ip_cidr_range,
            "region": f"{base}/regions/{subnet.region}",
            "privateIpGoogleAccess": subnet.private_ip_google_access,
            "selfLink": f"{base}/regions/{subnet.region}/subnetworks/{subnet.name}",
        }


def _list_page(kind: str, items: list[dict[str, Any]], link: str) -> dict[str, Any]:
    """A Compute list answer: one page (the sandbox's worlds are small)."""
    return {"kind": kind, "id": link, "items": items, "selfLink": link}


@_route(
    "GET", "/compute/v1/projects/{project}/regions/{region}/routers", "compute.routers.list", "v1"
)
def _list_routers(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        base = _COMPUTE.format(project.project_id)
        items = [
            {
                "kind": "compute#router",
                "name": router.name,
                "region": f"{base}/regions/{router.region}",
                "network": f"{base}/global/networks/{router.network}",
                "nats": [
                    {
                        "name": nat["name"],
                        "sourceSubnetworkIpRangesToNat": nat["source_subnetwork_ip_ranges_to_nat"],
                        "natIpAllocateOption": "AUTO_ONLY",
                        # RouterNatSubnetworkToNat.name: the subnetwork's URL.
                        "subnetworks": [
                            {
                                "name": f"{base}/regions/{router.region}/subnetworks/{subnet}",
                                "sourceIpRangesToNat": ["ALL_IP_RANGES"],
                            }
                            for subnet in nat["subnetworks"]
                        ],
                    }
                    for nat in router.nats
                ],
                "selfLink": f"{base}/regions/{router.region}/routers/{router.name}",
            }
            for router in project.routers.values()
            if router.region == params["region"]
        ]
        return _list_page("compute#routerList", items, f"{base}/regions/{params['region']}/routers")


def _firewall_entries(rules: list[str]) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        protocol, _, ports = rule.partition(":")
        out.append({"IPProtocol": protocol, **({"ports": [ports]} if ports else {})})
    return out


@_route("GET", "/compute/v1/projects/{project}/global/firewalls", "compute.firewalls.list", "v1")
def _list_firewalls(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        base = _COMPUTE.format(project.project_id)
        items = []
        for rule in project.firewalls.values():
            item: dict[str, Any] = {
                "kind": "compute#firewall",
                "name": rule.name,
                "network": f"{base}/global/networks/{rule.network}",
                "direction": rule.direction,
                "priority": rule.priority,
                "disabled": rule.disabled,
                "selfLink": f"{base}/global/firewalls/{rule.name}",
                # Firewall.allowed[] / denied[]: one of the two, per the rule's action.
                ("denied" if rule.action == "deny" else "allowed"): _firewall_entries(rule.rules),
            }
            if rule.direction == "EGRESS":
                item["destinationRanges"] = list(rule.destination_ranges)
            else:
                item["sourceRanges"] = list(rule.destination_ranges)
            if rule.target_tags:
                item["targetTags"] = list(rule.target_tags)
            items.append(item)
        return _list_page("compute#firewallList", items, f"{base}/global/firewalls")


@_route("GET", "/compute/v1/projects/{project}/global/routes", "compute.routes.list", "v1")
def _list_routes(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        base = _COMPUTE.format(project.project_id)
        items = []
        for route in project.routes.values():
            item: dict[str, Any] = {
                "kind": "compute#route",
                "name": route.name,
                "network": f"{base}/global/networks/{route.network}",
                "destRange": route.dest_range,
                "priority": route.priority,
                "selfLink": f"{base}/global/routes/{route.name}",
            }
            if route.next_hop_gateway:
                item["nextHopGateway"] = f"{base}/global/gateways/{route.next_hop_gateway}"
            if route.next_hop_ip:
                item["nextHopIp"] = route.next_hop_ip
            if route.tags:
                item["tags"] = list(route.tags)
            items.append(item)
        return _list_page("compute#routeList", items, f"{base}/global/routes")


# -- dns v1 ------------------------------------------------------------------------------

# How many items a page of a Cloud DNS list holds when the request sets no smaller
# `maxResults` ("If unspecified, the server decides how many results to return",
# https://cloud.google.com/dns/docs/reference/v1/managedZones/list): small, so that callers
# page.
DNS_PAGE_SIZE = 2


def _dns_page(request: Request, items: list[dict[str, Any]], key: str, kind: str) -> Any:
    """One page of a Cloud DNS list: `pageToken` is where it starts, `nextPageToken` where the
    next does (absent on the last page)."""
    token = request.args.get("pageToken") or ""
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode() or "0") if token else 0
    except (ValueError, binascii.Error) as exc:
        raise ApiError(400, "Invalid value for 'pageToken'") from exc
    size = DNS_PAGE_SIZE
    if request.args.get("maxResults"):
        try:
            size = max(1, min(size, int(request.args["maxResults"])))
        except ValueError as exc:
            raise ApiError(400, "Invalid value for 'maxResults'") from exc
    page: dict[str, Any] = {"kind": kind, key: items[start : start + size]}
    if start + size < len(items):
        page["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return page


def _zone_json(project: Project, zone: Any) -> dict[str, Any]:
    """A ManagedZone as Cloud DNS answers it (https://cloud.google.com/dns/docs/reference/v1/
    managedZones#resource): a private zone's networks as Compute URLs."""
    body: dict[str, Any] = {
        "kind": "dns#managedZone",
        "name": zone.name,
        "dnsName": zone.dns_name,
        "description": "",
        "id": str(
            int(hashlib.sha256(f"{project.number}/{zone.name}".encode()).hexdigest()[:15], 16)
        ),
        "nameServers": (
            ["ns-gcp-private.googledomains.com."]
            if zone.visibility == "private"
            else [f"ns-cloud-a{i}.googledomains.com." for i in range(1, 5)]
        ),
        "creationTime": "2024-01-01T00:00:00.000Z",
        "visibility": zone.visibility,
    }
    if zone.visibility == "private":
        body["privateVisibilityConfig"] = {
            "kind": "dns#managedZonePrivateVisibilityConfig",
            "networks": [
                {
                    "kind": "dns#managedZonePrivateVisibilityConfigNetwork",
                    "networkUrl": f"https://www.googleapis.com/compute/v1/{network}",
                }
                for network in zone.networks
            ],
        }
    return body


@_route("GET", "/dns/v1/projects/{project}/managedZones", "dns.managedZones.list", "v1")
def _list_managed_zones(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    with app.state.lock:
        project = app._project(params["project"])
        items = [_zone_json(project, zone) for zone in project.dns_zones.values()]
        return _dns_page(request, items, "managedZones", "dns#managedZonesListResponse")


@_route(
    "GET",
    "/dns/v1/projects/{project}/managedZones/{managedZone}/rrsets",
    "dns.resourceRecordSets.list",
    "v1",
)
def _list_record_sets(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """A zone's record sets, by the zone's name or id; the SOA and NS sets Cloud DNS makes
    at the apex of every zone come first."""
    with app.state.lock:
        project = app._project(params["project"])
        wanted = params["managedZone"]
        zone = next(
            (
                z
                for z in project.dns_zones.values()
                if wanted in (z.name, _zone_json(project, z)["id"])
            ),
            None,
        )
        if zone is None:
            raise ApiError(
                404, f"The 'parameters.managedZone' resource named '{wanted}' does not exist."
            )
        server = _zone_json(project, zone)["nameServers"][0]
        items: list[dict[str, Any]] = [
            {
                "kind": "dns#resourceRecordSet",
                "name": zone.dns_name,
                "type": "NS",
                "ttl": 21600,
                "rrdatas": [server],
            },
            {
                "kind": "dns#resourceRecordSet",
                "name": zone.dns_name,
                "type": "SOA",
                "ttl": 21600,
                "rrdatas": [f"{server} cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"],
            },
        ]
        items += [
            {
                "kind": "dns#resourceRecordSet",
                "name": r["name"],
                "type": r["type"],
                "ttl": r["ttl"],
                "rrdatas": list(r["rrdatas"]),
            }
            for r in zone.records
        ]
        return _dns_page(request, items, "rrsets", "dns#resourceRecordSetsListResponse")


@_route(
    "POST",
    "/v3/projects/{project}:getIamPolicy",
    "cloudresourcemanager.projects.getIamPolicy",
    "v3",
)
def _get_project_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    version = _policy_request_version(request)
    with app.state.lock:
        return policy_json(app._project(params["project"]).policy, version)


@_route(
    "POST",
    "/v3/projects/{project}:setIamPolicy",
    "cloudresourcemanager.projects.setIamPolicy",
    "v3",
)
def _set_project_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    body = _body(request)
    with app.state.lock:
        return set_policy(app._project(params["project"]).policy, body, app.state.world)


# -- pubsub v1 ------------------------------------------------------------------------------


@_route(
    "POST", "/v1/projects/{project}/topics/{topic}:publish", "pubsub.projects.topics.publish", "v1"
)
def _publish(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    body = _body(request)
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "The request contains no messages.")
    with app.state.lock:
        project = app.state.world.projects.get(params["project"])
        topic = project.topics.get(params["topic"]) if project else None
        if project is None or topic is None:
            raise ApiError(404, f"Resource not found (resource={params['topic']}).")
        endpoint = topic.push_endpoint
    ids, accepted = [], []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ApiError(400, f"messages[{index}] must be an object")
        data = message.get("data", "")
        attributes = message.get("attributes") or {}
        if not data and not attributes:
            raise ApiError(400, "Some messages contain neither data nor attributes.")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, f"Invalid value at 'messages[{index}].data' (TYPE_BYTES)") from exc
        message_id = app.next_message_id()
        ids.append(message_id)
        accepted.append(
            {"data": data, "attributes": attributes, "messageId": message_id, "publishTime": _now()}
        )
    if endpoint:
        for message in accepted:
            app.pusher.submit(Delivery(params["project"], params["topic"], endpoint, message))
    return {"messageIds": ids}


# -- logging v2 -----------------------------------------------------------------------------

_MAX_PAGE = 1000
# "Length of a Logging query language query: 20,000 characters"
# (https://cloud.google.com/logging/quotas); Logging refuses a longer filter with 400.
_MAX_FILTER = 20_000


@_route("POST", "/v2/entries:list", "logging.entries.list", "v2")
def _list_entries(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    from pullfix.core.logfilter import FilterError, matches

    body = _body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload: expected an object")
    names = body.get("resourceNames") or []
    if not names or not all(isinstance(n, str) for n in names):
        raise ApiError(400, "resourceNames: at least one resource name is required")
    size = body.get("pageSize") or 50
    if not isinstance(size, int) or size < 1:
        raise ApiError(400, "pageSize must be a positive integer")
    size = min(size, _MAX_PAGE)
    token = body.get("pageToken") or ""
    try:
        start = int(base64.b64decode(token).decode()) if token else 0
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "Invalid page token") from exc
    text = body.get("filter") or ""
    with app.state.lock:
        if isinstance(text, str) and "cloudaudit.googleapis.com%2Fpolicy" in text:
            # Told apart in the stats (a key of its own besides the method's): the diagnosis's
            # policy audit log lookups (the vpc_sc check), beside verification's and scan's reads.
            app.state.requests["logging.entries.list:policy"] += 1
        # The read quota ("Number of entries.list requests: 60 per minute, per Google Cloud
        # project", https://cloud.google.com/logging/quotas#api-limits) as the world sets it:
        # past it, 429 RESOURCE_EXHAUSTED.
        left = app.state.world.logging_read_quota
        if left is not None:
            if left <= 0:
                raise ApiError(
                    429,
                    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests "
                    "per minute' of service 'logging.googleapis.com'",
                )
            app.state.world.logging_read_quota = left - 1
    if not isinstance(text, str):
        raise ApiError(400, "Invalid value at 'filter' (TYPE_STRING)")
    if len(text) > _MAX_FILTER:
        raise ApiError(
            400,
            f"Invalid filter: the filter is {len(text)} characters long; the maximum length "
            f"of a filter is {_MAX_FILTER} characters",
        )
    descending = str(body.get("orderBy") or "").strip().lower().endswith("desc")
    with app.state.lock:
        entries = list(app.state.world.log_entries)
    projects = {n.split("/", 1)[1] for n in names if n.startswith("projects/")}
    for name in names:
        if (
            name.startswith("projects/")
            and app.state.world.find_project(name.split("/")[1]) is None
        ):
            raise ApiError(
                403, f"The caller does not have permission on {name} (or it may not exist)"
            )
    # Folders and organizations see every project of the world (it knows no hierarchy).
    whole_world = any(not n.startswith("projects/") for n in names)
    try:
        selected = [
            entry
            for entry in entries
            if (whole_world or str(entry.get("logName", "")).split("/")[1] in projects)
            and matches(text, entry)
        ]
    except FilterError as exc:
        raise ApiError(400, f"Invalid filter: {exc}") from exc
    selected.sort(key=lambda e: str(e.get("timestamp", "")), reverse=descending)
    page = selected[start : start + size]
    out: dict[str, Any] = {"entries": page}
    if start + size < len(selected):
        out["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
    return out


# -- serviceusage v1 ------------------------------------------------------------------------


@_route("GET", "/v1/{consumer}/{key}/services/{service}", "serviceusage.services.get", "v1")
def _get_service(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """A Service (https://cloud.google.com/service-usage/docs/reference/rest/v1/services):
    for a project, its name and parent by project number (whatever the request named it by)
    and `state` ENABLED unless the world disables it; folders and organizations are always
    STATE_UNSPECIFIED ("all consumers other than projects", the State enum)."""
    consumer, key, service = params["consumer"], params["key"], params["service"]
    if consumer in ("folders", "organizations"):
        return {
            "name": f"{consumer}/{key}/services/{service}",
            "parent": f"{consumer}/{key}",
            "state": "STATE_UNSPECIFIED",
        }
    if consumer != "projects":
        raise ApiError(400, f"Invalid resource name: {consumer}/{key}")
    with app.state.lock:
        project = app._project(key)
        disabled = service in project.disabled_services
        return {
            "name": f"projects/{project.number}/services/{service}",
            "parent": f"projects/{project.number}",
            "state": "DISABLED" if disabled else "ENABLED",
        }


# -- cloudkms v1 ----------------------------------------------------------------------------

_KEY = "/v1/projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{key}"


def _crypto_key(app: RestApp, params: dict[str, str]) -> tuple[str, Any]:
    project = app._project(params["project"])
    key = project.crypto_keys.get(f"{params['location']}/{params['ring']}/{params['key']}")
    name = (
        f"projects/{project.project_id}/locations/{params['location']}/keyRings/"
        f"{params['ring']}/cryptoKeys/{params['key']}"
    )
    if key is None:
        raise ApiError(404, f"{name} not found.")
    return name, key


@_route("GET", _KEY, "cloudkms.projects.locations.keyRings.cryptoKeys.get", "v1")
def _get_crypto_key(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """A CryptoKey (https://cloud.google.com/kms/docs/reference/rest/v1/
    projects.locations.keyRings.cryptoKeys#CryptoKey) with its primary version's state."""
    with app.state.lock:
        name, key = _crypto_key(app, params)
        return {
            "name": name,
            "purpose": "ENCRYPT_DECRYPT",
            "createTime": "2024-01-01T00:00:00Z",
            "primary": {
                "name": f"{name}/cryptoKeyVersions/1",
                "state": key.state,
                "protectionLevel": "SOFTWARE",
                "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
                "createTime": "2024-01-01T00:00:00Z",
            },
            "versionTemplate": {
                "protectionLevel": "SOFTWARE",
                "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
            },
        }


@_route(
    "GET",
    _KEY + ":getIamPolicy",
    "cloudkms.projects.locations.keyRings.cryptoKeys.getIamPolicy",
    "v1",
)
def _get_crypto_key_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    version = _requested_version(request.args.get("options.requestedPolicyVersion"))
    with app.state.lock:
        _, key = _crypto_key(app, params)
        return policy_json(key.policy, version)


# -- secretmanager v1 -----------------------------------------------------------------------

_SM = "/v1/projects/{project}/secrets/{secret}"


def _secret(app: RestApp, params: dict[str, str]) -> tuple[Project, Secret]:
    project = app._project(params["project"])
    secret = project.secrets.get(params["secret"])
    if secret is None:
        raise ApiError(
            404, f"Secret [projects/{project.number}/secrets/{params['secret']}] not found."
        )
    return project, secret


@_route(
    "GET",
    _SM + "/versions/{version}",
    "secretmanager.projects.secrets.versions.get",
    "v1",
)
def _get_secret_version(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """A SecretVersion's metadata, never its payload (https://cloud.google.com/
    secret-manager/docs/reference/rest/v1/projects.secrets.versions#SecretVersion); names
    carry the project's number, as Secret Manager's do; `latest` is the newest version."""
    with app.state.lock:
        project, secret = _secret(app, params)
        name = f"projects/{project.number}/secrets/{params['secret']}/versions"
        found = secret.version(params["version"])
        if found is None:
            raise ApiError(404, f"Secret Version [{name}/{params['version']}] not found.")
        number, state = found
        return {
            "name": f"{name}/{number}",
            "createTime": "2024-01-01T00:00:00Z",
            "state": state,
            **({"destroyTime": "2024-06-01T00:00:00Z"} if state == "DESTROYED" else {}),
            "etag": f'"{number}{state.lower()}"',
        }


@_route("GET", _SM + ":getIamPolicy", "secretmanager.projects.secrets.getIamPolicy", "v1")
def _get_secret_policy(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    version = _requested_version(request.args.get("options.requestedPolicyVersion"))
    with app.state.lock:
        _, secret = _secret(app, params)
        return policy_json(secret.policy, version)


# -- cloudidentity v1 -----------------------------------------------------------------------


def _group_id(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()[:15]


@_route("GET", "/v1/groups:lookup", "cloudidentity.groups.lookup", "v1")
def _lookup_group(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """The resource name of the world's group of that email (`groups.EMAIL`); a group the
    world does not have is refused as Cloud Identity refuses one the caller cannot see."""
    email = request.args.get("groupKey.id") or ""
    if not email:
        raise ApiError(400, "Request contains an invalid argument: groupKey.id is required")
    with app.state.lock:
        known = {g.lower() for g in app.state.world.groups}
    if email.lower() not in known:
        raise ApiError(403, "The caller does not have permission")
    return {"name": f"groups/{_group_id(email)}"}


_MEMBER_QUERY_RE = re.compile(r"\s*member_key_id\s*==\s*'((?:[^'\\]|\\.)*)'\s*")


@_route(
    "GET",
    "/v1/groups/{group}/memberships:checkTransitiveMembership",
    "cloudidentity.groups.memberships.checkTransitiveMembership",
    "v1",
)
def _check_transitive_membership(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """Whether the member the CEL `query` names (`member_key_id == 'EMAIL'`) belongs to the
    group directly or through the groups among its members (groups nest)."""
    found = _MEMBER_QUERY_RE.fullmatch(request.args.get("query") or "")
    if found is None:
        raise ApiError(400, "Request contains an invalid argument: query")
    member = re.sub(r"\\(.)", r"\1", found.group(1)).lower()
    with app.state.lock:
        groups = {g.lower(): list(m) for g, m in app.state.world.groups.items()}
    start = next((g for g in groups if _group_id(g) == params["group"]), None)
    if start is None:
        raise ApiError(403, "The caller does not have permission")
    seen, pending = set(), [start]
    while pending:
        group = pending.pop()
        if group in seen:
            continue
        seen.add(group)
        for entry in groups.get(group, []):
            kind, _, email = entry.partition(":")
            if email.lower() == member and kind in ("user", "serviceAccount", "group"):
                return {"hasMembership": True}
            if kind == "group":
                pending.append(email.lower())
    return {"hasMembership": False}


# -- chat v1 --------------------------------------------------------------------------------

# "The maximum message size, including the message contents, is 32,000 bytes."
# (https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create)
_CHAT_MAX_MESSAGE = 32_000
_REPLY_OPTIONS = (
    "MESSAGE_REPLY_OPTION_UNSPECIFIED",
    "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
    "REPLY_MESSAGE_OR_FAIL",
)


@_route("POST", "/v1/spaces/{space}/messages", "chat.spaces.messages.create", "v1")
def _create_chat_message(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    """spaces.messages.create as the Chat app (app authentication), as Google answers it
    (https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create):

    - the app must be a member of the space: "to create a message in a space, the Chat app
      has to itself be a member of the space" (https://developers.google.com/workspace/chat/
      authenticate-authorize-chat-app); otherwise 403 PERMISSION_DENIED. A space that does
      not exist is 404 NOT_FOUND;
    - `requestId`: "Specifying an existing request ID returns the message created with that
      ID instead of creating a new message";
    - `messageReplyOption`: UNSPECIFIED (the default) "Starts a new thread. Using this option
      ignores any thread ID or thread_key"; REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD replies in
      the thread named by `thread.name` or `thread.threadKey`, else starts a new one;
      REPLY_MESSAGE_OR_FAIL does too, but a `thread.name` that does not exist is NOT_FOUND.
      A thread key belongs to the app that set it (Thread.threadKey);
    - at most 32,000 bytes, and (strict mode) only fields of the Message schema.
    """
    body = _body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object (Message).")
    option = request.args.get("messageReplyOption") or "MESSAGE_REPLY_OPTION_UNSPECIFIED"
    if option not in _REPLY_OPTIONS:
        raise ApiError(
            400, f"Invalid value at 'message_reply_option' (type.googleapis.com/{option!r})"
        )
    if len(request.data) > _CHAT_MAX_MESSAGE:
        raise ApiError(
            400, f"The message is {len(request.data)} bytes; the maximum is {_CHAT_MAX_MESSAGE}."
        )
    if app.strict:
        from pullfix.dev.sandbox.contract import schema_violations

        problems = schema_violations("chat", "v1", "Message", body)
        if problems:
            raise ApiError(400, f"Invalid JSON payload received. {problems[0]}")
    if not (body.get("text") or body.get("cardsV2") or body.get("cards")):
        raise ApiError(400, "Message cannot be empty. Discarding empty message.")
    request_id = request.args.get("requestId") or ""
    with app.state.lock:
        space = app.state.world.chat_spaces.get(params["space"])
        if space is None:
            raise ApiError(404, "Requested entity was not found.")
        if not space.app_member:
            raise ApiError(403, "The caller does not have permission")
        if request_id and request_id in space.request_ids:
            return space.request_ids[request_id]
        thread = _chat_thread(app, space, body.get("thread"), option)
        sequence = app.next_message_id()
        digest = hashlib.sha256(f"{space.name}/{sequence}".encode()).hexdigest()[:11]
        message = {
            **{k: v for k, v in body.items() if k != "thread"},
            "name": f"{space.name}/messages/{digest}.{digest}",
            "sender": {"name": "users/app", "displayName": "pullfix", "type": "BOT"},
            "createTime": _now(),
            "thread": thread,
            "space": {"name": space.name, "type": "ROOM", "spaceType": "SPACE"},
        }
        space.messages.append(message)
        if request_id:
            space.request_ids[request_id] = message
    for listener in app.chat_listeners:
        listener(message)
    return message


def _chat_thread(app: RestApp, space: Any, wanted: Any, option: str) -> dict[str, Any]:
    """The thread a new message goes to (see `_create_chat_message`)."""
    wanted = wanted if isinstance(wanted, dict) else {}
    threads = [m["thread"] for m in space.messages if isinstance(m.get("thread"), dict)]
    if option != "MESSAGE_REPLY_OPTION_UNSPECIFIED":
        name, key = wanted.get("name"), wanted.get("threadKey")
        if name:
            if any(t.get("name") == name for t in threads):
                return {"name": name}
            if option == "REPLY_MESSAGE_OR_FAIL":
                raise ApiError(404, "Requested entity was not found.")
        elif key:
            found = next((t for t in threads if t.get("threadKey") == key), None)
            if found is not None:
                return dict(found)
            return {"name": _new_thread(app, space), "threadKey": key}
    return {"name": _new_thread(app, space)}


def _new_thread(app: RestApp, space: Any) -> str:
    digest = hashlib.sha256(f"{space.name}/thread/{app.next_message_id()}".encode()).hexdigest()
    return f"{space.name}/threads/{digest[:11]}"


# -- firestore v1 ---------------------------------------------------------------------------

_DATABASE = "/v1/projects/{project}/databases/{database}/documents"


def _database(params: dict[str, str]) -> str:
    return f"projects/{params['project']}/databases/{params['database']}"


@_route(
    "GET",
    _DATABASE + "/{collection}/{document}",
    "firestore.projects.databases.documents.get",
    "v1",
)
def _firestore_get(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    name = f"{_database(params)}/documents/{params['collection']}/{params['document']}"
    return app.store.get(name)


@_route(
    "GET", _DATABASE + "/{collection}", "firestore.projects.databases.documents.listDocuments", "v1"
)
def _firestore_list(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    try:
        size = int(request.args.get("pageSize") or 0)
    except ValueError as exc:
        raise ApiError(400, "Invalid value at 'page_size' (TYPE_INT32)") from exc
    return app.store.list_page(
        f"{_database(params)}/documents",
        params["collection"],
        size,
        request.args.get("pageToken", ""),
    )


@_route("POST", _DATABASE + ":commit", "firestore.projects.databases.documents.commit", "v1")
def _firestore_commit(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    return app.store.commit_request(_database(params), _body(request))


@_route(
    "POST",
    # The parent: the database's documents, or a document (`/collection/id`, nested).
    _DATABASE + "(?P<parent>(?:/[^/:]+/[^/:]+)*):runQuery",
    "firestore.projects.databases.documents.runQuery",
    "v1",
)
def _firestore_query(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    return app.store.run_query(_database(params), _body(request), params.get("parent") or "")


@_route("POST", _DATABASE + ":batchGet", "firestore.projects.databases.documents.batchGet", "v1")
def _firestore_batch_get(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    return app.store.batch_get(_database(params), _body(request))


@_route(
    "POST",
    _DATABASE + ":beginTransaction",
    "firestore.projects.databases.documents.beginTransaction",
    "v1",
)
def _firestore_begin(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    return app.store.begin_transaction()


@_route("POST", _DATABASE + ":rollback", "firestore.projects.databases.documents.rollback", "v1")
def _firestore_rollback(app: RestApp, request: Request, params: dict[str, str]) -> Any:
    return app.store.rollback(_body(request))
