"""Access verification as Google evaluates it, through the function and `pullfix diagnose`.

A world in which the node accounts reach the shared image repository every way IAM allows:
a folder, the organization, a nested group, custom roles at project and organization level,
a predefined role other than reader, a conditional binding, a deny policy. pullfix must not
grant to any of them; the plain account, with no access at all, is the control that gets
the grant. Both evaluators are covered: the Policy Troubleshooter, and the fallback over the
allow policies when the troubleshooter refuses pullfix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from tests.integration.pipeline import (
    CONFIG,
    IMAGES,
    LOCATION,
    PROD,
    Pipeline,
    _pool,
    event,
    node,
    pipeline,
    sa,
    world_dict,
)
from tests.integration.test_operator import CLUSTER_NAME, run

pytestmark = pytest.mark.integration

ORG, FOLDER, TEAM_FOLDER = "123456789012", "456", "789"
READER = "roles/artifactregistry.reader"
DOWNLOAD = "artifactregistry.repositories.downloadArtifacts"
SHARED = f"us-docker.pkg.dev/{IMAGES}/shared/web:1.4"
SHARED_REPO = f"projects/{IMAGES}/locations/us/repositories/shared"
EXPIRED = {"title": "until-2020", "expression": 'request.time < timestamp("2020-01-01T00:00:00Z")'}
ACCOUNTS = (
    "folder-reader",
    "org-reader",
    "grouped",
    "custom-project",
    "custom-org",
    "pusher",
    "conditional",
    "quarantined",
    "plain",
    "everyone",
)


def member(name: str) -> str:
    return f"serviceAccount:{sa(name)}"


def access_world(world: dict[str, Any]) -> None:
    """Every path to downloadArtifacts on the shared repository, one account each."""
    prod = world["projects"][PROD]
    for name in ACCOUNTS:
        prod["clusters"]["c1"]["node_pools"][name] = _pool(sa(name), name=name)
        prod["service_accounts"][sa(name)] = {}
    prod["parent"] = f"folders/{FOLDER}"
    world["organization"] = {
        "id": ORG,
        "iam": [{"role": READER, "members": [member("org-reader")]}],
        "custom_roles": {"puller": {"permissions": [DOWNLOAD]}},
    }
    world["folders"] = {
        FOLDER: {
            "parent": f"organizations/{ORG}",
            "iam": [{"role": READER, "members": [member("folder-reader")]}],
        },
        TEAM_FOLDER: {
            "parent": f"folders/{FOLDER}",
            "deny_policies": [
                {
                    "name": "quarantine-pulls",
                    "denied_principals": [
                        "principal://iam.googleapis.com/projects/-/serviceAccounts/"
                        + sa("quarantined")
                    ],
                    "denied_permissions": [
                        "artifactregistry.googleapis.com/repositories.downloadArtifacts"
                    ],
                }
            ],
        },
    }
    world["groups"] |= {
        "platform@example.com": {"members": ["group:nodes@example.com"]},
        "nodes@example.com": {"members": [member("grouped")]},
    }
    images = world["projects"][IMAGES]
    images["parent"] = f"folders/{TEAM_FOLDER}"
    images["custom_roles"] = {"imagePuller": {"permissions": [DOWNLOAD]}}
    images["iam"] = [
        {"role": f"projects/{IMAGES}/roles/imagePuller", "members": [member("custom-project")]},
        {"role": f"organizations/{ORG}/roles/puller", "members": [member("custom-org")]},
        {"role": "roles/artifactregistry.createOnPushWriter", "members": [member("pusher")]},
        {"role": READER, "members": [member("conditional")], "condition": EXPIRED},
        {"role": READER, "members": [member("quarantined")]},
        {"role": "roles/storage.objectViewer", "members": [member("plain")]},
    ]
    # Groups are read only where they are bound: a repository of their own, so that the
    # fallback's "cannot tell" about them stays there.
    images["repositories"]["team"] = {
        "location": "us",
        "tags": ["web:1.4"],
        "iam": [{"role": READER, "members": ["group:platform@example.com"]}],
    }
    images["repositories"]["robots"] = {
        "location": "us",
        "tags": ["web:1.4"],
        "iam": [
            {
                "role": READER,
                "members": [
                    "principalSet://cloudresourcemanager.googleapis.com/folders/"
                    f"{FOLDER}/type/ServiceAccount"
                ],
            }
        ],
    }
    images["repositories"]["guarded"] = {
        "location": "us",
        "tags": ["web:1.4"],
        "iam": [{"role": READER, "members": ["group:hidden@example.com"]}],
    }
    images["repositories"]["domained"] = {
        "location": "us",
        "tags": ["web:1.4"],
        "iam": [{"role": READER, "members": ["domain:example.com"]}],
    }
    # The domain the node accounts' addresses end with: still no service account is in it.
    images["repositories"]["self-domained"] = {
        "location": "us",
        "tags": ["web:1.4"],
        "iam": [{"role": READER, "members": [f"domain:{PROD}.iam.gserviceaccount.com"]}],
    }
    images["repositories"]["mirror"] = {
        "location": "us",
        "tags": [],
        "mode": "remote",
        "iam": [],
    }


TEAM = f"us-docker.pkg.dev/{IMAGES}/team/web:1.4"
ROBOTS = f"us-docker.pkg.dev/{IMAGES}/robots/web:1.4"
# pool -> (image, cause, words its reasons must carry) for a 403.
NO_GRANT = {
    "folder-reader": (SHARED, "permission", f"folders/{FOLDER}"),
    "org-reader": (SHARED, "permission", f"organizations/{ORG}"),
    "grouped": (TEAM, "permission", "group:platform@example.com"),
    "custom-project": (SHARED, "permission", f"projects/{IMAGES}/roles/imagePuller"),
    "custom-org": (SHARED, "permission", f"organizations/{ORG}/roles/puller"),
    "pusher": (SHARED, "permission", "roles/artifactregistry.createOnPushWriter"),
    "conditional": (SHARED, "cross_project", EXPIRED["expression"]),
    "quarantined": (SHARED, "permission", "quarantine-pulls"),
    # Every service account of a project under folder 456 (the cluster's project is).
    "everyone": (ROBOTS, "permission", "principalSet://"),
}


@pytest.fixture(scope="module")
def world_pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with pipeline(tmp_path_factory.mktemp("access"), world=access_world) as (pipe,):
        yield pipe


def _reasons(outcome: dict[str, Any]) -> str:
    return "\n".join(outcome["reasons"])


def _ticket_and_no_binding(
    pipe: Pipeline, pool: str, expected: tuple[str, str, str], evaluator: str
) -> dict[str, Any]:
    """A 403 from `pool` on the image: a ticket of the expected cause whose reasons carry
    the words and the evaluator, and the repository's readers unchanged; the outcome."""
    image, cause, words = expected
    repository = "projects/{}/locations/us/repositories/{}".format(*image.split("/")[1:3])
    before = pipe.reader_members(repository)
    entry = event(pool, image, workload=f"{evaluator.split(maxsplit=1)[0].lower()}-{pool}")
    assert pipe.post(entry) == 200
    outcome = pipe.one_outcome(entry)
    assert (outcome["action"], outcome["cause"]) == ("ticket", cause), outcome["reasons"]
    assert words in _reasons(outcome)
    assert evaluator in _reasons(outcome)
    assert pipe.reader_members(repository) == before
    return outcome


