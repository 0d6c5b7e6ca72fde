"""Refusals no reader grant fixes, ruled out before any grant: each judged by its own table, and
gathered before access so that nothing is granted where one holds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pullfix.checks import api_enabled, cmek, grant_may_fix, judge, run_checks, vpc_sc
from pullfix.checks.cmek import KMS_ROLE
from pullfix.core.access import verdict_from_troubleshooter
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import EventClaims, Evidence
from pullfix.core.model import AccessState, Binding, PolicyView
from pullfix.core.remediation import Context, ticket_draft
from pullfix.core.vpcsc import (
    METADATA_TYPE,
    VpcScDenial,
    denial_from_entry,
    policy_log_filter,
    unique_id,
)
from pullfix.engine.evidence import EvidenceCollector
from tests.unit.test_checks import (
    AR_REPO,
    EMAIL,
    IMAGE,
    NODE,
    REFUSED,
    _Apis,
    _evidence,
    _gather,
    _verdict,
)

# -- api_enabled ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evidence", "cause"),
    [
        (_evidence(), None),  # not asked (no event reaches the judge so: the registry asks)
        (_evidence(ar_api_state="ENABLED"), None),
        (_evidence(ar_api_state="DISABLED"), "api_disabled"),
        # Service Usage's STATE_UNSPECIFIED is for consumers other than projects: no answer.
        (_evidence(ar_api_state="STATE_UNSPECIFIED"), "permission"),
        (_evidence(ar_api_state=""), "permission"),
        (
            _evidence(ar_api_error="reading the state: 403 (needs serviceusage.services.get)"),
            "permission",
        ),
    ],
)
def test_api_enabled_judges_the_service_usage_state(evidence: Evidence, cause: str | None) -> None:
    found = api_enabled.judge(REFUSED, evidence)
    assert (found.cause.value if found else None) == cause


def test_a_disabled_api_is_the_cause_and_rules_the_grant_out() -> None:
    """Disabled: no grant, whatever IAM says; enabled, the same evidence grants."""
    not_granted = _verdict(AccessState.NOT_GRANTED)
    disabled = _evidence(ar_api_state="DISABLED", verdict=not_granted)
    diagnosis = judge(REFUSED, disabled)
    assert diagnosis.cause is Cause.API_DISABLED
    assert "disabled in project img-proj" in diagnosis.reasons[0]
    # The node account lacks the role too: the reasons name both.
    assert any("also holds no role" in r and EMAIL in r for r in diagnosis.reasons)
    assert not grant_may_fix(disabled)
    enabled = _evidence(ar_api_state="ENABLED", verdict=not_granted)
    assert judge(REFUSED, enabled).cause is Cause.CROSS_PROJECT
    assert grant_may_fix(enabled)


def test_a_disabled_api_with_access_granted_names_only_the_api() -> None:
    granted = _evidence(ar_api_state="DISABLED", verdict=_verdict(AccessState.GRANTED))
    diagnosis = judge(REFUSED, granted)
    assert diagnosis.cause is Cause.API_DISABLED
    assert not any("also holds no role" in r for r in diagnosis.reasons)


def test_an_api_state_pullfix_may_not_read_fails_closed() -> None:
    """A denied Service Usage read: pullfix cannot tell, so a ticket, never a grant."""
    evidence = _evidence(ar_api_error="403", verdict=_verdict(AccessState.NOT_GRANTED))
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.PERMISSION
    assert "cannot tell whether the Artifact Registry API is enabled" in diagnosis.reasons[0]
    assert not grant_may_fix(evidence)


def test_access_is_still_asked_beside_a_disabled_api_but_not_after_a_denied_read() -> None:
    apis = _Apis(tag_exists=True)
    apis.answers["service_state"] = "DISABLED"
    evidence, made = _gather(apis)
    assert made["api_enabled"] == ["service_state"]
    assert "troubleshoot" in made["access"]  # so that the ticket can name both
    assert judge(REFUSED, evidence).cause is Cause.API_DISABLED
    refused = _Apis(tag_exists=True, refuse=("service_state",))
    evidence, made = _gather(refused)
    assert "access" not in made and "troubleshoot" not in refused.calls
    assert judge(REFUSED, evidence).cause is Cause.PERMISSION


def test_a_follow_up_event_with_the_api_disabled_is_named_too() -> None:
    """`Back-off pulling image` gives no reason; the API's state does."""
    diagnosis = judge(Diagnosis(Cause.UNKNOWN, ()), _evidence(ar_api_state="DISABLED"))
    assert diagnosis.cause is Cause.API_DISABLED


