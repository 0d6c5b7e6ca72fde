"""Posture: the node account holds the role Google recommends for node service accounts.

Google's hardening guide asks for a least-privilege node service account, granted
`roles/container.defaultNodeServiceAccount` (Kubernetes Engine Default Node Service Account)
on the project, instead of the Compute Engine default account and its Editor role
(https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster#use_least_privilege_sa,
https://cloud.google.com/kubernetes-engine/security/configure-node-service-accounts, "Grant the
minimum required role for GKE"); gcpdiag's lint rule `gke/ERR/2024_003` checks the role's
permissions. Without it the nodes' logging and
monitoring fail, never an image pull: this check is advisory. `pullfix diagnose` reports it
beside the pull verdict; it names no cause and is not in `CHECKS`, so `remediate` never runs it.

Reads the cluster project's allow policy (Resource Manager `projects.getIamPolicy`, version 3:
https://cloud.google.com/resource-manager/reference/rest/v3/projects/getIamPolicy), the read the
`access` check's fallback makes. A member pullfix cannot expand (a group) or a refused read is
"cannot tell".
"""

from __future__ import annotations

from dataclasses import dataclass

from pullfix.checks.base import PROJECT_POLICY
from pullfix.core.model import AccessDenied, GoogleApis, PolicyView
from pullfix.core.remediation import hcl, sh

__all__ = ["NODE_ROLE", "READS", "Posture", "check_posture", "judge_posture"]

NODE_ROLE = "roles/container.defaultNodeServiceAccount"
# Basic roles that hold the node role's permissions and far more (the Compute Engine default
# account's Editor grant is what the hardening guide asks to replace).
_BROAD = ("roles/owner", "roles/editor")

READS = (PROJECT_POLICY,)


@dataclass(frozen=True)
class Posture:
    """One node pool's account against Google's recommendation."""

    node_pool: str
    service_account: str
    status: str  # ok | advice | unknown
    reasons: tuple[str, ...]
    fix: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "node_pool": self.node_pool,
            "service_account": self.service_account,
            "status": self.status,
            "reasons": list(self.reasons),
            "fix": list(self.fix),
        }


def judge_posture(
    pool: str, email: str, project: str, policy: PolicyView | None, refusal: str = ""
) -> Posture:
    """Pure: the posture of `email` (the pool's node account) from the project's policy."""
    if policy is None:
        return Posture(
            pool, email, "unknown", (f"pullfix cannot read the IAM policy of {project}: {refusal}",)
        )
    member = f"serviceAccount:{email}"
    held = [b for b in policy.bindings if b.role == NODE_ROLE and member in b.members]
    if any(not b.conditional for b in held):
        return Posture(pool, email, "ok", (f"{email} holds {NODE_ROLE} on {project}",))
    notes = []
    if email.endswith("-compute@developer.gserviceaccount.com"):
        notes.append(
            "the pool runs as the Compute Engine default service account: Google recommends "
            "a dedicated, least-privilege node account"
        )
    broad = sorted({b.role for b in policy.bindings if b.role in _BROAD and member in b.members})
    if broad:
        notes.append(f"{email} holds {', '.join(broad)} on {project}: broader than nodes need")
    groups = sorted(
        {
            m
            for b in policy.bindings
            if b.role == NODE_ROLE
            for m in b.members
            if m.startswith("group:")
        }
    )
    if held:
        why = f"{email} holds {NODE_ROLE} on {project} only under a condition: {held[0].condition}"
    elif groups:
        return Posture(
            pool,
            email,
            "unknown",
            (
                f"{NODE_ROLE} on {project} is granted to {', '.join(groups)}, whose members "
                f"pullfix does not read: it cannot tell whether {email} is one",
                *notes,
            ),
        )
    else:
        why = f"{email} does not hold {NODE_ROLE} on {project}"
    project_id = project.removeprefix("projects/")
    grant = (
        f"gcloud projects add-iam-policy-binding {sh(project_id)} "
        f"--member={sh(member)} --role={NODE_ROLE}"
    )
    terraform = (
        'resource "google_project_iam_member" "node_default_role" {\n'
        f"  project = {hcl(project_id)}\n"
        f'  role    = "{NODE_ROLE}"\n'
        f"  member  = {hcl(member)}\n"
        "}\n"
    )
    return Posture(
        pool,
        email,
        "advice",
        (why, *notes),
        (
            f"Grant {email} {NODE_ROLE} on {project}, the role Google recommends for node "
            "accounts (advisory: it does not affect image pulls).",
            grant,
            terraform,
        ),
    )


def check_posture(apis: GoogleApis, project: str, pool: str, account: str) -> Posture:
    """The posture of one pool's account (`account`: the GKE API's, `default` or an email)."""
    email = account
    if account == "default":
        number = apis.project_number(project)
        if number is None:
            return Posture(pool, account, "unknown", (f"project {project} has no number",))
        email = f"{number}-compute@developer.gserviceaccount.com"
    try:
        policy = apis.resource_policy(f"projects/{project}")
    except AccessDenied as exc:
        return judge_posture(pool, email, f"projects/{project}", None, str(exc))
    return judge_posture(pool, email, f"projects/{project}", policy)