@pytest.mark.parametrize("pool", sorted(NO_GRANT))
def test_access_google_sees_is_never_granted_again(world_pipe: Pipeline, pool: str) -> None:
    _ticket_and_no_binding(world_pipe, pool, NO_GRANT[pool], "Policy Troubleshooter")


def test_conditional_access_keeps_its_condition_and_gets_no_unconditional_twin(
    world_pipe: Pipeline,
) -> None:
    entry = event("conditional", SHARED, workload="conditional-twin")
    assert world_pipe.post(entry) == 200
    outcome = world_pipe.one_outcome(entry)
    assert "auto_grant.beside_conditions" in _reasons(outcome)
    images = world_pipe.sandbox.world.projects[IMAGES]
    readers = [b for b in images.repositories["shared"].policy.bindings if b.role == READER]
    assert all(member("conditional") not in b.members for b in readers)
    conditional = [b for b in images.policy.bindings if b.condition == EXPIRED]
    assert [b.members for b in conditional] == [[member("conditional")]]


def test_the_account_without_access_is_granted(world_pipe: Pipeline) -> None:
    entry = event("plain", SHARED, workload="plain-control")
    assert world_pipe.post(entry) == 200
    outcome = world_pipe.one_outcome(entry)
    assert (outcome["action"], outcome["cause"]) == ("grant", "cross_project"), outcome
    assert member("plain") in world_pipe.reader_members(SHARED_REPO)


