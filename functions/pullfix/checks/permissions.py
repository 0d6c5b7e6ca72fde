"""The permissions Terraform's custom roles hold, built from what the code declares.

The reader roles are the union of the diagnosis checks' declared reads (`Check.reads`), so a
check cannot read what Terraform does not grant; the granter's IAM write, the ledger's, the
outcome publisher's and verification's log read come from where those calls are made.
`functions/pullfix/permissions.json` holds the result and Terraform reads it
(`terraform/iam.tf`); regenerate it with

    python -m pullfix.checks --permissions > functions/pullfix/permissions.json
"""

from __future__ import annotations

import json

from pullfix.checks.registry import CHECKS, VERIFICATION, read_permissions

__all__ = ["HIERARCHY_PREFIXES", "PERMISSIONS_FILE", "roles", "roles_json"]

PERMISSIONS_FILE = "functions/pullfix/permissions.json"
# Permissions on folders and organizations (and the deny policies attached up there): only an
# organization-level custom role may hold them, so they are a role of their own.
HIERARCHY_PREFIXES = (
    "resourcemanager.folders.",
    "resourcemanager.organizations.",
    "iam.denypolicies.",
    "iam.principalaccessboundarypolicies.",
)


def roles() -> dict[str, list[str]]:
    """Each custom role's permissions, sorted: the role's key in Terraform -> permissions."""
    # Imported here: the adapter's permission map is built from the checks' reads.
    from pullfix.gcp.adapter import PERMISSIONS

    reads = {p for permissions in read_permissions(CHECKS).values() for p in permissions}
    verification = {p for read in VERIFICATION.reads for p in read.permissions}
    return {
        "reader": sorted(p for p in reads if not p.startswith(HIERARCHY_PREFIXES)),
        "hierarchy": sorted(p for p in reads if p.startswith(HIERARCHY_PREFIXES)),
        "repository_granter": sorted(PERMISSIONS["add_member_repository"]),
        "project_granter": sorted(PERMISSIONS["add_member_project"]),
        "ledger": sorted(PERMISSIONS["ledger"]),
        "publisher": sorted(PERMISSIONS["publish"]),
        # The verify function verifies each event's node as remediate does, and reads logs.
        "verifier": sorted({*verification, *PERMISSIONS["verify_logs"]}),
    }


def roles_json() -> str:
    """`roles()` as the file Terraform reads."""
    return json.dumps(roles(), indent=2) + "\n"
