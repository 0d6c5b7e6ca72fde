"""Grants that wait for a person: the approval request, and the click that decides it.

Where the one decision says grant and the config routes the grant to approval
(`auto_grant.approval: required`, or the repository under `auto_grant.approval_repositories`),
`remediate` writes no IAM: it stores a request in the ledger (the plan, a digest of the
verified evidence, the event to verify again, its expiry, state `pending`) and publishes an
`approval_requested` outcome, which notify renders with Approve and Deny buttons that carry
the request's id and nothing else.

The `approve` function authenticates the click (`pullfix.notify.interactions`), then calls
`Approvals.decide`: the clicking user against the approvers (the config as it stands), the
request live, unexpired and undecided. The decision is a flag set once in the ledger
(`Ledger.set_flag_once`): one user's verdict, whoever clicks first. An approval verifies the
evidence again for the stored event (the world may have changed) and goes through the same
path as any grant (`Remediator._grant`: the grant key claimed once, the granter's `permit`
against the config at the write, the cap, the IAM read-modify-write), so a double click, a
second approver or a redelivery make one grant. A denial is recorded and closes the request.

| request state | meaning |
|---|---|
| `pending` | waits for a click (until `approvable_until`) |
| `pending` + `decision` | a click is deciding it (the same user's click carries on after a crash) |
| `approved` | granted (or found granted) after an approver's click |
| `refused` | approved, but the decision at the write refused (dry run, allow-list, cap, evidence) |
| `denied` | an approver said no |
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pullfix.core.causes import Action
from pullfix.core.classify import Diagnosis, classify
from pullfix.core.imageref import image_or_none
from pullfix.core.intake import PullFailure, format_timestamp, parse_timestamp
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied, GoogleApiError, TransientError
from pullfix.core.policy import Decision, GrantPlan
from pullfix.core.refusals import api_refusal
from pullfix.engine.lifecycle import InProgress, State
from pullfix.ids import fingerprint
from pullfix.logs import log
from pullfix.notify.interactions import APPROVE, DENY, Click

if TYPE_CHECKING:
    from pullfix.engine.remediate import Outcome, Remediator

__all__ = ["Answer", "Approvals", "Click", "request_id", "route_grant"]

# A request is kept this long past its expiry, so that a late click is told it expired.
KEEP_AFTER_EXPIRY = 3600

PENDING, APPROVED, REFUSED, DENIED = "pending", "approved", "refused", "denied"


def request_id(grant_key: str) -> str:
    """The id of the approval request of a grant incident (account and repository)."""
    return fingerprint("approval", grant_key)


def evidence_digest(evidence: dict[str, Any], plan: GrantPlan) -> str:
    """A digest of what the request rests on: the verified evidence and the plan."""
    text = json.dumps({"evidence": evidence, "plan": plan.to_dict()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def event_text(failure: PullFailure) -> str:
    """The event, as the request stores it to verify it again at the click."""
    data = {f.name: getattr(failure, f.name) for f in fields(PullFailure)}
    if failure.timestamp is not None:
        data["timestamp"] = format_timestamp(failure.timestamp)
    return json.dumps(data)


def event_from_text(text: str) -> PullFailure:
    data = json.loads(text)
    stamp = data.get("timestamp")
    data["timestamp"] = parse_timestamp(stamp) if isinstance(stamp, str) else None
    return PullFailure(**data)


def route_grant(
    remediator: Remediator,
    failure: PullFailure,
    diagnosis: Diagnosis,
    evidence: Evidence,
    decision: Decision,
    grant_key: str,
    when: datetime,
    now: datetime,
    approved: GrantPlan | None,
) -> Outcome | None:
    """Where a grant the one decision allows goes instead of IAM, if anywhere: an approval
    request (the config routes it to approval), a refusal (an approved grant whose plan the
    evidence no longer calls for), or None: make the grant."""
    plan = decision.plan
    assert plan is not None
    if approved is not None:
        if plan == approved:
            return None
        refusal = Decision(
            Action.TICKET,
            None,
            (
                f"no grant: the approved grant ({approved.role} on {approved.resource} to "
                f"{approved.member}) is not the one the evidence calls for now ({plan.role} on "
                f"{plan.resource} to {plan.member})",
            ),
        )
        return remediator._ticket(failure, diagnosis, evidence, refusal, when)
    config = remediator.config.auto_grant
    if evidence.repository is None or not config.needs_approval(evidence.repository):
        return None
    key = request_id(grant_key)
    expires = now + timedelta(seconds=config.approval_expires_after)
    ask = Decision(
        Action.APPROVAL_REQUESTED,
        plan,
        (
            "the grant waits for an approver's click in chat (auto_grant.approval); "
            "nothing was changed yet",
        ),
    )
    outcome = remediator._outcome(failure, diagnosis, evidence, ask, grant_key)
    outcome.dry_run = False
    outcome.approval = {
        "id": key,
        "expires_at": format_timestamp(expires),
        "approvers": list(config.approvers),
    }
    record = {
        "state": PENDING,
        "grant_key": grant_key,
        "cause": diagnosis.cause.value,
        "resource": plan.resource,
        "role": plan.role,
        "member": plan.member,
        "evidence_digest": evidence_digest(outcome.evidence, plan),
        "event": event_text(failure),
        "requested_at": format_timestamp(now),
        # Not `expires_at`: the ledger's own field (Firestore's TTL) of that name is the
        # record's, kept an hour longer.
        "approvable_until": format_timestamp(expires),
    }
    # Kept from the event's time (the ledger's clock for this claim) to past the expiry.
    window = int((expires - when).total_seconds()) + KEEP_AFTER_EXPIRY
    claim = remediator.ledger.claim(key, when, window, record)
    if not claim.new:
        found = claim.record
        if "decision" in found or not _expired(found, now):
            return remediator._suppressed(failure, diagnosis.cause, grant_key, _describe(found))
        # Expired undecided: a new request (same id) for the failure that goes on.
        if not remediator.ledger.take_over(
            key, when, window, record, remediator.clock.now().timestamp()
        ).new:
            return remediator._suppressed(failure, diagnosis.cause, grant_key, _describe(found))
    log(
        "NOTICE",
        f"pullfix asks approval to grant {plan.role} on {plan.resource} to {plan.member}",
        {
            "audit": {
                **remediator._audit(failure, diagnosis, plan),
                "action": Action.APPROVAL_REQUESTED.value,
            }
        },
    )
    return outcome


def _expired(record: dict[str, str], now: datetime) -> bool:
    expires = parse_timestamp(record.get("approvable_until") or "")
    return expires is None or expires <= now


def _describe(record: dict[str, str]) -> str:
    """What became of a request, in a sentence (for a suppressed event and for a card)."""
    state = record.get("state") or PENDING
    who, when = record.get("decided_by") or "?", record.get("decided_at") or "?"
    grant = f"{record.get('role')} on {record.get('resource')} to {record.get('member')}"
    if state == APPROVED:
        return f"approved by {who} at {when}: granted {grant}"
    if state == REFUSED:
        return f"approved by {who} at {when}, but not granted: {record.get('result') or '?'}"
    if state == DENIED:
        return f"denied by {who} at {when}: {grant} was not granted"
    if record.get("decision"):
        verdict, _, by = record["decision"].partition(":")
        return f"being {'approved' if verdict == APPROVE else 'denied'} by {by}"
    return f"waiting for an approver until {record.get('approvable_until')}: grant {grant}"


@dataclass
class Answer:
    """What a click came to: the HTTP status, a sentence for the card, and the request as
    it stands (None: no such request)."""

    status: int
    text: str
    request: dict[str, str] | None = None
    done: bool = False  # the request is decided (the card loses its buttons)


class Approvals:
    """Decides approval requests with the remediator's ledger, evidence and grant path."""

    def __init__(
        self, remediator: Remediator, groups: Callable[[str, str], bool] | None = None
    ) -> None:
        self.remediator = remediator
        # (group email, member email) -> membership, as Cloud Identity answers it; by default
        # the remediator's Google adapter's.
        self.groups = groups or getattr(remediator.apis, "group_has_member", None)

    def _refusal(self, click: Click) -> Answer | None:
        """403 unless the user is an approver: named in `auto_grant.approvers`, or a member
        of a group named there (`group:EMAIL`), checked now. A membership that cannot be
        checked (denied, failed) refuses the click: fail closed."""
        auto = self.remediator.config.auto_grant
        if auto.is_approver(click.user):
            return None
        context = {"request": click.request, "user": click.user, "verdict": "none"}
        if not click.user.startswith("slack:"):
            for group in auto.approver_groups:
                try:
                    if self.groups is None:
                        raise AccessDenied("no Cloud Identity client to ask")
                    if self.groups(group, click.user):
                        return None
                except (AccessDenied, TransientError, GoogleApiError) as exc:
                    reason = str(exc).split("\n", 1)[0][:300]
                    log(
                        "WARNING",
                        f"pullfix approve: the membership of {click.user} in {group} could "
                        f"not be checked, so the click is refused: {reason}",
                        {"approval": {**context, "group": group}},
                    )
                    return Answer(
                        403,
                        f"{click.user}'s membership in the approvers' group {group} could not "
                        f"be checked ({reason}): the click is refused",
                    )
        log("WARNING", f"pullfix approve: {click.user} is not an approver", {"approval": context})
        return Answer(403, f"{click.user} is not an approver of pullfix's grants")

    def decide(self, click: Click, now: datetime) -> Answer:
        """Approve or deny one request, once. 403 for a user who is not an approver."""
        remediator = self.remediator
        refused = self._refusal(click)
        if refused is not None:
            return refused
        ledger = remediator.ledger
        record = ledger.get(click.request, now)
        if record is None:
            return Answer(200, "no such request: it expired long ago, or never existed", done=True)
        if record.get("decided_at"):
            return Answer(200, f"already {_describe(record)}", record, done=True)
        mine = f"{click.verdict}:{click.user}"
        flagged = record.get("decision")
        if flagged is None and _expired(record, now):
            return Answer(
                200,
                f"expired at {record.get('approvable_until')}: nothing was granted",
                record,
                done=True,
            )
        taken = flagged == mine or (
            flagged is None and ledger.set_flag_once(click.request, "decision", now, mine)
        )
        if not taken:
            found = ledger.get(click.request, now) or record
            return Answer(
                200, f"already {_describe(found)}", found, done=bool(found.get("decided_at"))
            )
        decided = {"decided_by": click.user, "decided_at": format_timestamp(now)}
        if click.verdict == DENY:
            ledger.update(click.request, {**decided, "state": DENIED})
            final = {**record, **decided, "state": DENIED}
            log(
                "NOTICE",
                f"pullfix approval denied by {click.user}: {record.get('role')} on "
                f"{record.get('resource')} to {record.get('member')}",
                {"audit": {"action": "approval_denied", "request": click.request, **decided}},
            )
            return Answer(200, _describe(final), final, done=True)
        return self._approve(click, record, decided, now)

    def _approve(
        self, click: Click, record: dict[str, str], decided: dict[str, str], now: datetime
    ) -> Answer:
        remediator = self.remediator
        plan = GrantPlan(record["resource"], record["role"], record["member"])
        failure = event_from_text(record["event"])
        try:
            outcome = self._reconsider(failure, plan, now)
        except InProgress:
            return Answer(200, "being granted by an earlier click: look again in a minute", record)
        if outcome.action is Action.SUPPRESSED and not outcome.settled:
            return Answer(200, "being granted by an earlier click: look again in a minute", record)
        published = outcome.to_dict()
        digest = evidence_digest(published.get("evidence") or {}, plan)
        checked = (
            "the evidence is as it was at the request"
            if digest == record.get("evidence_digest")
            else "the evidence changed since the request; the grant was decided on it as it is now"
        )
        published["reasons"] = [*published["reasons"], f"approved in chat by {click.user}", checked]
        held = remediator.ledger.get(record["grant_key"], now) or {}
        granted = outcome.action is Action.GRANT or (
            outcome.action is Action.SUPPRESSED and held.get("state") == State.GRANTED.value
        )
        state = APPROVED if granted else REFUSED
        result = "; ".join(outcome.reasons)
        if outcome.action is not Action.SUPPRESSED:
            text = json.dumps(published)
            grant_key = outcome.fingerprint if outcome.action is Action.GRANT else None
            # The outcome stored with the request first (outbox), then published; the grant's
            # record becomes `granted` as any grant's does.
            remediator.ledger.update(click.request, {"outcome": text})
            remediator._finish(click.request, published, text, grant_key)
        final = {**decided, "state": state, "result": result}
        remediator.ledger.update(click.request, final)
        log(
            "NOTICE",
            f"pullfix approval by {click.user}: {plan.role} on {plan.resource} to "
            f"{plan.member}: {state}",
            {"audit": {"action": f"approval_{state}", "request": click.request, **final}},
        )
        merged = {**record, **final}
        return Answer(200, _describe(merged), merged, done=True)

    def _reconsider(self, failure: PullFailure, plan: GrantPlan, now: datetime) -> Outcome:
        """The event's evidence gathered again, as `remediate` gathers it, and the decision
        made again, with the approved plan: the grant path if it still holds."""
        remediator = self.remediator
        offline = classify(failure)
        image = image_or_none(failure.image)
        evidence = Evidence(image=image)
        try:
            remediator.collector.verify(
                failure.project,
                failure.location,
                failure.cluster,
                failure.node,
                evidence,
                log_project=failure.log_project,
            )
        except (AccessDenied, GoogleApiError) as exc:
            refusal = api_refusal(exc)
            if refusal is None:
                raise
            evidence.unverified = refusal.describe()
        try:
            return remediator._remediate(failure, offline, image, evidence, now, now, approved=plan)
        except (AccessDenied, GoogleApiError) as exc:
            refusal = api_refusal(exc)
            if refusal is None:
                raise
            return remediator._refused_by_api(failure, offline, evidence, refusal, now)