def test_a_group_the_troubleshooter_cannot_expand_is_a_ticket(world_pipe: Pipeline) -> None:
    image = f"us-docker.pkg.dev/{IMAGES}/guarded/web:1.4"
    entry = event("everyone", image, workload="guarded")
    assert world_pipe.post(entry) == 200
    outcome = world_pipe.one_outcome(entry)
    assert outcome["action"] == "ticket", outcome
    assert "group:hidden@example.com" in _reasons(outcome)
    assert "fails closed" in _reasons(outcome)


# A domain named anything, and the domain of the node accounts' own addresses.
DOMAINS = ("domained", "self-domained")


@pytest.mark.parametrize("repository", DOMAINS)
def test_a_domain_never_holds_a_service_account(world_pipe: Pipeline, repository: str) -> None:
    """Google: a domain is its Workspace or Cloud Identity accounts, never a service
    account, so the troubleshooter's answer is "not granted" and the grant is the fix."""
    image = f"us-docker.pkg.dev/{IMAGES}/{repository}/web:1.4"
    entry = event("everyone", image, workload=repository)
    assert world_pipe.post(entry) == 200
    outcome = world_pipe.one_outcome(entry)
    assert outcome["action"] == "grant", outcome["reasons"]
    assert "Policy Troubleshooter" in _reasons(outcome)


def test_a_missing_tag_in_a_remote_repository_is_not_not_found(world_pipe: Pipeline) -> None:
    image = f"us-docker.pkg.dev/{IMAGES}/mirror/library/nginx:1.27"
    entry = event("folder-reader", image, workload="mirror")
    assert world_pipe.post(entry) == 200
    outcome = world_pipe.one_outcome(entry)
    assert outcome["cause"] != "not_found", outcome
    assert "remote repository" in _reasons(outcome)


# -- the fallback: the troubleshooter refuses pullfix ------------------------------------------

FALLBACK_NO_GRANT = {
    "folder-reader": (SHARED, "permission", f"folders/{FOLDER}"),
    "org-reader": (SHARED, "permission", f"organizations/{ORG}"),
    "grouped": (TEAM, "cross_project", "cannot tell"),
    "custom-project": (SHARED, "permission", f"projects/{IMAGES}/roles/imagePuller"),
    "custom-org": (SHARED, "permission", f"organizations/{ORG}/roles/puller"),
    "pusher": (SHARED, "permission", "roles/artifactregistry.createOnPushWriter"),
    "conditional": (SHARED, "cross_project", EXPIRED["expression"]),
    "everyone": (ROBOTS, "cross_project", "cannot tell"),
}


def refuse_troubleshooter(pipe: Pipeline) -> None:
    """From now on the troubleshooter answers 403, as to a caller without its permissions."""
    pipe.sandbox.add_fault(
        method="policytroubleshooter.iam.troubleshoot",
        status=403,
        count=None,
        message="The caller does not have permission",
    )


@pytest.fixture(scope="module")
def fallback_pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with pipeline(tmp_path_factory.mktemp("fallback"), world=access_world) as (pipe,):
        refuse_troubleshooter(pipe)
        yield pipe