def test_the_api_disabled_ticket_enables_the_api_and_grants_only_where_the_role_lacks() -> None:
    context = Context(cause=Cause.API_DISABLED, repository=AR_REPO, account=EMAIL)
    draft = ticket_draft(context)
    assert draft["commands"] == [
        "gcloud services enable artifactregistry.googleapis.com --project=img-proj"
    ]
    assert 'resource "google_project_service"' in draft["terraform"]
    assert 'project            = "img-proj"' in draft["terraform"]
    assert "add-iam-policy-binding" not in "\n".join(draft["commands"])
    both = ticket_draft(
        Context(cause=Cause.API_DISABLED, repository=AR_REPO, account=EMAIL, lacks_reader=True)
    )
    assert both["commands"][0] == draft["commands"][0]
    assert "add-iam-policy-binding apps" in both["commands"][1]
    assert "google_artifact_registry_repository_iam_member" in both["terraform"]


def test_the_api_disabled_ticket_quotes_what_the_event_named() -> None:
    """A domain-scoped project (`example.com:proj`) is one shell word and one HCL string."""
    repo = "projects/example.com:proj/locations/us/repositories/gcr.io"
    draft = ticket_draft(Context(cause=Cause.API_DISABLED, repository=repo))
    assert draft["commands"][0].endswith("--project=example.com:proj")
    assert '"example.com:proj"' in draft["terraform"]


# -- vpc_sc ---------------------------------------------------------------------------------

VPC_SC_TEXT = (
    "denied: Request is prohibited by organization's policy. "
    "vpcServiceControlsUniqueIdentifier: c45c76a3f28239f8"
)
PERIMETER = "accessPolicies/123456/servicePerimeters/registry_perimeter"


def _policy_entry(**metadata: Any) -> dict[str, Any]:
    """A Policy Denied audit log entry as Cloud Logging returns it (camelCase JSON)."""
    return {
        "logName": "projects/img-proj/logs/cloudaudit.googleapis.com%2Fpolicy",
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": "artifactregistry.googleapis.com",
            "methodName": "artifactregistry.googleapis.com/DockerRead",
            "authenticationInfo": {"principalEmail": EMAIL},
            "metadata": {
                "@type": METADATA_TYPE,
                "vpcServiceControlsUniqueId": "c45c76a3f28239f8",
                "violationReason": "NO_MATCHING_ACCESS_LEVEL",
                "securityPolicyInfo": {"servicePerimeterName": PERIMETER},
                "ingressViolations": [
                    {"targetResource": "projects/222222222222", "servicePerimeter": PERIMETER}
                ],
                **metadata,
            },
        },
    }


def test_the_identifier_is_taken_from_the_text_only_in_its_own_alphabet() -> None:
    assert unique_id(VPC_SC_TEXT) == "c45c76a3f28239f8"
    assert unique_id("403 Forbidden") is None
    assert unique_id('vpcServiceControlsUniqueIdentifier: x" OR logName:"') is None
    # A forged value stops at the first character outside the alphabet: no quote enters.
    assert unique_id('vpcServiceControlsUniqueIdentifier: abcdefgh" OR x') == "abcdefgh"
    with pytest.raises(ValueError):
        policy_log_filter("img-proj", 'abcdefgh" OR x="')


def test_a_policy_audit_entry_reads_as_its_denial() -> None:
    denial = denial_from_entry(_policy_entry())
    assert denial == VpcScDenial(
        unique_id="c45c76a3f28239f8",
        perimeter=PERIMETER,
        reason="NO_MATCHING_ACCESS_LEVEL",
        service="artifactregistry.googleapis.com",
        principal=EMAIL,
        direction="ingress",
        target="projects/222222222222",
    )
    assert denial.policy_and_name == ("123456", "registry_perimeter")
    egress = denial_from_entry(
        _policy_entry(ingressViolations=None, egressViolations=[{"targetResource": "projects/9"}])
    )
    assert egress is not None and (egress.direction, egress.target) == ("egress", "projects/9")
    other = _policy_entry()
    other["protoPayload"]["metadata"]["@type"] = "type.googleapis.com/google.cloud.audit.X"
    assert denial_from_entry(other) is None


_DENIAL = denial_from_entry(_policy_entry())
_ID = "c45c76a3f28239f8"


