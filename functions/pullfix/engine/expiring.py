"""Grants about to expire, found by the verification pass: IAM says until when.

With `auto_grant.expires_after`, each grant is a binding under pullfix's condition
(`pullfix-expires-<time>`). A workload that still needs the access a day before it ends
needs it in Terraform: the pass logs each such grant once per pass, with the Terraform that
makes it permanent (after which pullfix's binding can be revoked, or left to expire).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pullfix.core.causes import Action
from pullfix.core.grants import pullfix_bindings, terraform_to_keep
from pullfix.core.model import AccessDenied, TransientError
from pullfix.core.policy import pullfix_expiry
from pullfix.logs import log

if TYPE_CHECKING:
    from pullfix.core.config import Config
    from pullfix.core.model import GoogleApis
    from pullfix.engine.incidents import OpenIncident

__all__ = ["EXPIRY_NOTICE", "expiring_grants"]

# How long before its end a grant is reported.
EXPIRY_NOTICE = timedelta(days=1)


def expiring_grants(
    incidents: Iterable[OpenIncident], apis: GoogleApis, now: datetime, config: Config
) -> list[dict[str, Any]]:
    """The open incidents' grants whose binding ends within EXPIRY_NOTICE of `now`, each
    logged with the Terraform to keep it. Nothing is read unless grants expire; a policy that
    cannot be read is skipped (the next pass tries again)."""
    if config.auto_grant.expires_after is None:
        return []
    found = []
    seen: set[tuple[str, str, str]] = set()
    for incident in incidents:
        grant = incident.grant
        if incident.action != Action.GRANT or not isinstance(grant, dict):
            continue
        plan = (str(grant.get("resource")), str(grant.get("role")), str(grant.get("member")))
        if plan in seen:
            continue
        seen.add(plan)
        resource, role, member = plan
        try:
            if "/repositories/" in resource:
                view = apis.repository_policy(resource)
            else:
                view = apis.resource_policy(resource)
        except (AccessDenied, TransientError) as exc:
            log("WARNING", f"pullfix verify: cannot read the IAM policy of {resource}: {exc}")
            continue
        titles = pullfix_bindings(view, role, member)
        if None in titles:
            continue  # an unconditional binding holds it already
        ends = [when for t in titles if (when := pullfix_expiry(t)) is not None]
        if not ends or not now < max(ends) <= now + EXPIRY_NOTICE:
            continue
        until = max(ends)
        record = {
            "incident": incident.fingerprint,
            "resource": resource,
            "role": role,
            "member": member,
            "expires": until.isoformat(),
            "terraform": terraform_to_keep(resource, role, member),
        }
        log(
            "WARNING",
            f"pullfix verify: the grant of {role} on {resource} to {member} expires at "
            f"{until.isoformat()}; if it is still needed, keep it in Terraform",
            {"expiring_grant": record},
        )
        found.append(record)
    return found
