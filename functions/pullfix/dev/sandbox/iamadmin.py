"""IAM admin v1 as the sandbox's world knows it: service accounts and roles, as Google's JSON
(`ServiceAccount`, `Role`: https://cloud.google.com/iam/docs/reference/rest/v1/
projects.serviceAccounts, https://cloud.google.com/iam/docs/reference/rest/v1/roles), served
over REST and over gRPC alike.
"""

from __future__ import annotations

import base64
from typing import Any

from pullfix.dev.sandbox.errors import ApiError
from pullfix.dev.sandbox.world import World

__all__ = ["role_json", "service_account_json"]


def role_json(world: World, name: str) -> dict[str, Any]:
    """roles/X (predefined), projects/P/roles/X and organizations/O/roles/X (custom)."""
    from pullfix.dev.sandbox.evaluate import role_permissions

    parts = name.split("/")
    if not (
        (len(parts) == 2 and parts[0] == "roles")
        or (len(parts) == 4 and parts[0] in ("projects", "organizations") and parts[2] == "roles")
    ):
        raise ApiError(400, f"Invalid role name {name!r}")
    permissions = role_permissions(world, name)
    if permissions is None:
        raise ApiError(404, f"Role {name} not found.", status="NOT_FOUND")
    return {
        "name": name,
        "title": parts[-1],
        "includedPermissions": list(permissions),
        "stage": "GA",
        "etag": base64.b64encode(b"sandbox").decode(),
    }


def service_account_json(world: World, name: str) -> dict[str, Any]:
    """projects/P/serviceAccounts/EMAIL or .../UNIQUE_ID (P may be `-`)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "serviceAccounts":
        raise ApiError(
            400,
            f"Invalid service account name {name!r}: want projects/PROJECT/serviceAccounts/EMAIL",
        )
    key = parts[3]
    for project in world.projects.values():
        candidates = (
            [project.service_account(key)]
            if "@" in key
            else [
                sa
                for sa in (
                    *project.service_accounts.values(),
                    project.service_account(
                        f"{project.number}-compute@developer.gserviceaccount.com"
                    ),
                )
                if sa is not None and sa.unique_id == key
            ]
        )
        account = next((sa for sa in candidates if sa is not None), None)
        if account is not None:
            return {
                "name": f"projects/{project.project_id}/serviceAccounts/{account.email}",
                "projectId": project.project_id,
                "uniqueId": account.unique_id,
                "email": account.email,
                "displayName": account.email.split("@")[0],
                "oauth2ClientId": account.unique_id,
                "disabled": account.disabled,
            }
    raise ApiError(404, f"Service account {name} does not exist.")