def _names_the_fallback_and_its_blind_spots(outcome: dict[str, Any]) -> None:
    """The outcome says the troubleshooter did not answer, and what the fallback cannot see."""
    reasons = _reasons(outcome)
    assert "Policy Troubleshooter cannot answer pullfix" in reasons, reasons
    assert "deny policies" in reasons, reasons
    assert "principal access boundary" in reasons, reasons


@pytest.mark.parametrize("pool", sorted(FALLBACK_NO_GRANT))
def test_the_fallback_reads_the_hierarchy_and_roles(fallback_pipe: Pipeline, pool: str) -> None:
    outcome = _ticket_and_no_binding(fallback_pipe, pool, FALLBACK_NO_GRANT[pool], "allow policies")
    _names_the_fallback_and_its_blind_spots(outcome)


@pytest.mark.parametrize("repository", DOMAINS)
def test_the_fallback_never_counts_a_service_account_in_a_domain(
    fallback_pipe: Pipeline, repository: str
) -> None:
    """As Google evaluates it: the binding to the domain gives the node account nothing, so
    the fallback says "not granted" (not "cannot tell", not "granted") and grants."""
    image = f"us-docker.pkg.dev/{IMAGES}/{repository}/web:1.4"
    entry = event("everyone", image, workload=f"fallback-{repository}")
    assert fallback_pipe.post(entry) == 200
    outcome = fallback_pipe.one_outcome(entry)
    assert outcome["action"] == "grant", outcome["reasons"]
    assert "holds no role with downloadArtifacts" in _reasons(outcome)
    _names_the_fallback_and_its_blind_spots(outcome)


def test_the_fallback_grants_where_nothing_gives_access(fallback_pipe: Pipeline) -> None:
    entry = event("plain", SHARED, workload="fallback-plain")
    assert fallback_pipe.post(entry) == 200
    outcome = fallback_pipe.one_outcome(entry)
    assert outcome["action"] == "grant"
    _names_the_fallback_and_its_blind_spots(outcome)
    stats = fallback_pipe.stats()
    assert stats.get("policytroubleshooter.iam.troubleshoot", 0) >= 1
    assert stats.get("iam.roles.get", 0) >= 1


def _refusal_warnings(pipe: Pipeline) -> list[dict[str, Any]]:
    """The function's log entries that carry the troubleshooter's refusal signal."""
    assert pipe.function.log_path is not None
    entries = []
    for line in Path(pipe.function.log_path).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the functions framework's own lines
        if isinstance(entry, dict) and entry.get("signal") == "troubleshooter_refused":
            entries.append(entry)
    return entries


def test_a_refusal_is_one_warning_per_backoff_period(fallback_pipe: Pipeline) -> None:
    """Every event judged by the fallback says why; the log says it once, as a WARNING whose
    jsonPayload carries `signal: troubleshooter_refused` (what the log-based metric counts),
    the reason and the permission asked about."""
    for number in range(2):
        entry = event("folder-reader", SHARED, workload=f"refused-{number}")
        assert fallback_pipe.post(entry) == 200
        _names_the_fallback_and_its_blind_spots(fallback_pipe.one_outcome(entry))
    (warning,) = _refusal_warnings(fallback_pipe)
    assert warning["severity"] == "WARNING"
    assert "The caller does not have permission" in warning["reason"]
    assert warning["permission"] == DOWNLOAD
    assert warning["error"]["code"] == 403
    assert fallback_pipe.stats().get("policytroubleshooter.iam.troubleshoot", 0) == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Request contains an invalid argument."),
        (404, "Requested entity was not found."),
    ],
)
def test_a_troubleshooter_error_no_retry_mends_ends_in_an_outcome(
    tmp_path: Path, status: int, message: str
) -> None:
    """A 400 or 404 from the troubleshooter is no reason to fail the delivery (Pub/Sub would
    redeliver it for ever): the fallback judges, the grant or the ticket follows, and the
    warning carries the API's error."""
    with pipeline(tmp_path, world=access_world) as (pipe,):
        pipe.sandbox.add_fault(
            method="policytroubleshooter.iam.troubleshoot",
            status=status,
            count=None,
            message=message,
        )
        plain = event("plain", SHARED, workload="permanent-plain")
        assert pipe.post(plain) == 200
        outcome = pipe.one_outcome(plain)
        assert outcome["action"] == "grant", outcome["reasons"]
        assert "allow policies" in _reasons(outcome)
        _names_the_fallback_and_its_blind_spots(outcome)
        assert member("plain") in pipe.reader_members(SHARED_REPO)
        folder = event("folder-reader", SHARED, workload="permanent-folder")
        assert pipe.post(folder) == 200
        outcome = pipe.one_outcome(folder)
        assert (outcome["action"], outcome["cause"]) == ("ticket", "permission")
        assert f"folders/{FOLDER}" in _reasons(outcome)
        # An answer about one request: each event's own warning, and no backoff (a forged
        # event must not switch the troubleshooter off for every repository).
        warning, second = _refusal_warnings(pipe)
        assert warning["error"]["code"] == second["error"]["code"] == status
        assert message in warning["reason"]
        assert pipe.stats().get("policytroubleshooter.iam.troubleshoot", 0) == 2


