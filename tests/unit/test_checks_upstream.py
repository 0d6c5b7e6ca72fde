"""A remote repository's upstream credentials (`pullfix.checks.upstream`): the password's
secret version and Artifact Registry's service agent's access to it, judged before access, so
that no reader grant is made where the registry itself cannot authenticate upstream."""

from __future__ import annotations

import pytest

from pullfix.checks import grant_may_fix, judge, remote_vpcsc, upstream
from pullfix.checks.upstream import ACCESSOR_ROLE
from pullfix.core.causes import Cause
from pullfix.core.judge import Evidence
from pullfix.core.model import Binding, PolicyView
from pullfix.core.remediation import Context, ticket_draft
from pullfix.core.vpcsc import VpcScDenial
from tests.unit.test_checks import AR_REPO, EMAIL, REFUSED, _Apis, _evidence, _gather

VERSION = "projects/sec-proj/secrets/dockerhub/versions/3"
AGENT = "service-999@gcp-sa-artifactregistry.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("evidence", "cause"),
    [
        (_evidence(upstream_secret=""), None),  # a standard repository, or no credentials
        (
            _evidence(
                upstream_secret=VERSION,
                upstream_secret_state="ENABLED",
                upstream_agent_can_access=True,
            ),
            None,
        ),
        (
            _evidence(
                upstream_secret=VERSION,
                upstream_secret_state="DISABLED",
                upstream_agent_can_access=True,
            ),
            "upstream",
        ),
        (_evidence(upstream_secret=VERSION, upstream_secret_state="DESTROYED"), "upstream"),
        (_evidence(upstream_secret=VERSION, upstream_secret_state=""), "upstream"),  # no version
        (
            _evidence(
                upstream_secret=VERSION,
                upstream_secret_state="ENABLED",
                upstream_agent=AGENT,
                upstream_agent_can_access=False,
            ),
            "upstream",
        ),
        (
            _evidence(upstream_error="reading the version: 403 (needs secretmanager.versions.get)"),
            "permission",
        ),
    ],
)
def test_upstream_judges_the_secret_version_and_the_service_agent(
    evidence: Evidence, cause: str | None
) -> None:
    found = upstream.judge(REFUSED, evidence)
    assert (found.cause.value if found else None) == cause


def _remote_apis(state: str, agent_bound: bool, *, refuse: tuple[str, ...] = ()) -> _Apis:
    apis = _Apis(tag_exists=True, refuse=refuse)
    binding = Binding(ACCESSOR_ROLE, frozenset({f"serviceAccount:{AGENT}"}))
    apis.answers.update(
        repository_upstream_secret=VERSION,
        secret_version_state=state,
        secret_policy=PolicyView((binding,) if agent_bound else (), b"e"),
    )
    return apis


def test_a_remote_repository_that_cannot_authenticate_upstream_is_never_granted() -> None:
    evidence, made = _gather(_remote_apis("DISABLED", True))
    assert set(made["upstream"]) >= {
        "repository_upstream_secret",
        "secret_version_state",
        "secret_policy",
    }
    assert "access" in made  # the node account's missing role is named beside it
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.UPSTREAM and "DISABLED" in diagnosis.reasons[0]
    assert any("also holds no role" in r for r in diagnosis.reasons)
    assert not grant_may_fix(evidence)
    # The same repository with its version enabled and the agent bound: IAM decides (a grant).
    evidence, _ = _gather(_remote_apis("ENABLED", True))
    assert judge(REFUSED, evidence).cause is Cause.CROSS_PROJECT
    assert grant_may_fix(evidence)
    # The agent without the accessor role on the secret or its project: upstream.
    evidence, _ = _gather(_remote_apis("ENABLED", False))
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.UPSTREAM and AGENT in diagnosis.reasons[0]
    # A version pullfix may not read: cannot tell, no grant and no troubleshooter.
    apis = _remote_apis("ENABLED", True, refuse=("secret_version_state",))
    evidence, made = _gather(apis)
    assert judge(REFUSED, evidence).cause is Cause.PERMISSION
    assert "access" not in made and "troubleshoot" not in apis.calls


def test_the_secret_payload_is_never_read() -> None:
    """Only the version's metadata and the secret's policy: no `versions.access`."""
    reads = {read.call: read.permissions for read in upstream.READS}
    assert reads["secret_version_state"] == ("secretmanager.versions.get",)
    assert reads["secret_policy"] == ("secretmanager.secrets.getIamPolicy",)
    assert not any("versions.access" in p for perms in reads.values() for p in perms)


