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
from pullfix.core.model import AccessDenied, GoogleApiError, GrantResult, PolicyView
from pullfix.core.policy import Decision, GrantFacts, GrantPlan, permit
from pullfix.core.refusals import ApiRefusal
from pullfix.logs import log

__all__ = ["GrantAttempt", "Granter", "IamWriter", "api_refusal"]


class IamWriter(Protocol):
    def add_member(
        self, resource: str, role: str, member: str, first: PolicyView | None = None
    ) -> GrantResult: ...


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


def api_refusal(exc: BaseException) -> ApiRefusal | None:
    """`exc` as a permanent answer of a Google API about the world, or None (a transient
    failure, a ledger's own error, a bug: those raise as they are)."""
    if isinstance(exc, AccessDenied) and exc.call and not exc.call.startswith("ledger "):
        return ApiRefusal(exc.call, 403, "PERMISSION_DENIED", exc.answer, exc.needs)
    if (
        isinstance(exc, GoogleApiError)
        and exc.call
        and not exc.call.startswith("ledger ")
        and exc.code < 500
        and exc.code != 429
    ):
        return ApiRefusal(exc.call, exc.code, exc.status, exc.message, exc.needs)
    return None


class Granter:
    """Holds the IAM writer; `config` is read at each grant, so the grant follows the
    config as it stands then, not as it stood when the incident began."""

    def __init__(self, writer: IamWriter, cap: CapCounter, config: Callable[[], Config]) -> None:
        self._writer = writer
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
    ) -> GrantAttempt:
        """Decide, count, write, audit. Fills and returns `attempt` (the caller's, so that
        it knows whether IAM was reached when the write raises)."""
        config = self._config()
        attempt.audit = audit
        decision = permit(plan, facts, config)
        if (
            decision.action is Action.GRANT
            and self.confirmed is not None
            and plan not in self.confirmed
        ):
            decision = Decision(
                Action.TICKET, None, ("no grant: not among the grants confirmed at the prompt",)
            )
        if decision.action is not Action.GRANT:
            attempt.decision = decision
            self._log_refusal(plan, decision, audit)
            return attempt
        limit = config.auto_grant.max_per_hour
        if not self._cap.take_grant_slot(now, limit):
            attempt.decision = Decision(
                Action.TICKET,
                None,
                (f"no grant: the cap of {limit} grants per hour is reached",),
            )
            self._log_refusal(plan, attempt.decision, audit)
            return attempt
        attempt.reached_iam = True
        try:
            result = self._writer.add_member(plan.resource, plan.role, plan.member, first=first)
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
            self._log_refusal(plan, attempt.decision, audit)
            return attempt
        attempt.decision, attempt.result = decision, result
        record = {**audit, "action": "grant", "changed": result.changed}
        record["attempts"] = result.attempts
        log(
            "NOTICE",
            f"pullfix granted {plan.role} on {plan.resource} to {plan.member}"
            + ("" if result.changed else " (already bound)"),
            {"audit": record},
        )
        return attempt

    @staticmethod
    def _log_refusal(plan: GrantPlan, decision: Decision, audit: dict[str, Any]) -> None:
        action = "would_grant" if decision.action is Action.WOULD_GRANT else "refused"
        log(
            "NOTICE" if action == "would_grant" else "WARNING",
            f"pullfix {'would grant' if action == 'would_grant' else 'did not grant'} "
            f"{plan.role} on {plan.resource} to {plan.member}: {'; '.join(decision.reasons)}",
            {"audit": {**audit, "action": action, "why_not": list(decision.reasons)}},
        )