def test_missing_images_ask_a_refusing_troubleshooter_once(tmp_path: Path) -> None:
    """The troubleshooter is asked while the tag is looked up; when the tag is missing its
    answer is unused, but a refusal still starts the backoff: three new incidents of missing
    images (403, as Artifact Registry answers an account without access) ask it once."""
    with pipeline(tmp_path, world=access_world) as (pipe,):
        refuse_troubleshooter(pipe)
        for number in range(3):
            image = f"us-docker.pkg.dev/{IMAGES}/shared/web:9.{number}"
            entry = event("plain", image, workload=f"missing-{number}")
            assert pipe.post(entry) == 200
            outcome = pipe.one_outcome(entry)
            assert (outcome["action"], outcome["cause"]) == ("ticket", "not_found"), outcome
        assert pipe.stats().get("policytroubleshooter.iam.troubleshoot", 0) == 1
        assert member("plain") not in pipe.reader_members(SHARED_REPO)


# -- events that cannot be trusted --------------------------------------------------------------


def test_a_made_up_node_with_a_real_pools_prefix_is_unverified(world_pipe: Pipeline) -> None:
    real = node("plain")
    forged = real.rsplit("-", 1)[0] + "-zz99"
    entry = event("plain", SHARED, workload="forged-node", node_name=forged)
    assert world_pipe.post(entry) == 200
    outcome = world_pipe.one_outcome(entry)
    assert outcome["cause"] == "unverified", outcome
    assert "Compute: not found" in _reasons(outcome)


def test_an_entry_naming_another_project_than_its_log_is_unverified(world_pipe: Pipeline) -> None:
    entry = event("plain", SHARED, workload="other-log")
    entry["logName"] = "projects/attacker-project/logs/events"
    assert world_pipe.post(entry) == 200
    outcome = world_pipe.one_outcome(entry)
    assert outcome["cause"] == "unverified", outcome
    assert "attacker-project" in _reasons(outcome)


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("cluster_name", "c1/../../other"),
        ("project_id", "prod-shop/x"),
        ("location", "us-central1\n"),
        ("pod_name", ".."),
    ],
)
def test_labels_that_cannot_be_ids_are_acknowledged(
    world_pipe: Pipeline, label: str, value: str
) -> None:
    entry = event("plain", SHARED, workload=f"bad-{label}")
    entry["resource"]["labels"][label] = value
    assert world_pipe.post(entry) == 200
    assert world_pipe.outcomes_for(entry) == []
    assert world_pipe.function.log_path is not None
    log = Path(world_pipe.function.log_path).read_text()
    assert "cannot be a resource id" in log


# -- pullfix diagnose over the same world ------------------------------------------------------


@pytest.fixture(scope="module")
def diagnose_sandbox() -> Iterator[Sandbox]:
    shape = world_dict(None)
    access_world(shape)
    with Sandbox(world_from_dict(shape), strict=True) as running:
        yield running