@pytest.mark.parametrize(
    ("evidence", "cause"),
    [
        (_evidence(), None),
        (_evidence(vpc_sc_id=_ID, vpc_sc_looked_up=True), None),  # the log holds no such denial
        (_evidence(vpc_sc_id=_ID, vpc_sc_denial=_DENIAL), "vpc_sc"),
        (
            _evidence(vpc_sc_id=_ID, vpc_sc_denial=replace(_DENIAL, dry_run=True)),  # type: ignore[type-var]
            None,
        ),
        (
            _evidence(vpc_sc_id=_ID, vpc_sc_error="403 (needs logging.logEntries.list)"),
            "permission",
        ),
    ],
)
def test_vpc_sc_judges_the_policy_audit_log(evidence: Evidence, cause: str | None) -> None:
    found = vpc_sc.judge(REFUSED, evidence)
    assert (found.cause.value if found else None) == cause


def test_a_vpc_sc_denial_is_the_cause_and_names_a_missing_role_too() -> None:
    evidence = _evidence(
        vpc_sc_id=_ID, vpc_sc_denial=_DENIAL, verdict=_verdict(AccessState.NOT_GRANTED)
    )
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.VPC_SC
    assert PERIMETER in diagnosis.reasons[0] and "NO_MATCHING_ACCESS_LEVEL" in diagnosis.reasons[0]
    assert any("also holds no role" in r for r in diagnosis.reasons)
    assert not grant_may_fix(evidence)
    # The same text, and the log holds no such denial: IAM decides (a grant).
    unconfirmed = _evidence(
        vpc_sc_id=_ID, vpc_sc_looked_up=True, verdict=_verdict(AccessState.NOT_GRANTED)
    )
    assert judge(REFUSED, unconfirmed).cause is Cause.CROSS_PROJECT


def test_the_policy_log_is_read_only_for_a_text_that_names_an_identifier() -> None:
    apis = _Apis(tag_exists=True)
    apis.answers["vpc_sc_denial"] = _DENIAL
    evidence, made = _gather(apis)
    assert "vpc_sc" not in made and "vpc_sc_denial" not in apis.calls
    evidence = Evidence(image=IMAGE, claims=EventClaims("app-proj", "us-central1", "c", NODE))
    evidence.repository, evidence.vpc_sc_id = AR_REPO, _ID
    collector = EvidenceCollector(apis)  # type: ignore[arg-type]
    names = [check.name for check in run_checks(collector, evidence)]
    # access still asked: a missing role
    assert names[-4:] == ["vpc_sc", "cmek", "upstream", "access"]
    assert judge(REFUSED, evidence).cause is Cause.VPC_SC
    # A log pullfix may not read: cannot tell, so no grant and no troubleshooter.
    refused = _Apis(tag_exists=True, refuse=("vpc_sc_denial",))
    evidence = Evidence(image=IMAGE, claims=EventClaims("app-proj", "us-central1", "c", NODE))
    evidence.repository, evidence.vpc_sc_id = AR_REPO, _ID
    names = [c.name for c in run_checks(EvidenceCollector(refused), evidence)]  # type: ignore[arg-type]
    assert "access" not in names
    assert judge(REFUSED, evidence).cause is Cause.PERMISSION


def test_the_vpc_sc_ticket_is_the_rule_that_allows_the_pull() -> None:
    context = Context(
        cause=Cause.VPC_SC,
        project="app-proj",
        repository=AR_REPO,
        account=EMAIL,
        perimeter=PERIMETER,
        vpc_sc_direction="ingress",
        vpc_sc_target="projects/222222222222",
    )
    draft = ticket_draft(context)
    commands = "\n".join(draft["commands"])
    assert (
        "gcloud access-context-manager perimeters update registry_perimeter --policy=123456 "
        "--set-ingress-policies=ingress.yaml"
    ) in commands
    assert f'identities: ["serviceAccount:{EMAIL}"]' in commands
    assert 'resources: ["projects/222222222222"]' in commands
    assert "ingress_policies {" in draft["terraform"]
    assert 'service_name = "artifactregistry.googleapis.com"' in draft["terraform"]
    assert "add-iam-policy-binding" not in commands
    egress = ticket_draft(replace(context, vpc_sc_direction="egress", lacks_reader=True))
    assert "--set-egress-policies=egress.yaml" in "\n".join(egress["commands"])
    assert "add-iam-policy-binding" in egress["commands"][-1]
    assert "egress_policies {" in egress["terraform"]


# -- principal access boundary --------------------------------------------------------------

PAB = "organizations/123456789012/locations/global/principalAccessBoundaryPolicies/own-org-only"


