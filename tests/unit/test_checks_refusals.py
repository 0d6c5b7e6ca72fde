"""Refusals no reader grant fixes, ruled out before any grant: each judged by its own table, and
gathered before access so that nothing is granted where one holds."""

from __future__ import annotations

import pytest

from pullfix.checks import api_enabled, grant_may_fix, judge
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessState
from pullfix.core.remediation import Context, ticket_draft
from tests.unit.test_checks import AR_REPO, EMAIL, REFUSED, _Apis, _evidence, _gather, _verdict

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