@pytest.mark.parametrize(
    ("pool", "image", "status", "cause"),
    [
        ("folder-reader", SHARED, "ok", None),
        ("org-reader", SHARED, "ok", None),
        ("grouped", TEAM, "ok", None),
        ("custom-project", SHARED, "ok", None),
        ("custom-org", SHARED, "ok", None),
        ("pusher", SHARED, "ok", None),
        ("everyone", ROBOTS, "ok", None),
        ("conditional", SHARED, "fail", "cross_project"),
        ("quarantined", SHARED, "fail", "permission"),
        ("plain", SHARED, "fail", "cross_project"),
    ],
)
def test_diagnose_gives_googles_verdict(
    diagnose_sandbox: Sandbox, pool: str, image: str, status: str, cause: str | None
) -> None:
    done = run(
        diagnose_sandbox,
        "diagnose",
        "--cluster",
        CLUSTER_NAME,
        "--json",
        "--node-pool",
        pool,
        image,
    )
    result = json.loads(done.stdout)
    (check,) = result["checks"]
    assert (check["status"], check["cause"]) == (status, cause), check
    assert done.returncode == (0 if status == "ok" else 1)


def test_diagnose_names_the_troubleshooters_refusal() -> None:
    """With the troubleshooter refusing, diagnose still answers, from the allow policies,
    and says so: in the JSON (each check's `warnings`), in the table, and on stderr the
    structured warning the function logs."""
    shape = world_dict(None)
    access_world(shape)
    with Sandbox(world_from_dict(shape), strict=True) as running:
        running.add_fault(
            method="policytroubleshooter.iam.troubleshoot",
            status=403,
            count=None,
            message="The caller does not have permission",
        )
        args = ("diagnose", "--cluster", CLUSTER_NAME, "--node-pool", "plain", SHARED)
        done = run(running, *args, "--json")
        (check,) = json.loads(done.stdout)["checks"]
        assert (check["status"], check["cause"]) == ("fail", "cross_project"), check
        (warning,) = check["warnings"]
        assert "Policy Troubleshooter refused" in warning
        assert "The caller does not have permission" in warning
        assert "principal access boundary" in "\n".join(check["reasons"])
        logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        assert [e["signal"] for e in logged if "signal" in e] == ["troubleshooter_refused"]
        table = run(running, *args, "--format", "table")
        assert table.returncode == 1
        assert "warning: the Policy Troubleshooter refused" in table.stdout


def test_the_access_world_is_the_one_described() -> None:
    """The world above loads, and a repository's location is what the tests name."""
    shape = world_dict(None)
    access_world(shape)
    world = world_from_dict(shape)
    assert world.projects[IMAGES].repositories["shared"].location == "us"
    assert world.projects[PROD].clusters["c1"].location == LOCATION
    assert (
        CONFIG["auto_grant"]["repositories"][1] == f"projects/{IMAGES}/locations/*/repositories/*"
    )


def test_a_forged_event_naming_a_project_that_does_not_exist_never_turns_deny_policies_off(
    tmp_path: Path,
) -> None:
    """The troubleshooter answers a request about a resource that does not exist with an
    error (404, or 403 "… (or it may not exist)"): that is one request's answer, not the
    service refusing pullfix, so the next real incident is still judged with deny policies."""

    def world(shape: dict[str, Any]) -> None:
        access_world(shape)
        # "quarantined" loses its reader binding: only the deny policy tells it apart from
        # an account that simply lacks the role (which the fallback would grant).
        images = shape["projects"][IMAGES]
        images["iam"] = [b for b in images["iam"] if member("quarantined") not in b["members"]]

    with pipeline(tmp_path, world=world) as (pipe,):
        ghost = event("plain", "us-docker.pkg.dev/no-such-project-7/r/web:1", workload="ghost")
        assert pipe.post(ghost) == 200
        blocked = event("quarantined", SHARED, workload="quarantined-after-ghost")
        assert pipe.post(blocked) == 200
        outcome = pipe.one_outcome(blocked)
        assert (outcome["action"], outcome["cause"]) == ("ticket", "permission"), outcome
        assert "deny" in _reasons(outcome)
        assert member("quarantined") not in pipe.reader_members(SHARED_REPO)
