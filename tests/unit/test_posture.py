"""The node account's posture (`pullfix.checks.posture`): a table over project policies."""

from __future__ import annotations

import pytest

from pullfix.checks.posture import NODE_ROLE, judge_posture
from pullfix.core.model import Binding, PolicyView

NODES = "nodes@shop-prod.iam.gserviceaccount.com"
DEFAULT = "111111111111-compute@developer.gserviceaccount.com"
PROJECT = "projects/shop-prod"


def _policy(*bindings: Binding) -> PolicyView:
    return PolicyView(bindings=bindings, etag=b"")


def _b(role: str, *members: str, condition: str | None = None) -> Binding:
    return Binding(role, frozenset(members), condition)


@pytest.mark.parametrize(
    ("email", "policy", "status", "says"),
    [
        (NODES, _policy(_b(NODE_ROLE, f"serviceAccount:{NODES}")), "ok", "holds"),
        (NODES, _policy(), "advice", "does not hold"),
        (
            NODES,
            _policy(_b(NODE_ROLE, "serviceAccount:other@p.iam.gserviceaccount.com")),
            "advice",
            "does not hold",
        ),
        (
            NODES,
            _policy(_b(NODE_ROLE, f"serviceAccount:{NODES}", condition="t: request.time < x")),
            "advice",
            "only under a condition",
        ),
        (NODES, _policy(_b(NODE_ROLE, "group:nodes@example.com")), "unknown", "cannot tell"),
        (
            DEFAULT,
            _policy(_b("roles/editor", f"serviceAccount:{DEFAULT}")),
            "advice",
            "does not hold",
        ),
        (NODES, None, "unknown", "cannot read"),
    ],
)
def test_posture(email: str, policy: PolicyView | None, status: str, says: str) -> None:
    posture = judge_posture("default-pool", email, PROJECT, policy, "403")
    assert posture.status == status
    assert says in posture.reasons[0]
    if status == "advice":
        assert (
            f"gcloud projects add-iam-policy-binding shop-prod --member=serviceAccount:{email} "
            f"--role={NODE_ROLE}"
        ) in posture.fix


def test_the_default_account_and_editor_are_named() -> None:
    posture = judge_posture(
        "p", DEFAULT, PROJECT, _policy(_b("roles/editor", f"serviceAccount:{DEFAULT}"))
    )
    said = " ".join(posture.reasons)
    assert "Compute Engine default service account" in said
    assert "roles/editor" in said and "broader than nodes need" in said
