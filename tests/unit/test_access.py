"""Access verdicts: the fallback over allow policies, the troubleshooter's answer mapped, the
sandbox's condition evaluation, and the guardrails' glob semantics."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullfix.core.access import PolicyRead, explain_policies, verdict_from_troubleshooter
from pullfix.core.config import AutoGrant, ConfigError, config_from_dict
from pullfix.core.judge import Evidence
from pullfix.core.model import (
    DOWNLOAD_PERMISSION,
    AccessDenied,
    AccessState,
    AccessVerdict,
    Binding,
    PolicyView,
    TransientError,
)
from pullfix.dev.sandbox.evaluate import ConditionError, evaluate_condition
from pullfix.engine.evidence import EvidenceCollector
from pullfix.gcp.errors import ApiCallError, NotFound, Retryable
from pullfix.logs import logs_to
from tests.clocks import ManualClock

EMAIL = "nodes@p1.iam.gserviceaccount.com"
ME = f"serviceAccount:{EMAIL}"
REPO = "projects/p2/locations/us/repositories/r"


def view(*bindings: Binding) -> PolicyView:
    return PolicyView(bindings=bindings, etag=b"e")


def roles(table: dict[str, frozenset[str] | None]) -> Any:
    return lambda role: table.get(role, frozenset())


CUSTOM = "organizations/1/roles/puller"


@pytest.mark.parametrize(
    ("chain", "table", "state", "words"),
    [
        ([PolicyRead(REPO, view())], {}, AccessState.NOT_GRANTED, "no allow binding"),
        (
            [
                PolicyRead(REPO, view()),
                PolicyRead("folders/4", view(Binding("roles/viewer", frozenset({ME})))),
            ],
            {},
            AccessState.GRANTED,
            "roles/viewer on folders/4",
        ),
        (
            [PolicyRead(REPO, view(Binding(CUSTOM, frozenset({ME}))))],
            {CUSTOM: frozenset({DOWNLOAD_PERMISSION})},
            AccessState.GRANTED,
            CUSTOM,
        ),
        (
            [PolicyRead(REPO, view(Binding("roles/storage.admin", frozenset({ME}))))],
            {"roles/storage.admin": frozenset({"storage.objects.get"})},
            AccessState.NOT_GRANTED,
            "no allow binding",
        ),
        (
            [PolicyRead(REPO, view(Binding(CUSTOM, frozenset({ME}))))],
            {CUSTOM: None},
            AccessState.UNKNOWN,
            "cannot expand the role",
        ),
        (
            [
                PolicyRead(
                    REPO,
                    view(Binding("roles/artifactregistry.reader", frozenset({"group:g@x.com"}))),
                )
            ],
            {},
            AccessState.UNKNOWN,
            "group:g@x.com",
        ),
        (
            [
                PolicyRead(
                    REPO, view(Binding("roles/artifactregistry.reader", frozenset({ME}), "t: x"))
                )
            ],
            {},
            AccessState.CONDITIONAL,
            "only under condition t: x",
        ),
        (
            [
                PolicyRead(
                    REPO, view(Binding("roles/artifactregistry.reader", frozenset({"allUsers"})))
                )
            ],
            {},
            AccessState.GRANTED,
            "allUsers",
        ),
        (
            [PolicyRead(REPO, view()), PolicyRead("organizations/1", None, "403")],
            {},
            AccessState.UNKNOWN,
            "could not be read",
        ),
        (
            # A group binding of a role without the permission says nothing.
            [PolicyRead(REPO, view(Binding("roles/storage.admin", frozenset({"group:g@x.com"}))))],
            {},
            AccessState.NOT_GRANTED,
            "no allow binding",
        ),
        # A domain holds no service account, whatever the account's address ends with.
        *(
            (
                [
                    PolicyRead(
                        REPO,
                        view(Binding("roles/artifactregistry.reader", frozenset({domain}))),
                    )
                ],
                {},
                AccessState.NOT_GRANTED,
                "no allow binding",
            )
            for domain in (
                "domain:example.com",
                "domain:p1.iam.gserviceaccount.com",
                "domain:iam.gserviceaccount.com",
                "domain:gserviceaccount.com",
            )
        ),
    ],
)
def test_fallback_verdicts(
    chain: list[PolicyRead], table: dict[str, Any], state: AccessState, words: str
) -> None:
    verdict = explain_policies(EMAIL, chain, roles(table))
    assert verdict.state is state
    assert words in verdict.describe()
    assert verdict.evaluator == "allow policies"


def test_an_unconditional_grant_anywhere_wins_over_a_gap_elsewhere() -> None:
    chain = [
        PolicyRead(REPO, view(Binding("roles/artifactregistry.reader", frozenset({"group:g@x"})))),
        PolicyRead("projects/p2", view(Binding("roles/artifactregistry.reader", frozenset({ME})))),
    ]
    assert explain_policies(EMAIL, chain, roles({})).state is AccessState.GRANTED


class _Apis:
    """The calls `EvidenceCollector.access` makes; the troubleshooter answers `answer`
    (raised when an exception). Every allow policy is empty."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked = 0

    def troubleshoot(self, email: str, repository: str) -> AccessVerdict:
        self.asked += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        assert isinstance(self.answer, AccessVerdict)
        return self.answer

    def repository_policy(self, repository: str) -> PolicyView:
        return view()

    def ancestry(self, project: str) -> tuple[str, ...]:
        return ("organizations/1",)

    def resource_policy(self, resource: str) -> PolicyView:
        return view()

    def role_permissions(self, role: str) -> frozenset[str]:
        return frozenset()


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The structured log lines written meanwhile."""
    stream = io.StringIO()
    with logs_to(stream):
        yield stream


def _signals(stream: io.StringIO) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in entries if e.get("signal") == "troubleshooter_refused"]


def _evidence() -> Evidence:
    return Evidence(repository=REPO, account_email=EMAIL)


@pytest.mark.parametrize(
    "error",
    [
        AccessDenied("troubleshooting: The caller does not have permission"),
        ApiCallError(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        NotFound(404, "NOT_FOUND", "Requested entity was not found."),
    ],
    ids=["403", "400", "404"],
)
def test_a_troubleshooter_that_cannot_answer_leaves_the_fallback_and_one_warning(
    error: Exception, logged: io.StringIO
) -> None:
    """Refused, or an error no retry mends: the allow policies judge, every event says so
    and names what they cannot see; one warning a backoff period, with the stable field."""
    apis = _Apis(error)
    collector = EvidenceCollector(apis)  # type: ignore[arg-type]
    for _ in range(3):
        evidence = _evidence()
        collector.access(evidence)
        assert evidence.verdict is not None
        assert evidence.verdict.state is AccessState.NOT_GRANTED
        assert evidence.verdict.evaluator == "allow policies"
        notes = " ".join(evidence.notes)
        assert "Policy Troubleshooter cannot answer pullfix" in notes
        assert str(error) in notes
        assert "deny policies" in notes and "principal access boundary" in notes
    # A refusal of the service backs off; an answer about one request (400, 404) does not:
    # a forged event naming a resource that does not exist must not switch the
    # troubleshooter (and deny policies with it) off for every repository.
    service = isinstance(error, AccessDenied)
    assert apis.asked == (1 if service else 3)
    warnings = _signals(logged)
    assert len(warnings) == (1 if service else 3)
    warning = warnings[0]
    assert warning["severity"] == "WARNING"
    assert warning["reason"] == str(error)
    assert warning["permission"] == DOWNLOAD_PERMISSION
    if isinstance(error, ApiCallError):
        assert warning["error"]["code"] == error.code
    assert collector.troubleshooter_refusal == (str(error) if service else None)


def test_a_denial_about_one_resource_never_turns_the_troubleshooter_off(
    logged: io.StringIO,
) -> None:
    apis = _Apis(
        AccessDenied(
            "troubleshooting: Permission denied on resource project ghost (or it may not exist)."
        )
    )
    collector = EvidenceCollector(apis)  # type: ignore[arg-type]
    collector.access(_evidence())
    assert collector.troubleshooter_refusal is None
    assert collector.ask_troubleshooter(_evidence()) is not None


def test_a_refusal_met_twice_for_one_event_is_one_warning(logged: io.StringIO) -> None:
    """The answer asked in the background is seen refused by its callback and by `access`:
    still one warning."""
    apis = _Apis(AccessDenied("no permission"))
    collector = EvidenceCollector(apis)  # type: ignore[arg-type]
    evidence = _evidence()
    asked = collector.ask_troubleshooter(evidence)
    assert asked is not None
    collector.access(evidence, asked)
    assert evidence.verdict is not None and evidence.verdict.evaluator == "allow policies"
    assert len(_signals(logged)) == 1
    assert collector.ask_troubleshooter(_evidence()) is None  # backing off


def test_a_flapping_troubleshooter_is_one_warning_a_period(logged: io.StringIO) -> None:
    """Refused, answering again after the backoff, refused again: a warning for each
    period that starts with a refusal, none for the events within one."""
    clock = ManualClock()
    granted = AccessVerdict(AccessState.GRANTED, "Policy Troubleshooter", ("roles/x on p",))
    apis = _Apis(AccessDenied("no permission"))
    collector = EvidenceCollector(apis, clock)  # type: ignore[arg-type]
    evaluators = []
    for answer, later in [
        (AccessDenied("no permission"), 0.0),
        (AccessDenied("no permission"), 599.0),  # within the period: not asked
        (granted, 2.0),  # the period is over: asked again, and it answers
        (AccessDenied("no permission again"), 1.0),
        (AccessDenied("no permission again"), 1.0),
    ]:
        clock.advance(later)
        apis.answer = answer
        evidence = _evidence()
        collector.access(evidence)
        assert evidence.verdict is not None
        evaluators.append(evidence.verdict.evaluator)
    assert evaluators == [
        "allow policies",
        "allow policies",
        "Policy Troubleshooter",
        "allow policies",
        "allow policies",
    ]
    assert apis.asked == 3
    assert [w["reason"] for w in _signals(logged)] == ["no permission", "no permission again"]


@pytest.mark.parametrize(
    "error",
    [TransientError("troubleshooting: 503 unavailable"), Retryable(429, "", "slow down")],
    ids=["transient", "retryable"],
)
def test_a_transient_troubleshooter_error_still_raises(
    error: Exception, logged: io.StringIO
) -> None:
    """429, 5xx, timeouts: Pub/Sub redelivers; no fallback, no backoff, no warning."""
    apis = _Apis(error)
    collector = EvidenceCollector(apis)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(TransientError):
            collector.access(_evidence())
    assert apis.asked == 2
    assert collector.troubleshooter_refusal is None
    assert _signals(logged) == []


def _binding(state: str, **more: Any) -> dict[str, Any]:
    return {"allowAccessState": state, "role": "roles/artifactregistry.reader", **more}


def _response(
    overall: str, bindings: list[dict[str, Any]], deny: str = "DENY_ACCESS_STATE_NOT_DENIED"
) -> dict[str, Any]:
    return {
        "overallAccessState": overall,
        "allowPolicyExplanation": {
            "explainedPolicies": [
                {
                    "fullResourceName": "//cloudresourcemanager.googleapis.com/folders/4",
                    "bindingExplanations": bindings,
                }
            ]
        },
        "denyPolicyExplanation": {
            "denyAccessState": deny,
            "explainedResources": [
                {
                    "fullResourceName": "//cloudresourcemanager.googleapis.com/projects/p2",
                    "explainedPolicies": [
                        {
                            "denyAccessState": deny,
                            "policy": {"name": "policies/x/denypolicies/no-pulls"},
                        }
                    ],
                }
            ],
        },
    }


MATCHED = {"memberships": {ME: {"membership": "MEMBERSHIP_MATCHED"}}}


@pytest.mark.parametrize(
    "response",
    [
        [],
        None,
        "CAN_ACCESS",
        {"allowPolicyExplanation": {"explainedPolicies": ["folders/4"]}},
        {"allowPolicyExplanation": {"explainedPolicies": [{"bindingExplanations": [7]}]}},
        {
            "allowPolicyExplanation": {
                "explainedPolicies": [
                    {
                        "bindingExplanations": [
                            _binding("ALLOW_ACCESS_STATE_GRANTED", memberships=[ME])
                        ]
                    }
                ]
            }
        },
        {"denyPolicyExplanation": {"explainedResources": [{"explainedPolicies": [[]]}]}},
        {"denyPolicyExplanation": "DENY_ACCESS_STATE_DENIED"},
    ],
)
def test_an_answer_of_another_shape_is_unknown_not_an_exception(response: Any) -> None:
    """A 200 whose body is not the documented response fails closed ("unknown": a ticket);
    an exception would fail the event on every delivery."""
    verdict = verdict_from_troubleshooter(response)
    assert verdict.state is AccessState.UNKNOWN
    assert "cannot be read" in verdict.describe()


@pytest.mark.parametrize(
    ("response", "state", "words"),
    [
        (
            _response("CAN_ACCESS", [_binding("ALLOW_ACCESS_STATE_GRANTED", **MATCHED)]),
            AccessState.GRANTED,
            "on folders/4",
        ),
        (
            _response(
                "CANNOT_ACCESS",
                [_binding("ALLOW_ACCESS_STATE_GRANTED", **MATCHED)],
                "DENY_ACCESS_STATE_DENIED",
            ),
            AccessState.DENIED,
            "no-pulls",
        ),
        (_response("CANNOT_ACCESS", []), AccessState.NOT_GRANTED, "no allow binding"),
        (
            _response(
                "UNKNOWN_CONDITIONAL",
                [
                    _binding(
                        "ALLOW_ACCESS_STATE_UNKNOWN_CONDITIONAL",
                        condition={"title": "t", "expression": "e"},
                    )
                ],
            ),
            AccessState.CONDITIONAL,
            "t: e",
        ),
        (
            _response(
                "CANNOT_ACCESS",
                [
                    _binding(
                        "ALLOW_ACCESS_STATE_NOT_GRANTED",
                        rolePermission="ROLE_PERMISSION_INCLUDED",
                        combinedMembership={"membership": "MEMBERSHIP_MATCHED"},
                        condition={"title": "expired", "expression": "request.time < x"},
                    )
                ],
            ),
            AccessState.CONDITIONAL,
            "expired",
        ),
        (
            _response(
                "UNKNOWN_INFO",
                [
                    _binding(
                        "ALLOW_ACCESS_STATE_UNKNOWN_INFO",
                        memberships={"group:h@x": {"membership": "MEMBERSHIP_UNKNOWN_INFO"}},
                    )
                ],
            ),
            AccessState.UNKNOWN,
            "group:h@x",
        ),
        ({}, AccessState.UNKNOWN, "empty"),
    ],
)
def test_troubleshooter_answers_map_onto_access_states(
    response: dict[str, Any], state: AccessState, words: str
) -> None:
    verdict = verdict_from_troubleshooter(response)
    assert verdict.state is state
    assert words in verdict.describe()


NOON = datetime(2026, 11, 22, 12, tzinfo=UTC)
CONTEXT = {
    "request.time": NOON,
    "resource.name": REPO,
    "resource.type": None,
    "resource.service": None,
}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('request.time < timestamp("2027-01-01T00:00:00Z")', True),
        ('request.time < timestamp("2020-01-01T00:00:00Z")', False),
        ('resource.name.startsWith("projects/p2/")', True),
        ('resource.name == "projects/other"', False),
        (
            '!(resource.name.endsWith("/r")) || request.time > timestamp("2026-01-01T00:00:00Z")',
            True,
        ),
        ('resource.name.startsWith("projects/p2") && resource.type == "x"', None),
        ('resource.name.startsWith("projects/zz") && resource.type == "x"', False),
    ],
)
def test_the_sandbox_evaluates_conditions_on_time_and_resource(
    expression: str, value: bool | None
) -> None:
    assert evaluate_condition(expression, CONTEXT) is value


@pytest.mark.parametrize(
    "expression", ["request.time.getDayOfWeek() < 5", "resource.matchTag('k', 'v')", "a +", '"x" <']
)
def test_conditions_outside_the_subset_are_named(expression: str) -> None:
    with pytest.raises(ConditionError):
        evaluate_condition(expression, CONTEXT)


@given(st.text(max_size=80))
def test_any_condition_text_evaluates_or_is_refused(text: str) -> None:
    with contextlib.suppress(ConditionError):
        assert evaluate_condition(text, CONTEXT) in (True, False, None)


@pytest.mark.parametrize(
    ("glob", "resource", "allowed"),
    [
        (
            "projects/shop-*/locations/*/repositories/*",
            "projects/shop-a/locations/us/repositories/r",
            True,
        ),
        (
            "projects/*/locations/us/repositories/apps",
            "projects/a/b/locations/us/repositories/apps",
            False,
        ),
        (
            "projects/p/locations/*/repositories/*",
            "projects/p/locations/us/repositories/r/extra",
            False,
        ),
        (
            "projects/p/locations/*/repositories/app?",
            "projects/p/locations/eu/repositories/apps",
            True,
        ),
    ],
)
def test_globs_match_within_one_segment(glob: str, resource: str, allowed: bool) -> None:
    assert AutoGrant(repositories=(glob,)).allows_repository(resource) is allowed


def test_a_project_level_grant_needs_the_whole_project_allow_listed() -> None:
    narrow = AutoGrant(repositories=("projects/p/locations/*/repositories/apps",), level="project")
    whole = AutoGrant(repositories=("projects/p/locations/*/repositories/*",), level="project")
    assert not narrow.allows_project_grant("p")
    assert whole.allows_project_grant("p")
    assert not whole.allows_project_grant("q")


def test_beside_conditions_is_a_boolean() -> None:
    assert config_from_dict(
        {"auto_grant": {"beside_conditions": True}}
    ).auto_grant.beside_conditions
    with pytest.raises(ConfigError, match="beside_conditions"):
        config_from_dict({"auto_grant": {"beside_conditions": "yes"}})
