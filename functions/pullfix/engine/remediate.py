"""The remediation engine: from a verified pull failure to a grant or a ticket, once.

parse → dedupe → verify & gather evidence → judge → decide (guardrails) → act → publish.
Each incident is claimed in the ledger before any Google call; a duplicate costs nothing
but the ledger. A transient failure releases the claim and raises, so that Pub/Sub's
redelivery starts clean; once acted on, the outcome is kept in the ledger until it is
published, so a redelivery publishes it instead of acting twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pullfix.core.causes import GRANT_FIXABLE, Action, Cause
from pullfix.core.classify import Diagnosis, classify
from pullfix.core.config import Config
from pullfix.core.imageref import ImageRef, InvalidReference, parse_image
from pullfix.core.intake import PullFailure, format_timestamp
from pullfix.core.judge import IAM_CAUSES, Evidence, judge
from pullfix.core.model import GoogleApis
from pullfix.core.outcome import OUTCOME_SCHEMA
from pullfix.core.policy import Decision, GrantPlan, decide
from pullfix.core.remediation import Context, ticket_draft
from pullfix.engine.evidence import EvidenceCollector, grant_may_fix
from pullfix.engine.ledger import Ledger
from pullfix.logs import log

__all__ = ["Outcome", "OutcomePublisher", "Remediator", "fingerprint"]

# A claim still "pending" after this long belongs to an invocation that died.
STALE_CLAIM_SECONDS = 600


class OutcomePublisher(Protocol):
    def publish(self, outcome: dict[str, Any]) -> None: ...


def fingerprint(kind: str, *parts: str | None) -> str:
    """A stable incident id: `kind-` and 32 hex digits of the parts' hash."""
    text = "\x1f".join(part or "" for part in parts)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


@dataclass
class Outcome:
    """What pullfix concluded and did about one event."""

    event: dict[str, Any]
    cause: Cause
    action: Action
    reasons: tuple[str, ...]
    fingerprint: str
    grant: GrantPlan | None = None
    ticket: dict[str, Any] | None = None
    dry_run: bool = False
    escalation: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)
    remediation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": OUTCOME_SCHEMA,
            "event": self.event,
            "cause": self.cause.value,
            "action": self.action.value,
            "grant": self.grant.to_dict() if self.grant else None,
            "ticket": self.ticket,
            "reasons": list(self.reasons),
            "fingerprint": self.fingerprint,
            "dry_run": self.dry_run,
            "escalation": self.escalation,
            "evidence": self.evidence,
            "remediation": self.remediation,
        }


def event_summary(failure: PullFailure) -> dict[str, Any]:
    """The event reference every outcome carries."""
    return {
        "message_id": failure.message_id,
        "insert_id": failure.insert_id,
        "timestamp": format_timestamp(failure.timestamp) if failure.timestamp else None,
        "cluster": failure.cluster_resource,
        "namespace": failure.namespace,
        "workload": failure.workload,
        "pod": failure.pod,
        "container": failure.container,
        "node": failure.node,
        "image": failure.image,
        "kubelet_reason": failure.reason or None,
    }


