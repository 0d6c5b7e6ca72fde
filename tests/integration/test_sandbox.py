"""The sandbox driven only by the official Google clients, over its real wire protocols."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud.firestore_v1.types import common, document, firestore, write

from pullfix.core.access import verdict_from_troubleshooter
from pullfix.core.model import DOWNLOAD_PERMISSION, AccountInfo
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients
from tests.receivers import receiver

pytestmark = pytest.mark.integration

CLUSTER = "projects/shop-prod/locations/us-central1/clusters/checkout"
APPS = "projects/shop-prod/locations/us-central1/repositories/apps"
READER = "roles/artifactregistry.reader"
DEFAULT_SA = "111111111111-compute@developer.gserviceaccount.com"


def control(sandbox: Sandbox, path: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{sandbox.endpoint}/_sandbox/{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# -- container v1 ---------------------------------------------------------------------------


def test_get_regional_cluster(clients: GoogleClients) -> None:
    cluster = clients.container.get_cluster(name=CLUSTER)
    assert cluster.current_master_version == "1.29.4-gke.1043002"
    pools = {pool.name: pool for pool in cluster.node_pools}
    assert pools["default-pool"].config.service_account == "default"
    assert list(pools["default-pool"].config.oauth_scopes) == [
        "https://www.googleapis.com/auth/devstorage.read_only"
    ]
    # Two instance groups (two zones), named as GKE names them after the nodes.
    groups = [url.rsplit("/", 1)[1] for url in pools["default-pool"].instance_group_urls]
    assert groups == [
        "gke-checkout-default-pool-1a2b3c4d-grp",
        "gke-checkout-default-pool-9f8e7d6c-grp",
    ]
    legacy = pools["legacy-pool"]
    assert legacy.version == "1.28.9-gke.1000000"
    assert legacy.config.service_account == "gke-nodes@shop-prod.iam.gserviceaccount.com"
    assert "https://www.googleapis.com/auth/devstorage.read_only" in legacy.config.oauth_scopes


def test_get_zonal_cluster_inherits_versions_and_default_account(clients: GoogleClients) -> None:
    cluster = clients.container.get_cluster(
        name="projects/shop-prod/locations/us-central1-b/clusters/old-batch"
    )
    (pool,) = cluster.node_pools
    assert pool.version == "1.14.10-gke.21"
    assert pool.config.service_account == "default"
    assert "/zones/us-central1-b/" in pool.instance_group_urls[0]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("projects/shop-prod/locations/us-central1/clusters/nope", exceptions.NotFound),
        ("projects/shop-prod/locations/europe-west1/clusters/checkout", exceptions.NotFound),
        ("projects/not-in-world/locations/us-central1/clusters/checkout", exceptions.Forbidden),
    ],
)
def test_missing_clusters(clients: GoogleClients, name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        clients.container.get_cluster(name=name)


# -- artifactregistry v1 --------------------------------------------------------------------


def test_repository_and_tags(clients: GoogleClients) -> None:
    repo = clients.artifact_registry.get_repository(name=APPS)
    assert repo.name == APPS
    assert repo.format_.name == "DOCKER"
    tag = clients.artifact_registry.get_tag(name=f"{APPS}/packages/api/tags/2.0")
    assert tag.version.startswith(f"{APPS}/packages/api/versions/sha256:")
    nested = clients.artifact_registry.get_tag(name=f"{APPS}/packages/team%2Fweb/tags/1.4")
    assert nested.name == f"{APPS}/packages/team%2Fweb/tags/1.4"
    with pytest.raises(exceptions.NotFound):
        clients.artifact_registry.get_tag(name=f"{APPS}/packages/api/tags/9.9")
    with pytest.raises(exceptions.NotFound):
        clients.artifact_registry.get_repository(
            name="projects/shop-prod/locations/europe-west1/repositories/apps"
        )


def _repo_policy(clients: GoogleClients, version: int = 3) -> Any:
    return clients.artifact_registry.get_iam_policy(
        request={"resource": APPS, "options": {"requested_policy_version": version}}
    )


def test_version_3_read_keeps_conditions(clients: GoogleClients) -> None:
    policy = _repo_policy(clients, 3)
    assert policy.version == 3
    writer = next(b for b in policy.bindings if b.role == "roles/artifactregistry.writer")
    assert writer.condition.title == "weekdays"
    assert writer.condition.expression == "request.time.getDayOfWeek() < 5"
    assert writer.condition.description == "CI pushes on weekdays"


def test_version_1_read_of_a_conditional_policy(clients: GoogleClients) -> None:
    policy = _repo_policy(clients, 1)
    assert policy.version == 1
    roles = [b.role for b in policy.bindings]
    assert READER in roles
    assert any(role.startswith("roles/artifactregistry.writer_withcond_") for role in roles)
    assert all(not b.condition.expression for b in policy.bindings)
    with pytest.raises(exceptions.BadRequest):
        _repo_policy(clients, 2)


def _grant(clients: GoogleClients, member: str, policy: Any) -> Any:
    for binding in policy.bindings:
        if binding.role == READER and not binding.condition.expression:
            binding.members.append(member)
            break
    else:
        policy.bindings.add(role=READER, members=[member])
    return clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": policy})


def test_read_modify_write_keeps_every_binding_and_changes_the_etag(clients: GoogleClients) -> None:
    before = _repo_policy(clients)
    member = f"serviceAccount:{DEFAULT_SA}"
    after = _grant(clients, member, before)
    assert after.etag != before.etag
    reread = _repo_policy(clients)
    assert reread.etag == after.etag
    reader = next(b for b in reread.bindings if b.role == READER)
    assert set(reader.members) == {
        "serviceAccount:gke-nodes@shop-prod.iam.gserviceaccount.com",
        member,
    }
    writer = next(b for b in reread.bindings if b.role == "roles/artifactregistry.writer")
    assert writer.condition.title == "weekdays"


def test_stale_etag_is_a_409_aborted(clients: GoogleClients) -> None:
    stale = _repo_policy(clients)
    _grant(clients, "user:first@example.com", _repo_policy(clients))
    with pytest.raises(exceptions.Conflict, match="There were concurrent policy changes"):
        _grant(clients, "user:second@example.com", stale)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: setattr(p, "version", 1), "version 3"),
        (
            lambda p: p.bindings.add(
                role=READER, members=["serviceAccount:gone@shop-prod.iam.gserviceaccount.com"]
            ),
            "does not exist",
        ),
        (
            lambda p: p.bindings.add(
                role="roles/artifactregistry.reader_withcond_abc", members=["user:a@example.com"]
            ),
            "not a role that can be granted",
        ),
        (lambda p: p.bindings.add(role=READER, members=["nobody"]), "Invalid principal"),
    ],
)
def test_invalid_writes_are_400(clients: GoogleClients, mutate: Any, message: str) -> None:
    policy = _repo_policy(clients)
    mutate(policy)
    with pytest.raises(exceptions.BadRequest, match=message):
        clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": policy})


def test_version_1_write_cannot_replace_conditions(clients: GoogleClients) -> None:
    policy = _repo_policy(clients, 1)
    with pytest.raises(
        exceptions.BadRequest, match=r"_withcond_.* is not a role that can be granted"
    ):
        clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": policy})
    kept = [b for b in policy.bindings if "_withcond_" not in b.role]
    del policy.bindings[:]
    policy.bindings.extend(kept)
    with pytest.raises(exceptions.BadRequest, match="conditional role bindings"):
        clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": policy})
    assert _repo_policy(clients).bindings[1].condition.title == "weekdays"


def test_concurrent_read_modify_writes_lose_nothing(
    clients: GoogleClients, sandbox: Sandbox
) -> None:
    members = [f"user:writer-{i}@example.com" for i in range(24)]

    def grant(member: str) -> int:
        for attempt in range(1, 200):
            try:
                _grant(clients, member, _repo_policy(clients))
                return attempt
            except exceptions.Conflict:
                continue
        raise AssertionError(f"{member} never landed")

    with ThreadPoolExecutor(max_workers=12) as pool:
        attempts = list(pool.map(grant, members))
    policy = _repo_policy(clients)
    reader = next(b for b in policy.bindings if b.role == READER)
    assert set(members) <= set(reader.members)
    assert any(b.condition.title == "weekdays" for b in policy.bindings)
    # Collisions are likely here but not certain; test_injected_race_* forces them.
    assert all(attempts)


# -- cloudresourcemanager v3 ----------------------------------------------------------------


def test_project_by_id_and_number(clients: GoogleClients) -> None:
    by_id = clients.projects.get_project(name="projects/shop-prod")
    assert (by_id.name, by_id.project_id) == ("projects/111111111111", "shop-prod")
    assert clients.projects.get_project(name="projects/111111111111").project_id == "shop-prod"
    with pytest.raises(exceptions.Forbidden):
        clients.projects.get_project(name="projects/elsewhere")


def test_project_policy_read_and_write(clients: GoogleClients) -> None:
    policy = clients.projects.get_iam_policy(
        request={"resource": "projects/shop-prod", "options": {"requested_policy_version": 3}}
    )
    assert {b.role: list(b.members) for b in policy.bindings}["roles/viewer"] == [
        "group:sre@example.com"
    ]
    policy.bindings.add(role=READER, members=[f"serviceAccount:{DEFAULT_SA}"])
    stored = clients.projects.set_iam_policy(
        request={"resource": "projects/shop-prod", "policy": policy}
    )
    assert stored.etag != policy.etag
    assert len(stored.bindings) == 3


# -- IAM admin v1 (gRPC) --------------------------------------------------------------------


def test_service_accounts(clients: GoogleClients) -> None:
    default = clients.iam_admin.get_service_account(name=f"projects/-/serviceAccounts/{DEFAULT_SA}")
    assert (default.email, default.project_id, default.disabled) == (DEFAULT_SA, "shop-prod", False)
    retired = clients.iam_admin.get_service_account(
        name="projects/shop-prod/serviceAccounts/retired-nodes@shop-prod.iam.gserviceaccount.com"
    )
    assert retired.disabled is True
    by_id = clients.iam_admin.get_service_account(
        name=f"projects/-/serviceAccounts/{default.unique_id}"
    )
    assert by_id.email == DEFAULT_SA
    with pytest.raises(exceptions.NotFound):
        clients.iam_admin.get_service_account(
            name="projects/-/serviceAccounts/deleted@shop-prod.iam.gserviceaccount.com"
        )


def test_iam_admin_over_rest_answers_as_over_grpc(sandbox: Sandbox, clients: GoogleClients) -> None:
    # pullfix reads IAM admin over REST (the strict sandbox checks each answer against the
    # iam v1 discovery document); the generated client's gRPC answers are the same accounts.
    world = {
        "projects": {
            "pull-one": {
                "number": 5,
                "service_accounts": {"off@pull-one.iam.gserviceaccount.com": {"disabled": True}},
                "custom_roles": {"puller": {"permissions": [DOWNLOAD_PERMISSION]}},
            }
        }
    }
    control(sandbox, "world", "PUT", world)
    adapter = GoogleAdapter(clients)
    assert adapter.service_account("off@pull-one.iam.gserviceaccount.com") == AccountInfo(
        email="off@pull-one.iam.gserviceaccount.com", exists=True, disabled=True
    )
    assert adapter.service_account("5-compute@developer.gserviceaccount.com").disabled is False
    assert adapter.service_account("gone@pull-one.iam.gserviceaccount.com").exists is False
    assert DOWNLOAD_PERMISSION in adapter.role_permissions("roles/artifactregistry.reader")
    assert adapter.role_permissions("projects/pull-one/roles/puller") == frozenset(
        {DOWNLOAD_PERMISSION}
    )
    grpc_answer = clients.iam_admin.get_service_account(
        name="projects/-/serviceAccounts/off@pull-one.iam.gserviceaccount.com"
    )
    assert (grpc_answer.email, grpc_answer.disabled) == (
        "off@pull-one.iam.gserviceaccount.com",
        True,
    )
    assert control(sandbox, "stats")["requests"] == {
        "iam.projects.serviceAccounts.get": 4,
        "iam.roles.get": 1,
        "iam.projects.roles.get": 1,
    }


# -- policytroubleshooter v3 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "repository", "overall"),
    [
        (DEFAULT_SA, "projects/shop-images/locations/us-central1/repositories/images", "CANNOT"),
        ("gke-nodes@shop-prod.iam.gserviceaccount.com", APPS, "CAN_ACCESS"),
    ],
)
def test_troubleshooter_json_is_what_the_official_client_reads(
    clients: GoogleClients, principal: str, repository: str, overall: str
) -> None:
    """pullfix reads the troubleshooter's JSON itself; the official client, asked the same,
    must parse the very same answer from it (so the sandbox's answer is the API's shape)."""
    from google.protobuf import json_format

    tuple_ = {
        "principal": principal,
        "fullResourceName": f"//artifactregistry.googleapis.com/{repository}",
        "permission": "artifactregistry.repositories.downloadArtifacts",
    }
    raw = clients.rest.post(
        "policytroubleshooter", "/v3/iam:troubleshoot", body={"accessTuple": tuple_}, timeout=10
    )
    answer = clients.troubleshooter.troubleshoot_iam_policy(
        request={
            "access_tuple": {
                "principal": principal,
                "full_resource_name": tuple_["fullResourceName"],
                "permission": tuple_["permission"],
            }
        }
    )
    assert raw["overallAccessState"].startswith(overall)
    official = json_format.MessageToDict(type(answer).pb(answer))
    # Every field of the JSON is one the API defines (ParseDict refuses unknown ones), and
    # the message it makes is the one the official client received.
    mine = json_format.ParseDict(raw, type(type(answer).pb(answer))())
    assert json_format.MessageToDict(mine) == official
    assert verdict_from_troubleshooter(raw) == verdict_from_troubleshooter(official)


# -- pubsub v1 and push delivery ------------------------------------------------------------


def test_publish_pushes_a_binary_cloudevent_and_retries(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    with receiver(statuses=[503, 500]) as endpoint:
        sandbox.world.projects["shop-prod"].topics["pull-outcomes"].push_endpoint = endpoint.url
        response = clients.publisher.publish(
            topic="projects/shop-prod/topics/pull-outcomes",
            messages=[{"data": b'{"cause": "role"}', "attributes": {"incident": "abc"}}],
            timeout=30,
        )
        (message_id,) = response.message_ids
        assert sandbox.drain(10)
        assert len(endpoint.requests) == 3  # 503, 500, then acknowledged
        first, last = endpoint.requests[0], endpoint.requests[-1]
        assert first.body == last.body
    headers = {k.lower(): v for k, v in last.headers.items()}
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert headers["ce-source"] == "//pubsub.googleapis.com/projects/shop-prod/topics/pull-outcomes"
    assert headers["ce-id"] == message_id
    body = last.json()
    assert base64.b64decode(body["message"]["data"]) == b'{"cause": "role"}'
    assert body["message"]["attributes"] == {"incident": "abc"}
    assert body["message"]["messageId"] == body["message"]["message_id"] == message_id
    deliveries = control(sandbox, "deliveries")["deliveries"]
    assert deliveries == [
        {
            "topic": "projects/shop-prod/topics/pull-outcomes",
            "message_id": message_id,
            "attempts": 3,
            "statuses": [503, 500, 200],
            "state": "acked",
        }
    ]


def test_a_push_that_never_succeeds_is_dead_lettered(tmp_path: Any) -> None:
    from tests.integration.conftest import TEST_WORLD

    with (
        receiver(statuses=[500] * 10) as endpoint,
        Sandbox(TEST_WORLD, strict=True, push_max_attempts=3, push_min_backoff=0.01) as sandbox,
    ):
        sandbox.world.projects["shop-prod"].topics["pull-outcomes"].push_endpoint = endpoint.url
        from pullfix.gcp.endpoints import sandbox_endpoint

        clients = GoogleClients(sandbox_endpoint(sandbox.endpoint))
        clients.publisher.publish(
            topic="projects/shop-prod/topics/pull-outcomes", messages=[{"data": b"x"}], timeout=30
        )
        clients.close()
        assert sandbox.drain(10)
        (delivery,) = control(sandbox, "deliveries")["deliveries"]
        assert (delivery["attempts"], delivery["state"]) == (3, "dead_lettered")


def test_publish_to_a_missing_topic(clients: GoogleClients) -> None:
    with pytest.raises(exceptions.NotFound):
        clients.publisher.publish(
            topic="projects/shop-prod/topics/absent", messages=[{"data": b"x"}], timeout=30
        )


# -- Firestore (REST, the official client) -------------------------------------------------

DATABASE = "projects/shop-prod/databases/(default)"
DOC = f"{DATABASE}/documents/pullfix-incidents/abc"


def _create(clients: GoogleClients, fields: dict[str, Any]) -> Any:
    return clients.firestore.commit(
        request={
            "database": DATABASE,
            "writes": [
                write.Write(
                    update=document.Document(name=DOC, fields=fields),
                    current_document=common.Precondition(exists=False),
                )
            ],
        }
    )


def test_firestore_create_is_atomic_claim(clients: GoogleClients) -> None:
    first = _create(clients, {"cause": {"string_value": "role"}})
    with pytest.raises(exceptions.Conflict):
        _create(clients, {"cause": {"string_value": "scope"}})
    got = clients.firestore.get_document(request={"name": DOC})
    assert got.fields["cause"].string_value == "role"
    assert got.update_time == first.write_results[0].update_time


def test_firestore_update_time_precondition(clients: GoogleClients) -> None:
    created = _create(clients, {"n": {"integer_value": 1}})
    stamp = created.write_results[0].update_time
    update = write.Write(
        update=document.Document(name=DOC, fields={"n": {"integer_value": 2}}),
        current_document=common.Precondition(update_time=stamp),
    )
    clients.firestore.commit(request={"database": DATABASE, "writes": [update]})
    # Over REST the client library tells errors apart by HTTP status only (400 is its
    # BadRequest); the envelope's status names the failed precondition.
    with pytest.raises(exceptions.BadRequest) as info:
        clients.firestore.commit(request={"database": DATABASE, "writes": [update]})
    error = info.value.response.json()["error"]
    assert error["status"] == "FAILED_PRECONDITION"
    assert re.fullmatch(
        r"the stored version \(\d+\) does not match the required base version \(\d+\)",
        error["message"],
    )
    assert clients.firestore.get_document(request={"name": DOC}).fields["n"].integer_value == 2


def test_firestore_batch_get_and_transactions(clients: GoogleClients) -> None:
    _create(clients, {"cause": {"string_value": "role"}})
    missing = f"{DATABASE}/documents/pullfix-incidents/none"
    responses = list(
        clients.firestore.batch_get_documents(
            request=firestore.BatchGetDocumentsRequest(
                database=DATABASE, documents=[DOC, missing], new_transaction={"read_write": {}}
            )
        )
    )
    assert responses[0].found.name == DOC
    assert responses[1].missing == missing
    transaction = responses[0].transaction
    assert transaction
    clients.firestore.commit(
        request={
            "database": DATABASE,
            "transaction": transaction,
            "writes": [write.Write(delete=DOC)],
        }
    )
    with pytest.raises(exceptions.NotFound):
        clients.firestore.get_document(request={"name": DOC})
    with pytest.raises(exceptions.BadRequest) as info:
        clients.firestore.commit(
            request={"database": DATABASE, "transaction": transaction, "writes": []}
        )
    assert info.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"


# -- control routes, stats and faults -------------------------------------------------------


def test_world_route_returns_the_world_file_schema(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    _grant(clients, f"serviceAccount:{DEFAULT_SA}", _repo_policy(clients))
    world = control(sandbox, "world")
    assert world == sandbox.world.to_dict()
    reader = world["projects"]["shop-prod"]["repositories"]["apps"]["iam"][0]
    assert f"serviceAccount:{DEFAULT_SA}" in reader["members"]
    assert world["projects"]["shop-prod"]["iam"] == {
        "roles/editor": ["user:owner@example.com"],
        "roles/viewer": ["group:sre@example.com"],
    }
    # It loads back as the same world.
    assert world_from_dict(world).to_dict() == world


def test_stats_count_every_google_request(sandbox: Sandbox, clients: GoogleClients) -> None:
    clients.container.get_cluster(name=CLUSTER)
    clients.container.get_cluster(name=CLUSTER)
    clients.iam_admin.get_service_account(name=f"projects/-/serviceAccounts/{DEFAULT_SA}")
    control(sandbox, "world")
    assert control(sandbox, "stats") == {
        "total": 3,
        "requests": {
            "container.projects.locations.clusters.get": 2,
            "iam.projects.serviceAccounts.get": 1,
        },
    }


def test_injected_errors_reach_the_client(sandbox: Sandbox, clients: GoogleClients) -> None:
    control(
        sandbox,
        "faults",
        "POST",
        {"method": "artifactregistry.*.getIamPolicy", "status": 503, "count": 1},
    )
    with pytest.raises(exceptions.ServiceUnavailable):
        _repo_policy(clients)
    assert _repo_policy(clients).version == 3  # the fault was used up
    sandbox.add_fault(method="iam.projects.serviceAccounts.get", status=403, count=1)
    with pytest.raises(exceptions.PermissionDenied):
        clients.iam_admin.get_service_account(name=f"projects/-/serviceAccounts/{DEFAULT_SA}")


def test_injected_latency_times_out_the_client(sandbox: Sandbox, clients: GoogleClients) -> None:
    sandbox.add_fault(method="container.projects.locations.clusters.get", latency=1.0)
    with pytest.raises((exceptions.RetryError, exceptions.DeadlineExceeded, Exception)) as info:
        clients.container.get_cluster(name=CLUSTER, timeout=0.3, retry=None)
    assert "timed out" in str(info.value).lower() or "timeout" in type(info.value).__name__.lower()


def test_injected_race_bumps_the_etag_between_read_and_write(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    sandbox.add_fault(
        method="artifactregistry.projects.locations.repositories.getIamPolicy", race=True, count=1
    )
    raced = _repo_policy(clients)
    with pytest.raises(exceptions.Conflict):
        _grant(clients, "user:mine@example.com", raced)
    fresh = _repo_policy(clients)
    _grant(clients, "user:mine@example.com", fresh)
    roles = {(b.role, m) for b in _repo_policy(clients).bindings for m in b.members}
    assert ("roles/artifactregistry.writer", "user:concurrent-writer-1@example.com") in roles
    assert (READER, "user:mine@example.com") in roles


def test_bad_faults_are_refused(sandbox: Sandbox) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        control(sandbox, "faults", "POST", {"method": "x", "status": 200})
    info.value.close()
    assert info.value.code == 400


def test_sandbox_serves_concurrent_clients(sandbox: Sandbox, clients: GoogleClients) -> None:
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(10):
                clients.container.get_cluster(name=CLUSTER)
                clients.iam_admin.get_service_account(
                    name=f"projects/-/serviceAccounts/{DEFAULT_SA}"
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sandbox.stats()["total"] == 160


# -- the JSON client's proxies --------------------------------------------------------------


@pytest.mark.parametrize("named", [False, True])
def test_rest_calls_go_through_the_environments_proxy_but_never_to_this_machine(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, named: bool
) -> None:
    # A forward proxy on loopback: it answers every request itself and records its target.
    # A host by name goes through it (the proxy answers, so the name is never looked up); the
    # sandbox on 127.0.0.1 never does, NO_PROXY or not (NO_PROXY's own reading:
    # tests/unit/test_transport.py).
    import http.server

    from pullfix.gcp.endpoints import sandbox_endpoint

    seen: list[str] = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = json.dumps({"name": "projects/111111111111", "parent": ""}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    endpoint = "http://sandbox.pullfix.test:8080" if named else sandbox.endpoint
    made = GoogleClients(sandbox_endpoint(endpoint))
    try:
        got = made.rest.get(
            "cloudresourcemanager", "/v3/projects/{}", "shop-prod", fields="name", timeout=5
        )
    finally:
        made.close()
        proxy.shutdown()
        proxy.server_close()
    assert got["name"] == "projects/111111111111"
    if named:
        assert seen == [f"{endpoint}/v3/projects/shop-prod?fields=name"]
    else:
        assert seen == []  # straight to the sandbox