def _troubleshooter_answer(pab_state: str, allow_state: str) -> dict[str, Any]:
    """A v3beta TroubleshootIamPolicyResponse: a boundary refuses, whatever the allow policies
    say (the overall state is then CANNOT_ACCESS)."""
    granted = allow_state == "ALLOW_ACCESS_STATE_GRANTED"
    return {
        "overallAccessState": "CANNOT_ACCESS",
        "allowPolicyExplanation": {
            "allowAccessState": allow_state,
            "explainedPolicies": [
                {
                    "allowAccessState": allow_state,
                    "fullResourceName": f"//artifactregistry.googleapis.com/{AR_REPO}",
                    "bindingExplanations": [
                        {
                            "allowAccessState": allow_state,
                            "role": "roles/artifactregistry.reader",
                            "rolePermission": "ROLE_PERMISSION_INCLUDED",
                            "memberships": {
                                f"serviceAccount:{EMAIL}": {"membership": "MEMBERSHIP_MATCHED"}
                            },
                        }
                    ]
                    if granted
                    else [],
                }
            ],
        },
        "denyPolicyExplanation": {"denyAccessState": "DENY_ACCESS_STATE_NOT_DENIED"},
        "pabPolicyExplanation": {
            "principalAccessBoundaryAccessState": pab_state,
            "explainedBindingsAndPolicies": [
                {
                    "bindingAndPolicyAccessState": pab_state,
                    "explainedPolicy": {"policy": {"name": PAB}},
                    "explainedPolicyBinding": {
                        "policyBinding": {
                            "target": {
                                "principalSet": "//cloudresourcemanager.googleapis.com/"
                                "projects/app-proj"
                            }
                        }
                    },
                }
            ],
        },
    }


def test_a_boundary_that_refuses_is_read_beside_what_the_allow_policies_say() -> None:
    held = verdict_from_troubleshooter(
        _troubleshooter_answer("PAB_ACCESS_STATE_NOT_ALLOWED", "ALLOW_ACCESS_STATE_GRANTED")
    )
    assert held.state is AccessState.GRANTED and PAB in held.boundary[0]
    lacking = verdict_from_troubleshooter(
        _troubleshooter_answer("PAB_ACCESS_STATE_NOT_ALLOWED", "ALLOW_ACCESS_STATE_NOT_GRANTED")
    )
    assert lacking.state is AccessState.NOT_GRANTED and lacking.boundary
    unknown = verdict_from_troubleshooter(
        _troubleshooter_answer("PAB_ACCESS_STATE_UNKNOWN_INFO", "ALLOW_ACCESS_STATE_NOT_GRANTED")
    )
    assert "cannot tell" in unknown.boundary[0]
    allowed = _troubleshooter_answer("PAB_ACCESS_STATE_ALLOWED", "ALLOW_ACCESS_STATE_NOT_GRANTED")
    assert verdict_from_troubleshooter(allowed).boundary == ()


@pytest.mark.parametrize(
    ("pab", "allow", "also_lacks"),
    [
        ("PAB_ACCESS_STATE_NOT_ALLOWED", "ALLOW_ACCESS_STATE_GRANTED", False),
        ("PAB_ACCESS_STATE_NOT_ALLOWED", "ALLOW_ACCESS_STATE_NOT_GRANTED", True),
        ("PAB_ACCESS_STATE_UNKNOWN_INFO", "ALLOW_ACCESS_STATE_NOT_GRANTED", True),
    ],
)
def test_a_boundary_is_never_granted_and_the_ticket_names_the_missing_role_too(
    pab: str, allow: str, also_lacks: bool
) -> None:
    evidence = _evidence(verdict=verdict_from_troubleshooter(_troubleshooter_answer(pab, allow)))
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.PERMISSION
    assert "principal access boundary" in diagnosis.reasons[0]
    assert any("also holds no role" in r for r in diagnosis.reasons) is also_lacks
    assert not grant_may_fix(evidence)
    # The boundary allows the repository: the missing role is what to grant.
    allowed = verdict_from_troubleshooter(_troubleshooter_answer("PAB_ACCESS_STATE_ALLOWED", allow))
    if allow == "ALLOW_ACCESS_STATE_NOT_GRANTED":
        assert grant_may_fix(_evidence(verdict=allowed))


def test_the_boundary_ticket_adds_the_repository_project_to_the_policy() -> None:
    verdict = verdict_from_troubleshooter(
        _troubleshooter_answer("PAB_ACCESS_STATE_NOT_ALLOWED", "ALLOW_ACCESS_STATE_GRANTED")
    )
    draft = ticket_draft(
        Context(
            cause=Cause.PERMISSION, repository=AR_REPO, account=EMAIL, boundary=verdict.boundary
        )
    )
    assert draft["commands"][1] == (
        "gcloud iam principal-access-boundary-policies update own-org-only "
        "--organization=123456789012 --location=global --add-details-rules="
        "effect=ALLOW,resources=//cloudresourcemanager.googleapis.com/projects/img-proj"
    )
    assert (
        'resources = ["//cloudresourcemanager.googleapis.com/projects/img-proj"]'
        in (draft["terraform"])
    )
    assert not any("add-iam-policy-binding" in c for c in draft["commands"])
    # Without a boundary, the permission ticket is the one it was.
    plain = ticket_draft(Context(cause=Cause.PERMISSION, repository=AR_REPO))
    assert "denypolicies" in plain["commands"][0]