def test_the_upstream_ticket_is_the_secret_s_fix_never_a_node_grant() -> None:
    disabled = ticket_draft(
        Context(
            cause=Cause.UPSTREAM,
            repository=AR_REPO,
            upstream_secret=VERSION,
            upstream_secret_state="DISABLED",
        )
    )
    assert disabled["commands"] == [
        "gcloud secrets versions enable 3 --secret=dockerhub --project=sec-proj"
    ]
    destroyed = ticket_draft(
        Context(
            cause=Cause.UPSTREAM,
            repository=AR_REPO,
            upstream_secret=VERSION,
            upstream_secret_state="DESTROYED",
        )
    )
    assert "gcloud secrets versions add dockerhub" in destroyed["commands"][0]
    agent = ticket_draft(
        Context(
            cause=Cause.UPSTREAM,
            repository=AR_REPO,
            upstream_secret=VERSION,
            upstream_secret_state="ENABLED",
            upstream_agent=AGENT,
            upstream_agent_can_access=False,
        )
    )
    assert agent["commands"] == [
        "gcloud secrets add-iam-policy-binding dockerhub --project=sec-proj "
        f"--member=serviceAccount:{AGENT} --role=roles/secretmanager.secretAccessor"
    ]
    assert 'resource "google_secret_manager_secret_iam_member"' in agent["terraform"]
    assert EMAIL not in agent["terraform"]  # the node account gets nothing for it
    both = ticket_draft(
        Context(
            cause=Cause.UPSTREAM,
            repository=AR_REPO,
            upstream_secret=VERSION,
            upstream_secret_state="ENABLED",
            upstream_agent=AGENT,
            upstream_agent_can_access=False,
            account=EMAIL,
            lacks_reader=True,
        )
    )
    assert "add-iam-policy-binding apps" in both["commands"][1]
    assert "google_artifact_registry_repository_iam_member" in both["terraform"]


def test_hostile_secret_names_are_quoted_in_the_ticket() -> None:
    hostile = "projects/p/secrets/x;rm -rf ~/versions/1"
    draft = ticket_draft(
        Context(
            cause=Cause.UPSTREAM,
            upstream_secret=hostile,
            upstream_secret_state="ENABLED",
            upstream_agent_can_access=False,
        )
    )
    assert "--secret" not in draft["commands"][0]
    assert "'x;rm -rf ~'" in draft["commands"][0]


# -- a virtual repository's upstreams -------------------------------------------------------

UPSTREAM = "projects/team-proj/locations/us/repositories/base"
OTHER = "projects/img-proj/locations/us/repositories/cache"


@pytest.mark.parametrize(
    ("evidence", "cause"),
    [
        (_evidence(upstream_secret="", upstreams=()), None),
        (_evidence(upstream_secret="", upstreams=(UPSTREAM,), upstreams_unreadable=()), None),
        (
            _evidence(
                upstream_secret="",
                upstreams=(OTHER, UPSTREAM),
                upstream_agent=AGENT,
                upstreams_unreadable=(UPSTREAM,),
            ),
            "upstream",
        ),
        (_evidence(upstream_error="reading the policy of base: 403"), "permission"),
    ],
)
def test_upstream_judges_a_virtual_repository_s_upstreams(
    evidence: Evidence, cause: str | None
) -> None:
    found = upstream.judge(REFUSED, evidence)
    assert (found.cause.value if found else None) == cause
    if found is not None and cause == "upstream":
        assert UPSTREAM in found.decisive[0] and OTHER not in found.decisive[0]


def _virtual_apis(readable: dict[str, bool], *, refuse: tuple[str, ...] = ()) -> _Apis:
    """A virtual repository over `readable`'s upstreams, each with the agent bound or not."""
    apis = _Apis(tag_exists=True, refuse=refuse)
    reader = Binding("roles/artifactregistry.reader", frozenset({f"serviceAccount:{AGENT}"}))
    policies = {u: PolicyView((reader,) if ok else (), b"e") for u, ok in readable.items()}
    apis.answers.update(repository_upstreams=tuple(readable), upstream_policy=None)

    def upstream_policy(repository: str) -> PolicyView | None:
        apis.calls.append("upstream_policy")
        if "upstream_policy" in apis.refuse:
            from pullfix.core.model import AccessDenied

            raise AccessDenied("upstream_policy: 403 Permission denied")
        return policies.get(repository)

    apis.__dict__["upstream_policy"] = upstream_policy
    return apis


def test_a_virtual_repository_whose_agent_cannot_read_an_upstream_is_never_granted() -> None:
    evidence, made = _gather(_virtual_apis({OTHER: True, UPSTREAM: False}))
    assert set(made["upstream"]) >= {"repository_upstreams", "upstream_policy", "project_number"}
    assert "access" in made
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.UPSTREAM
    assert UPSTREAM in diagnosis.reasons[0] and AGENT in diagnosis.reasons[0]
    assert evidence.upstreams_unreadable == (UPSTREAM,)
    assert any("also holds no role" in r for r in diagnosis.reasons)
    assert not grant_may_fix(evidence)
    # Every upstream readable: IAM decides (a grant).
    evidence, _ = _gather(_virtual_apis({OTHER: True, UPSTREAM: True}))
    assert judge(REFUSED, evidence).cause is Cause.CROSS_PROJECT
    assert grant_may_fix(evidence)
    # An upstream's policy pullfix may not read: cannot tell, no grant.
    evidence, made = _gather(_virtual_apis({UPSTREAM: True}, refuse=("upstream_policy",)))
    assert judge(REFUSED, evidence).cause is Cause.PERMISSION
    assert "access" not in made


