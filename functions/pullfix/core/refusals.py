"""A Google API's permanent answer, read as what a person must do about it. Pure.

Only 429, 5xx and timeouts are worth another delivery; every other answer to a call about
the world (a 400, 403, 404 or 412 from GKE, IAM or Artifact Registry) ends its incident
with an outcome that names the call, the answer and the fix: the permission pullfix lacks
and a role that carries it, the resource that does not exist, or the organization policy
constraint that refused a grant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pullfix.core.model import AccessDenied, GoogleApiError

__all__ = ["CUSTOM_ROLES", "PREDEFINED_ROLES", "ApiRefusal", "api_refusal"]

# The Terraform module's custom role (terraform/iam.tf, `local.permissions`) that carries
# each permission pullfix's calls take; tests/terraform holds this table to that file.
CUSTOM_ROLES = {
    "artifactregistry.repositories.setIamPolicy": "repository_granter",
    "resourcemanager.projects.setIamPolicy": "project_granter",
    "pubsub.topics.publish": "publisher",
    "logging.logEntries.list": "verifier",
}
# A predefined role that carries the permission, for deployments without the module
# (https://cloud.google.com/iam/docs/roles-permissions: artifactregistry, resourcemanager,
# container, compute, iam, pubsub, logging).
PREDEFINED_ROLES = {
    "artifactregistry.repositories.setIamPolicy": "roles/artifactregistry.admin",
    "artifactregistry.repositories.getIamPolicy": "roles/artifactregistry.admin",
    "artifactregistry.repositories.get": "roles/artifactregistry.reader",
    "artifactregistry.tags.get": "roles/artifactregistry.reader",
    "resourcemanager.projects.setIamPolicy": "roles/resourcemanager.projectIamAdmin",
    "resourcemanager.projects.getIamPolicy": "roles/iam.securityReviewer",
    "resourcemanager.projects.get": "roles/browser",
    "container.clusters.get": "roles/container.clusterViewer",
    "compute.instances.get": "roles/compute.viewer",
    "iam.serviceAccounts.get": "roles/iam.serviceAccountViewer",
    "pubsub.topics.publish": "roles/pubsub.publisher",
    "logging.logEntries.list": "roles/logging.viewer",
}
# An organization policy constraint named in an answer (`constraints/iam.allowedPolicy…`):
# IAM puts it in the error's PreconditionFailure detail (`violations[].type`), which the
# error's message carries where pullfix's error reading found it.
_CONSTRAINT = re.compile(r"constraints/[A-Za-z0-9_.]+[A-Za-z0-9_]")
# Messages that name no constraint but are only ever one's: domain restricted sharing
# answers setIamPolicy with 400 FAILED_PRECONDITION "One or more users named in the policy
# do not belong to a permitted customer" (https://cloud.google.com/resource-manager/docs/
# organization-policy/restricting-domains; terraform-google-modules/
# terraform-example-foundation#1454 shows the detail naming the constraint).
_CONSTRAINT_MESSAGES = {
    "do not belong to a permitted customer": "constraints/iam.allowedPolicyMemberDomains",
}


@dataclass(frozen=True, slots=True)
class ApiRefusal:
    """A permanent answer of a Google API to one of pullfix's calls."""

    call: str  # what pullfix asked: "writing the IAM policy of projects/…"
    code: int  # the HTTP status (403 for a denial)
    status: str  # the google.rpc.Code name, "" when none
    message: str  # what the API said
    needs: tuple[str, ...] = ()  # the permissions the call takes

    @property
    def denied(self) -> bool:
        return self.code in (401, 403) or self.status in ("PERMISSION_DENIED", "UNAUTHENTICATED")

    @property
    def not_found(self) -> bool:
        return self.code == 404 or self.status == "NOT_FOUND"

    @property
    def constraint(self) -> str | None:
        """The organization policy constraint the answer names, if it names one."""
        found = _CONSTRAINT.search(self.message)
        if found:
            return found.group(0)
        return next((c for text, c in _CONSTRAINT_MESSAGES.items() if text in self.message), None)

    def fix(self) -> str:
        """What a person does about it."""
        constraint = self.constraint
        if constraint is not None:
            return (
                f"an organization policy refuses it ({constraint}): an administrator of the "
                f"organization or folder decides whether {constraint} may allow it "
                f"(`gcloud org-policies describe {constraint} --project=PROJECT` shows the "
                "policy in force); pullfix never works around a constraint"
            )
        if self.denied:
            if not self.needs:
                return "pullfix's service account may not make this call"
            wanted = ", ".join(self.needs)
            roles = sorted({PREDEFINED_ROLES[p] for p in self.needs if p in PREDEFINED_ROLES})
            custom = sorted({CUSTOM_ROLES.get(p, "reader") for p in self.needs})
            return (
                f"pullfix's service account needs {wanted}: the pullfix Terraform module's "
                f"{' and '.join(custom)} role carries it"
                + (f" (or the predefined {' or '.join(roles)})" if roles else "")
                + "; `pullfix diagnose` checks every permission pullfix needs"
            )
        if self.not_found:
            return "it does not exist (or was deleted): check the name the event carries"
        return "pullfix does not retry an answer like this; the message says what is wrong"

    def describe(self) -> str:
        """One line: the call, the answer, the fix."""
        answer = f"{self.code} {self.status}".strip()
        message = " ".join(self.message.split())[:300]
        return f"{self.call}: Google answered {answer} ({message}); {self.fix()}"


# Calls to pullfix's own infrastructure (the ledger, the outcomes topic): their errors are
# not answers about the world, and raise for Pub/Sub to redeliver.
_OWN_CALLS = ("ledger ", "publishing to ")
# Answers that say the call was cut short or raced, not what the world is: retried.
_NOT_ANSWERS = frozenset({"ABORTED", "CANCELLED", "DEADLINE_EXCEEDED"})


def api_refusal(exc: BaseException) -> ApiRefusal | None:
    """`exc` as a permanent answer of a Google API about the world, or None (a transient
    failure, an error of pullfix's own ledger or topic, an answer that is not Google's, a
    bug: those raise as they are)."""
    if isinstance(exc, AccessDenied):
        if not exc.call or exc.call.startswith(_OWN_CALLS):
            return None
        return ApiRefusal(exc.call, 403, "PERMISSION_DENIED", exc.answer, exc.needs)
    if (
        not isinstance(exc, GoogleApiError)
        or not exc.call
        or exc.call.startswith(_OWN_CALLS)
        or not exc.from_google  # a proxy's or load balancer's page: not about the resource
        or exc.status in _NOT_ANSWERS
        or exc.code >= 500
        or exc.code in (408, 429, 499)
    ):
        return None
    return ApiRefusal(exc.call, exc.code, exc.status, exc.message, exc.needs)
