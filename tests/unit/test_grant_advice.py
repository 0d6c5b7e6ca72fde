"""The grant a ticket or a grant outcome names is written the same way in its gcloud command
and in its Terraform: on the repository, or on the project at `auto_grant.level: project`."""

from __future__ import annotations

import pytest

from pullfix.core.causes import Cause
from pullfix.core.remediation import Context, ticket_draft

ACCOUNT = "nodes@prod.iam.gserviceaccount.com"
REPOSITORY = "projects/images/locations/us/repositories/shared"
MEMBER = f"serviceAccount:{ACCOUNT}"


def _draft(resource: str) -> dict[str, object]:
    grant = {"resource": resource, "role": "roles/artifactregistry.reader", "member": MEMBER}
    return ticket_draft(
        Context(Cause.ROLE, project="prod", repository=REPOSITORY, account=ACCOUNT, grant=grant)
    )


def test_a_project_level_grant_is_a_project_binding_in_both() -> None:
    draft = _draft("projects/images")
    commands = "\n".join(draft["commands"])  # type: ignore[arg-type]
    assert "gcloud projects add-iam-policy-binding images " in commands
    assert "artifacts repositories add-iam-policy-binding" not in commands
    assert 'resource "google_project_iam_member"' in str(draft["terraform"])


@pytest.mark.parametrize("resource", [REPOSITORY])
def test_a_repository_grant_is_a_repository_binding_in_both(resource: str) -> None:
    draft = _draft(resource)
    commands = "\n".join(draft["commands"])  # type: ignore[arg-type]
    assert (
        "gcloud artifacts repositories add-iam-policy-binding shared --project=images "
        "--location=us" in commands
    )
    assert 'resource "google_artifact_registry_repository_iam_member"' in str(draft["terraform"])