def test_the_virtual_upstream_ticket_grants_the_agent_on_each_upstream() -> None:
    draft = ticket_draft(
        Context(
            cause=Cause.UPSTREAM,
            repository=AR_REPO,
            upstream_agent=AGENT,
            upstream_repositories=(UPSTREAM,),
            account=EMAIL,
            lacks_reader=True,
        )
    )
    assert draft["commands"][0] == (
        "gcloud artifacts repositories add-iam-policy-binding base --location=us "
        f"--project=team-proj --member=serviceAccount:{AGENT} "
        "--role=roles/artifactregistry.reader"
    )
    assert "add-iam-policy-binding apps" in draft["commands"][1]
    assert 'repository = "base"' in draft["terraform"]
    assert f'member     = "serviceAccount:{AGENT}"' in draft["terraform"]
    assert UPSTREAM in draft["steps"][0]


# -- a remote repository's VPC Service Controls setting -------------------------------------


def _denial() -> VpcScDenial:
    return VpcScDenial(
        "c45c76a3f28239f8",
        "accessPolicies/1/servicePerimeters/p",
        "NO_MATCHING_ACCESS_LEVEL",
        "artifactregistry.googleapis.com",
        EMAIL,
        "ingress",
        "projects/2",
    )


@pytest.mark.parametrize(
    ("changes", "first"),
    [
        # In a perimeter (a denial in the policy log), DENY, an upstream outside Google.
        ({"remote_upstream": "DOCKER_HUB", "remote_vpcsc_policy": "DENY"}, "is a remote"),
        # ALLOW, or an upstream in Artifact Registry: the perimeter's own rule only.
        ({"remote_upstream": "DOCKER_HUB", "remote_vpcsc_policy": "ALLOW"}, None),
        ({"remote_upstream": "projects/b/locations/us/repositories/r"}, None),
        # A setting pullfix may not read: the perimeter's cause, and it says it cannot tell.
        ({"remote_upstream": "https://ghcr.io", "remote_vpcsc_error": "403"}, "VPC Service"),
    ],
)
def test_a_remote_repository_in_a_perimeter_is_judged_with_its_setting(
    changes: dict[str, str], first: str | None
) -> None:
    evidence = _evidence(vpc_sc_denial=_denial(), **changes)
    found = remote_vpcsc.judge(REFUSED, evidence)
    if first is None:
        assert found is None
        return
    assert found is not None and found.cause is Cause.VPC_SC
    assert found.decisive[0].startswith((f"{AR_REPO} {first}", first))
    if "remote_vpcsc_error" in changes:
        assert (
            "cannot tell whether Artifact Registry's VPC Service Controls setting"
            in (found.decisive[-1])
        )
    final = judge(REFUSED, evidence)
    assert final.cause is Cause.VPC_SC and not grant_may_fix(evidence)


def test_without_a_perimeter_denial_the_setting_names_nothing() -> None:
    evidence = _evidence(remote_upstream="DOCKER_HUB", remote_vpcsc_policy="DENY")
    assert remote_vpcsc.judge(REFUSED, evidence) is None


@pytest.mark.parametrize(
    ("upstream", "outside"),
    [
        ("DOCKER_HUB", True),
        ("https://ghcr.io", True),
        ("https://registry-1.docker.io/v2", True),
        ("https://us-docker.pkg.dev/p/r", False),
        ("https://gcr.io", False),
        ("https://mirror@us-docker.pkg.dev/p/r", False),
        # The host is what follows the user name and password, not a name before a colon.
        ("https://us-docker.pkg.dev:443@registry.example.com/v2", True),
        ("https://gcr.io:x@registry.example.com", True),
        ("https://[::1", True),
        ("projects/p/locations/us/repositories/r", False),
        ("", False),
    ],
)
def test_which_upstreams_are_outside_google(upstream: str, outside: bool) -> None:
    assert remote_vpcsc.outside_google(upstream) is outside


def test_the_setting_fix_comes_first_in_the_ticket() -> None:
    context = Context(
        cause=Cause.VPC_SC,
        repository=AR_REPO,
        account=EMAIL,
        perimeter="accessPolicies/1/servicePerimeters/p",
        vpcsc_config="projects/img-proj/locations/us",
    )
    draft = ticket_draft(context)
    assert draft["commands"][0] == (
        "gcloud artifacts vpcsc-config allow --project=img-proj --location=us"
    )
    assert draft["terraform"].startswith('resource "google_artifact_registry_vpcsc_config"')
    assert "vpcsc-config" not in "\n".join(ticket_draft(Context(cause=Cause.VPC_SC))["commands"])