class Remediator:
    """One per instance; `handle` is thread-safe (the ledger and adapters are)."""

    def __init__(
        self,
        config: Config,
        apis: GoogleApis,
        ledger: Ledger,
        publisher: OutcomePublisher | None = None,
    ) -> None:
        self.config = config
        self.apis = apis
        self.ledger = ledger
        self.publisher = publisher
        self.collector = EvidenceCollector(apis)

    # -- the incident lifecycle -------------------------------------------------------------

    def handle(self, failure: PullFailure, now: datetime) -> Outcome:
        """Remediate one pull failure as of `now` (event time in replay, wall clock live)."""
        offline = classify(failure)
        when = failure.timestamp or now
        image = _image(failure.image)
        event_key = fingerprint(
            "event", failure.cluster_resource, failure.workload, failure.image, offline.cause.value
        )
        claim = self.ledger.claim(
            event_key,
            when,
            self.config.dedupe_window,
            {
                "state": "pending",
                "message_id": failure.message_id or "",
                "claimed_at": str(time.time()),
            },
        )
        if not claim.new:
            resumed = self._resume(event_key, claim.record, failure, when)
            if resumed is not None:
                return resumed
            return self._duplicate(failure, offline, claim.record, when, event_key)
        try:
            outcome = self._remediate(failure, offline, image, when, now)
        except BaseException:
            self.ledger.release(event_key)
            raise
        record = {
            "state": "acted",
            "cause": outcome.cause.value,
            "fingerprint": outcome.fingerprint,
        }
        if outcome.grant is not None:
            record["grant_key"] = outcome.fingerprint
        if outcome.action is Action.SUPPRESSED:
            self.ledger.update(event_key, {**record, "state": "done"})
            return outcome
        published = outcome.to_dict()
        record["outcome"] = json.dumps(published)
        self.ledger.update(event_key, record)
        self._publish(published)
        self.ledger.update(event_key, {"state": "done"})
        return outcome

    def _resume(
        self, key: str, record: dict[str, str], failure: PullFailure, when: datetime
    ) -> Outcome | None:
        """A redelivery of work that stopped half-way: finish it instead of skipping it."""
        state = record.get("state")
        stale = time.time() - float(record.get("claimed_at") or 0) > STALE_CLAIM_SECONDS
        same_message = bool(failure.message_id) and record.get("message_id") == failure.message_id
        if state == "acted" and record.get("outcome") and (same_message or stale):
            stored = json.loads(record["outcome"])
            self._publish(stored)
            self.ledger.update(key, {"state": "done"})
            return _outcome_from_dict(stored)
        if state == "pending" and stale:
            self.ledger.release(key)
            return self.handle(failure, when)
        return None

    def _duplicate(
        self,
        failure: PullFailure,
        offline: Diagnosis,
        record: dict[str, str],
        when: datetime,
        event_key: str,
    ) -> Outcome:
        grant_key = record.get("grant_key")
        if grant_key:
            escalation = self._escalation(failure, grant_key, when)
            if escalation is not None:
                return escalation
        cause = Cause(record["cause"]) if record.get("cause") else offline.cause
        key = record.get("fingerprint") or event_key
        return self._suppressed(
            failure,
            cause,
            key,
            f"duplicate of incident {key} within the {self.config.dedupe_window}s dedupe window",
        )

    def _escalation(self, failure: PullFailure, grant_key: str, when: datetime) -> Outcome | None:
        """One ticket when pulls still fail past the grace period after a grant."""
        granted = self.ledger.get(grant_key, when)
        if not granted or not granted.get("granted_at"):
            return None
        granted_at = datetime.fromisoformat(granted["granted_at"])
        if (when - granted_at).total_seconds() < self.config.escalation_grace:
            return None
        if not self.ledger.set_flag_once(grant_key, "escalated", when):
            return None
        cause = Cause(granted.get("cause") or Cause.ROLE.value)
        plan = GrantPlan(granted["resource"], granted["role"], granted["member"])
        reasons = (
            f"pulls still fail {int((when - granted_at).total_seconds())}s after pullfix granted "
            f"{plan.role} on {plan.resource} to {plan.member} (grace "
            f"{self.config.escalation_grace}s)",
            "something besides the missing role blocks the pull",
        )
        outcome = self._outcome(
            failure,
            Diagnosis(cause, reasons),
            Evidence(image=_image(failure.image)),
            Decision(Action.TICKET, None, ()),
            grant_key,
            escalation=True,
        )
        outcome.grant = plan
        log(
            "WARNING",
            f"pullfix: grant {grant_key} did not fix {failure.image}",
            {"outcome": outcome.to_dict()},
        )
        self._publish(outcome.to_dict())
        return outcome

    # -- evidence, decision, action ---------------------------------------------------------

    def _remediate(
        self,
        failure: PullFailure,
        offline: Diagnosis,
        image: ImageRef | None,
        when: datetime,
        now: datetime,
    ) -> Outcome:
        evidence = Evidence(image=image)
        self.collector.verify(
            failure.project, failure.location, failure.cluster, failure.node, evidence
        )
        iam_path = (
            evidence.unverified is None
            and offline.cause in IAM_CAUSES
            and image is not None
            and image.ar_repository is not None
        )
        grant_key = None
        if iam_path:
            assert image is not None
            evidence.repository = image.ar_repository
            self.collector.identity(evidence)
            if grant_may_fix(evidence):
                grant_key = fingerprint("grant", evidence.account_email, evidence.repository)
                self.collector.existence(evidence, image)
                missing = evidence.image_missing
                # After a grant, failures of images that exist are the same incident
                # (IAM takes minutes to propagate); a missing image is a new one.
                granted = None if missing else self.ledger.get(grant_key, when)
                if granted is not None:
                    escalation = self._escalation(failure, grant_key, when)
                    if escalation is not None:
                        return escalation
                    return self._already_granted(failure, grant_key, granted)
                if not missing:
                    self.collector.access(evidence)
        diagnosis = judge(offline, evidence)
        decision = decide(diagnosis, evidence, self.config)
        key = (
            grant_key
            if diagnosis.cause in GRANT_FIXABLE and grant_key
            else fingerprint(
                "ticket",
                failure.cluster_resource,
                failure.workload,
                failure.image,
                diagnosis.cause.value,
            )
        )
        if decision.action is Action.GRANT:
            return self._grant(failure, diagnosis, evidence, decision, key, when, now)
        if decision.action is Action.TICKET:
            self._audit_refusal(failure, diagnosis, evidence, decision)
            claim = self.ledger.claim(
                key, when, self.config.dedupe_window, {"cause": diagnosis.cause.value}
            )
            if not claim.new:
                return self._suppressed(
                    failure, diagnosis.cause, key, f"a ticket for incident {key} is already open"
                )
        if decision.action is Action.WOULD_GRANT:
            assert decision.plan is not None
            log(
                "NOTICE",
                f"pullfix would grant {decision.plan.role} on {decision.plan.resource} "
                f"to {decision.plan.member} (dry run)",
                {"audit": self._audit(failure, diagnosis, decision.plan, "would_grant")},
            )
        return self._outcome(failure, diagnosis, evidence, decision, key)

    def _grant(
        self,
        failure: PullFailure,
        diagnosis: Diagnosis,
        evidence: Evidence,
        decision: Decision,
        key: str,
        when: datetime,
        now: datetime,
    ) -> Outcome:
        plan = decision.plan
        assert plan is not None
        claim = self.ledger.claim(
            key,
            when,
            self.config.dedupe_window,
            {
                "state": "granting",
                "cause": diagnosis.cause.value,
                "resource": plan.resource,
                "role": plan.role,
                "member": plan.member,
            },
        )
        if not claim.new:
            return self._already_granted(failure, key, claim.record)
        if not self.ledger.take_grant_slot(now, self.config.auto_grant.max_per_hour):
            self.ledger.release(key)
            capped = Decision(
                Action.TICKET,
                None,
                (
                    f"no grant: the cap of {self.config.auto_grant.max_per_hour} grants per hour "
                    "is reached",
                ),
            )
            self._audit_refusal(failure, diagnosis, evidence, capped)
            return self._outcome(failure, diagnosis, evidence, capped, key)
        first = evidence.repository_policy if plan.resource == evidence.repository else None
        try:
            result = self.apis.add_member(plan.resource, plan.role, plan.member, first=first)
        except BaseException:
            self.ledger.release(key)
            raise
        self.ledger.update(key, {"state": "granted", "granted_at": when.isoformat()})
        audit = self._audit(failure, diagnosis, plan, "grant")
        audit["changed"], audit["attempts"] = result.changed, result.attempts
        log(
            "NOTICE",
            f"pullfix granted {plan.role} on {plan.resource} to {plan.member}"
            + ("" if result.changed else " (already bound)"),
            {"audit": audit},
        )
        reasons = decision.reasons
        if not result.changed:
            reasons = (*reasons, "the binding was already there: nothing was written")
        return self._outcome(
            failure, diagnosis, evidence, Decision(Action.GRANT, plan, reasons), key
        )

    def _already_granted(self, failure: PullFailure, key: str, record: dict[str, str]) -> Outcome:
        return self._suppressed(
            failure,
            Cause(record.get("cause") or Cause.ROLE.value),
            key,
            f"already fixed: pullfix granted {record.get('role')} on {record.get('resource')} "
            f"to {record.get('member')} at {record.get('granted_at') or 'just now'}",
        )

    def _suppressed(self, failure: PullFailure, cause: Cause, key: str, reason: str) -> Outcome:
        """An incident already handled: logged by the caller, never published."""
        return Outcome(
            event=event_summary(failure),
            cause=cause,
            action=Action.SUPPRESSED,
            reasons=(reason,),
            fingerprint=key,
            dry_run=self.config.dry_run,
        )

    # -- outcomes and audit -----------------------------------------------------------------

    def _outcome(
        self,
        failure: PullFailure,
        diagnosis: Diagnosis,
        evidence: Evidence,
        decision: Decision,
        key: str,
        *,
        escalation: bool = False,
    ) -> Outcome:
        pool = evidence.pool
        context = Context(
            cause=diagnosis.cause,
            project=failure.project,
            location=failure.location,
            cluster=failure.cluster,
            namespace=failure.namespace,
            workload=failure.workload,
            node=failure.node,
            image=failure.image,
            repository=evidence.repository,
            node_pool=pool.name if pool else None,
            account=evidence.account_email,
            node_version=pool.version if pool else None,
            google_image=evidence.image is not None and evidence.image.ar_repository is not None,
            grant=decision.plan.to_dict() if decision.plan else None,
            dry_run=self.config.dry_run,
            escalation=escalation,
        )
        draft = ticket_draft(context)
        draft["fingerprint"] = key
        is_ticket = decision.action is Action.TICKET or escalation
        return Outcome(
            event=event_summary(failure),
            cause=diagnosis.cause,
            action=decision.action,
            reasons=(*diagnosis.reasons, *decision.reasons),
            fingerprint=key,
            grant=decision.plan,
            ticket=draft if is_ticket else None,
            dry_run=self.config.dry_run,
            escalation=escalation,
            remediation=draft,
            evidence={
                "node_pool": pool.name if pool else None,
                "service_account": evidence.account_email,
                "repository": evidence.repository,
                "node_version": pool.version if pool else None,
                "master_version": evidence.cluster.master_version if evidence.cluster else None,
                "oauth_scopes": list(pool.oauth_scopes) if pool else None,
            },
        )

    def _audit(
        self, failure: PullFailure, diagnosis: Diagnosis, plan: GrantPlan, action: str
    ) -> dict[str, Any]:
        return {
            "action": action,
            "role": plan.role,
            "resource": plan.resource,
            "member": plan.member,
            "cause": diagnosis.cause.value,
            "why": list(diagnosis.reasons),
            "cluster": failure.cluster_resource,
            "node": failure.node,
            "workload": failure.workload,
            "namespace": failure.namespace,
            "image": failure.image,
            "event_insert_id": failure.insert_id,
            "pubsub_message_id": failure.message_id,
            "dry_run": self.config.dry_run,
        }

    def _audit_refusal(
        self, failure: PullFailure, diagnosis: Diagnosis, evidence: Evidence, decision: Decision
    ) -> None:
        if diagnosis.cause not in GRANT_FIXABLE:
            return
        log(
            "WARNING",
            f"pullfix refused to grant for {failure.image}: "
            f"{'; '.join(decision.reasons) or diagnosis.cause.value}",
            {
                "audit": {
                    "action": "refused",
                    "cause": diagnosis.cause.value,
                    "why": list(decision.reasons),
                    "repository": evidence.repository,
                    "member": f"serviceAccount:{evidence.account_email}"
                    if evidence.account_email
                    else None,
                    "cluster": failure.cluster_resource,
                    "image": failure.image,
                }
            },
        )

    def _publish(self, outcome: dict[str, Any]) -> None:
        if self.publisher is not None:
            self.publisher.publish(outcome)


def _image(text: str | None) -> ImageRef | None:
    if text is None:
        return None
    try:
        return parse_image(text)
    except InvalidReference:
        return None


def _outcome_from_dict(data: dict[str, Any]) -> Outcome:
    grant = data.get("grant")
    return Outcome(
        event=data["event"],
        cause=Cause(data["cause"]),
        action=Action(data["action"]),
        reasons=tuple(data["reasons"]),
        fingerprint=data["fingerprint"],
        grant=GrantPlan(**grant) if grant else None,
        ticket=data.get("ticket"),
        dry_run=data.get("dry_run", False),
        escalation=data.get("escalation", False),
        evidence=data.get("evidence", {}),
        remediation=data.get("remediation"),
    )