# -- cmek -----------------------------------------------------------------------------------

KEY = "projects/kms-proj/locations/us/keyRings/ring/cryptoKeys/images"
AGENT = "service-222@gcp-sa-artifactregistry.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("evidence", "cause"),
    [
        (_evidence(kms_key=""), None),  # no customer-managed key
        (_evidence(kms_key=KEY, kms_key_state="ENABLED", kms_agent_holds_role=True), None),
        (_evidence(kms_key=KEY, kms_key_state="DISABLED", kms_agent_holds_role=True), "cmek"),
        (_evidence(kms_key=KEY, kms_key_state="DESTROYED"), "cmek"),
        (_evidence(kms_key=KEY, kms_key_state="DESTROY_SCHEDULED"), "cmek"),
        (
            _evidence(
                kms_key=KEY, kms_key_state="ENABLED", kms_agent=AGENT, kms_agent_holds_role=False
            ),
            "cmek",
        ),
        (_evidence(kms_error="reading the key: 403 (needs cloudkms.cryptoKeys.get)"), "permission"),
    ],
)
def test_cmek_judges_the_key_and_the_service_agent(evidence: Evidence, cause: str | None) -> None:
    found = cmek.judge(REFUSED, evidence)
    assert (found.cause.value if found else None) == cause


def _kms_apis(state: str, agent_bound: bool, **refuse: bool) -> _Apis:
    apis = _Apis(tag_exists=True, refuse=tuple(refuse))
    binding = Binding(KMS_ROLE, frozenset({f"serviceAccount:service-999@{AGENT.split('@')[1]}"}))
    apis.answers.update(
        repository_kms_key=KEY,
        crypto_key_state=state,
        crypto_key_policy=PolicyView((binding,) if agent_bound else (), b"e"),
    )
    return apis


def test_a_key_that_cannot_serve_is_cmek_and_names_a_missing_role_too() -> None:
    evidence, made = _gather(_kms_apis("DISABLED", True))
    assert set(made["cmek"]) >= {"repository_kms_key", "crypto_key_state", "crypto_key_policy"}
    assert "access" in made  # the missing role is named beside it
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.CMEK and "DISABLED" in diagnosis.reasons[0]
    assert any("also holds no role" in r for r in diagnosis.reasons)
    assert not grant_may_fix(evidence)
    # The same repository with its key enabled and the agent bound: IAM decides (a grant).
    evidence, _ = _gather(_kms_apis("ENABLED", True))
    assert judge(REFUSED, evidence).cause is Cause.CROSS_PROJECT
    # The agent unbound (on the key and its project): cmek.
    evidence, _ = _gather(_kms_apis("ENABLED", False))
    diagnosis = judge(REFUSED, evidence)
    assert diagnosis.cause is Cause.CMEK and "service-999@" in diagnosis.reasons[0]
    # A key pullfix may not read: cannot tell, no grant.
    evidence, _ = _gather(_kms_apis("ENABLED", True, crypto_key_state=True))
    assert judge(REFUSED, evidence).cause is Cause.PERMISSION


def test_the_cmek_ticket_is_the_key_s_fix() -> None:
    disabled = ticket_draft(
        Context(cause=Cause.CMEK, repository=AR_REPO, kms_key=KEY, kms_key_state="DISABLED")
    )
    assert (
        "gcloud kms keys versions enable VERSION --key=images --keyring=ring --location=us "
        "--project=kms-proj"
    ) in disabled["commands"]
    agent = ticket_draft(
        Context(
            cause=Cause.CMEK,
            repository=AR_REPO,
            kms_key=KEY,
            kms_key_state="ENABLED",
            kms_agent=AGENT,
            account=EMAIL,
            lacks_reader=True,
        )
    )
    assert agent["commands"][0] == (
        "gcloud kms keys add-iam-policy-binding images --keyring=ring --location=us "
        f"--project=kms-proj --member=serviceAccount:{AGENT} "
        "--role=roles/cloudkms.cryptoKeyEncrypterDecrypter"
    )
    assert "add-iam-policy-binding apps" in agent["commands"][1]
    assert 'resource "google_kms_crypto_key_iam_member"' in agent["terraform"]
    assert "google_artifact_registry_repository_iam_member" in agent["terraform"]
