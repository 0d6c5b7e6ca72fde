"""The only code that writes IAM.

Every grant pullfix makes — a new incident's, one resumed after a crash or a transient
error, one taken over from a delivery whose lease ran out, `pullfix scan --apply`'s — is
made here, and only after `permit` said yes against the config as it stands at that moment
and the hourly cap counted it. A permanent answer of IAM (a denial, an organization policy,
a resource gone) is a refusal with its reason, never an exception that Pub/Sub retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pullfix.core.causes import Action
from pullfix.core.config import Config
from pullfix.core.model import (
    READER_ROLE,
    AccessDenied,
    GoogleApiError,
    GrantResult,
    PolicyView,
)
from pullfix.core.policy import (
    Decision,
    GrantCondition,
    GrantFacts,
    GrantPlan,
    permit,
    pullfix_expiry,
    revoke_refusal,
    with_expiry,
)
from pullfix.core.refusals import ApiRefusal, api_refusal
from pullfix.logs import log

__all__ = ["GrantAttempt", "Granter", "IamWriter", "RevokeRefused", "log_decision"]


class IamWriter(Protocol):
    def add_member(
        self,
        resource: str,
        role: str,
        member: str,
        first: PolicyView | None = None,
        *,
        condition: GrantCondition | None = None,
    ) -> GrantResult:
        """Bind `member` (unconditionally; with `condition=GrantCondition`, as a conditional
        binding of its own), keeping every other binding and condition."""
        ...

    def remove_member(
        self, resource: str, role: str, member: str, condition_title: str | None = None
    ) -> GrantResult:
        """Take `member` out of the one binding of `role` (the unconditional one, or the one
        whose condition has this title), keeping every other member and binding."""
        ...


class PolicyReader(Protocol):
    def resource_policy(self, resource: str) -> PolicyView: ...


class CapCounter(Protocol):
    def take_grant_slot(self, now: datetime, limit: int) -> bool: ...


@dataclass
class GrantAttempt:
    """What one grant came to: `decision` (GRANT with `result`, or the refusal), and
    whether the write reached IAM (an exception after that may have left it made)."""

    decision: Decision | None = None
    result: GrantResult | None = None
    reached_iam: bool = False
    refusal: ApiRefusal | None = None
    audit: dict[str, Any] = field(default_factory=dict)


class RevokeRefused(ValueError):
    """A revoke pullfix will not make: the binding is not one pullfix grants."""


class Granter:
    """Holds the IAM writer; `config` is read at each grant, so the grant follows the
    config as it stands then, not as it stood when the incident began."""

    def __init__(
        self,
        writer: IamWriter,
        cap: CapCounter,
        config: Callable[[], Config],
        reader: PolicyReader | None = None,
    ) -> None:
        self._writer = writer
        # IAM reads, to see whether a write whose answer was lost landed.
        self._reader: PolicyReader = reader if reader is not None else writer  # type: ignore[assignment]
        self._cap = cap
        self._config = config
        # Plans a person confirmed (`pullfix scan --apply`); None: the config alone decides.
        self.confirmed: frozenset[GrantPlan] | None = None

    def grant(
        self,
        plan: GrantPlan,
        facts: GrantFacts,
        now: datetime,
        audit: dict[str, Any],
        attempt: GrantAttempt,
        *,
        first: PolicyView | None = None,
        incident: str | None = None,
    ) -> GrantAttempt:
        """Decide, count, write, audit. Fills and returns `attempt` (the caller's, so that
        it knows whether IAM was reached when the write raises). With
        `auto_grant.expires_after`, the binding is conditional on `request.time`, ending
        that long after `now`; `incident` is named in the condition's description."""
        config = self._config()
        attempt.audit = audit
        confirmed = GrantPlan(plan.resource, plan.role, plan.member) in (self.confirmed or ())
        plan = with_expiry(plan, config, now, incident)
        decision = permit(plan, facts, config)
        if decision.action is Action.GRANT and self.confirmed is not None and not confirmed:
            decision = Decision(
                Action.TICKET, None, ("no grant: not among the grants confirmed at the prompt",)
            )
        if decision.action is not Action.GRANT:
            attempt.decision = decision
            log_decision(decision, audit)
            return attempt
        limit = config.auto_grant.max_per_hour
        if not self._cap.take_grant_slot(now, limit):
            attempt.decision = Decision(
                Action.TICKET,
                None,
                (f"no grant: the cap of {limit} grants per hour is reached",),
            )
            log_decision(attempt.decision, audit)
            return attempt
        attempt.reached_iam = True
        try:
            if plan.condition is None:
                result = self._writer.add_member(plan.resource, plan.role, plan.member, first=first)
            else:
                result = self._writer.add_member(
                    plan.resource, plan.role, plan.member, first=first, condition=plan.condition
                )
        except (AccessDenied, GoogleApiError) as exc:
            refusal = api_refusal(exc)
            if refusal is None:
                raise
            # IAM said no for good: nothing was written.
            attempt.reached_iam = False
            attempt.refusal = refusal
            attempt.decision = Decision(
                Action.TICKET, None, (f"no grant: IAM refused it: {refusal.describe()}",)
            )
            log_decision(attempt.decision, audit)
            return attempt
        attempt.decision, attempt.result = decision, result
        record = {**audit, "action": "grant", "changed": result.changed}
        record["attempts"] = result.attempts
        until = ""
        if plan.condition is not None:
            record["condition"] = plan.condition.to_dict()
            expires = pullfix_expiry(plan.condition.title)
            record["expires"] = expires.isoformat() if expires else None
            until = f" until {record['expires']}"
        log(
            "NOTICE",
            f"pullfix granted {plan.role} on {plan.resource} to {plan.member}{until}"
            + ("" if result.changed else " (already bound)"),
            {"audit": record},
        )
        return attempt

    def found(self, plan: GrantPlan, attempt: GrantAttempt) -> Decision | None:
        """After a refusal of a resumed grant: whether IAM holds the binding an earlier
        attempt wrote (its answer lost). If so it is pullfix's grant, made when the config
        allowed it: `attempt` is filled as for a grant (changed: it was written then), the
        audit line says so, and the refusal that would stop it now is returned."""
        refused = attempt.decision
        policy = self._reader.resource_policy(plan.resource)
        # Pullfix's binding: the unconditional one, or one under its own expiry condition.
        there = any(
            b.role == plan.role
            and plan.member in b.members
            and (
                not b.conditional or pullfix_expiry(str(b.condition).split(": ", 1)[0]) is not None
            )
            for b in policy.bindings
        )
        if not there or refused is None:
            return None
        attempt.result = GrantResult(changed=True, attempts=0)
        log(
            "NOTICE",
            f"pullfix granted {plan.role} on {plan.resource} to {plan.member} (found in IAM "
            "after its answer was lost)",
            {
                "audit": {
                    **attempt.audit,
                    "action": "grant",
                    "changed": True,
                    "found_after_lost_answer": True,
                    "not_allowed_now": list(refused.reasons),
                }
            },
        )
        return refused

    def revoke(self, plan: GrantPlan, audit: dict[str, Any]) -> GrantResult:
        """Remove pullfix's binding `plan` names (its condition's title picks a conditional
        one), etag-safe, keeping every other member and condition; audited like a grant.
        RevokeRefused for a binding pullfix does not grant."""
        refusal = revoke_refusal(plan)
        if refusal is not None:
            raise RevokeRefused(refusal)
        title = plan.condition.title if plan.condition is not None else None
        result = self._writer.remove_member(plan.resource, plan.role, plan.member, title)
        record = {**audit, **plan.to_dict(), "action": "revoke", "changed": result.changed}
        record["attempts"] = result.attempts
        log(
            "NOTICE",
            f"pullfix revoked {plan.role} on {plan.resource} from {plan.member}"
            + (f" ({title})" if title else "")
            + ("" if result.changed else " (was not bound)"),
            {"audit": record},
        )
        return result


def log_decision(decision: Decision, audit: dict[str, Any]) -> None:
    """The audit line of a grant not made: `would_grant` (dry run) or `refused`, with why.
    `audit` is the grant's record (role, resource, member, the incident: see
    `Remediator._audit`), the same shape as the line of a grant made."""
    dry_run = decision.action is Action.WOULD_GRANT
    role = audit.get("role") or READER_ROLE
    resource = audit.get("resource") or "the image's repository"
    member = audit.get("member") or "the node account"
    log(
        "NOTICE" if dry_run else "WARNING",
        f"pullfix {'would grant' if dry_run else 'did not grant'} "
        f"{role} on {resource} to {member}: {'; '.join(decision.reasons)}",
        {
            "audit": {
                **audit,
                "action": Action.WOULD_GRANT.value if dry_run else "refused",
                "why_not": list(decision.reasons),
            }
        },
    )
