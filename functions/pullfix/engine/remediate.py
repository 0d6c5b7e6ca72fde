"""The remediation engine: from a verified pull failure to a grant or a ticket, once.

parse → verify → dedupe → gather evidence → judge → decide (guardrails) → act → publish.
What an event can forge (cluster, node pool, account) is verified before anything is claimed
in its name, and the incident keys are built from the verified facts. Claims are leases
(`pullfix.engine.lifecycle` holds the table of what a delivery does with the record it
finds): a crash leaves a lease that expires, and the next delivery takes the work over; a
redelivery of work still under way answers non-2xx. IAM is the source of truth for a grant:
a taken-over grant re-reads the policy and finishes. The outcome is stored with the state
change and published after it (outbox), so a redelivery publishes it instead of acting twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime
from typing import Any, Protocol

from pullfix.checks import VERIFICATION, gather, grant_may_fix, judge, run_checks
from pullfix.checks.existence import CHECK as EXISTENCE
from pullfix.checks.identity import CHECK as IDENTITY
from pullfix.checks.network import gaps as network_gaps
from pullfix.checks.network import network_failure
from pullfix.clock import SYSTEM, Clock
from pullfix.core.causes import GRANT_FIXABLE, Action, Cause
from pullfix.core.classify import Diagnosis, classify, gives_no_reason
from pullfix.core.config import Config
from pullfix.core.imageref import ImageRef, image_or_none
from pullfix.core.intake import PullFailure, format_timestamp
from pullfix.core.judge import IAM_CAUSES, EventClaims, Evidence
from pullfix.core.model import (
    READER_ROLE,
    AccessDenied,
    AccessState,
    GoogleApiError,
    GoogleApis,
)
from pullfix.core.outcome import Outcome, outcome_from_dict
from pullfix.core.policy import Decision, GrantPlan, decide, grant_facts
from pullfix.core.refusals import ApiRefusal, api_refusal
from pullfix.core.remediation import Context, ticket_draft
from pullfix.core.vpcsc import unique_id as vpc_sc_unique_id
from pullfix.engine import escalation
from pullfix.engine.evidence import EvidenceCollector
from pullfix.engine.granter import GrantAttempt, Granter, log_decision
from pullfix.engine.incidents import incident_from_outcome
from pullfix.engine.ledger import Ledger
from pullfix.engine.lifecycle import (
    DEFAULT_LEASE,
    InProgress,
    State,
    Step,
    lease_fields,
    next_step,
)
from pullfix.ids import fingerprint
from pullfix.logs import log

__all__ = [
    "InProgress",
    "Outcome",
    "OutcomePublisher",
    "Remediator",
    "fingerprint",
    "ticket_key",
]

# A grant key in these states is a known grant incident: granted, or a grant under way.
_GRANT_UNDER_WAY = frozenset({State.GRANTED.value, State.GRANTING.value})


class OutcomePublisher(Protocol):
    def publish(self, outcome: dict[str, Any]) -> None: ...


def grant_policy(config: Config) -> str:
    """The settings a grant decision rests on (dry run and `auto_grant`), as a short tag in
    the event key: an event judged under other settings is judged again, once, so a refusal
    or a dry run never blocks the grant a changed config allows (tickets, grants and dry-run
    reports keep keys of their own, so nothing is told twice)."""
    text = repr((config.dry_run, config.auto_grant))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def verified_pool(evidence: Evidence) -> str:
    """The failing node pool and its account as the APIs confirmed them, or `unverified`:
    part of every key an event claims, so that a forged event naming another pool's node
    never claims (or blocks) the real pool's incident."""
    if evidence.unverified is None and evidence.pool is not None:
        return f"{evidence.pool.name}/{evidence.pool.service_account}"
    return "unverified"


def ticket_key(failure: PullFailure, cause: Cause, pool: str) -> str:
    """A ticket incident: the cluster, the namespace and workload (the same Deployment name
    in two namespaces is two teams' incident), the image, the final cause and the verified
    pool (`verified_pool`)."""
    return fingerprint(
        "ticket",
        failure.cluster_resource,
        failure.namespace,
        failure.incident_workload,
        failure.image,
        cause.value,
        pool,
    )


def reason_key(failure: PullFailure, pool: str) -> str:
    """Which ticket the event that gave the reason opened for a workload's image on a
    verified pool (`verified_pool`): kubelet's back-offs, which give none, join it."""
    return fingerprint(
        "reason",
        failure.cluster_resource,
        failure.namespace,
        failure.incident_workload,
        failure.image,
        pool,
    )


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
        lease: int = DEFAULT_LEASE,
        clock: Clock = SYSTEM,
    ) -> None:
        self.config = config
        self.apis = apis
        self.ledger = ledger
        self.publisher = publisher
        # Events read long after they happened (`pullfix scan`): grace periods they began
        # are judged as of now, not of the events' own time.
        self.after_the_fact = False
        self.lease = lease
        self.clock = clock  # leases run on its wall clock, backoffs on its monotonic one
        self.collector = EvidenceCollector(apis, clock)
        # The only holder of the IAM write; it reads `self.config` at each grant.
        self.granter = Granter(apis, ledger, lambda: self.config)

    # -- the incident lifecycle -------------------------------------------------------------

    def handle(self, failure: PullFailure, now: datetime, *, applying: bool = False) -> Outcome:
        """Remediate one pull failure as of `now` (event time in replay, wall clock live).

        `applying`: `pullfix scan --apply` acting on an old event now, after an operator
        confirmed the plan: the event is judged as of now, under a key of its own (the
        function may have ticketed the same event already), through the same grant path.
        """
        offline = classify(failure)
        when = now if applying else failure.timestamp or now
        if failure.image is None and offline.cause is Cause.UNKNOWN:
            # `Error: ErrImagePull` / `Error: ImagePullBackOff`: kubelet's follow-ups of the
            # `Failed to pull image "X": …` event, which names the image and the reason.
            return self._suppressed(
                failure,
                offline.cause,
                fingerprint(
                    "event",
                    failure.cluster_resource,
                    failure.namespace,
                    failure.workload,
                    failure.pod,
                ),
                "a follow-up event of the pod's failed pull; the event naming the image "
                "carries the reason",
            )
        image = image_or_none(failure.image)
        evidence = Evidence(
            image=image,
            claims=EventClaims(
                failure.project,
                failure.location,
                failure.cluster,
                failure.node,
                failure.log_project,
            ),
        )
        # Verify before dedupe: a forged event must not claim (and so block) a real incident.
        try:
            gather(self.collector, evidence, (VERIFICATION,))
        except (AccessDenied, GoogleApiError) as exc:
            refusal = api_refusal(exc)
            if refusal is None:
                raise
            # GKE or Compute said no for good: what the event names stays unverified (a
            # ticket, never a grant), not a delivery retried until it is dead-lettered.
            evidence.unverified = refusal.describe()
        verified = verified_pool(evidence)
        if verified == "unverified":
            verified = f"unverified/{failure.node or ''}"
        event_key = fingerprint(
            "applied" if applying else "event",
            failure.cluster_resource,
            failure.namespace,
            failure.incident_workload,
            failure.image,
            offline.cause.value,
            verified,
            grant_policy(self.config),
        )
        step, found = self._hold(event_key, failure, when, "incident")
        if step is Step.SUPPRESS:
            return self._duplicate(failure, offline, found, when, event_key)
        if step is Step.PUBLISH:
            text = found["outcome"]
            return self._finish(event_key, json.loads(text), text, found.get("grant_key"))
        try:
            outcome = self._remediate(failure, offline, image, evidence, when, now)
        except BaseException as exc:
            refusal = api_refusal(exc)
            if refusal is None:
                # Give the incident back; if even that fails, the lease runs out by itself.
                with contextlib.suppress(Exception):
                    self.ledger.release(event_key)
                raise
            # A Google API's permanent answer: another delivery would meet it again.
            outcome = self._refused_by_api(failure, offline, evidence, refusal, when)
        if outcome.escalation:
            # Stored and published under the escalation's own key (see `_escalation`).
            self.ledger.update(
                event_key,
                {
                    "state": State.DONE.value,
                    "cause": outcome.cause.value,
                    "fingerprint": outcome.fingerprint,
                },
            )
            return outcome
        record = {
            "state": State.ACTED.value,
            "cause": outcome.cause.value,
            "fingerprint": outcome.fingerprint,
        }
        grant_key = outcome.fingerprint if outcome.action is Action.GRANT else None
        if grant_key:
            record["grant_key"] = grant_key
        if outcome.action is Action.SUPPRESSED:
            if outcome.settled:
                self.ledger.update(event_key, {**record, "state": State.DONE.value})
            else:
                self.ledger.release(event_key)
            return outcome
        published = outcome.to_dict()
        record["outcome"] = text = json.dumps(published)
        self.ledger.update(event_key, record)
        self._finish(event_key, published, text, grant_key)
        return outcome

    def _hold(
        self, key: str, failure: PullFailure, when: datetime, what: str
    ) -> tuple[Step, dict[str, str]]:
        """Claim the work of `key` for this delivery, as the lifecycle table says: TAKE (it
        is this delivery's to do), SUPPRESS (handled, or being handled by another message;
        with the record found) or PUBLISH (done, its stored outcome not yet published; taken
        over, with the record). InProgress when this message's own work is under way."""
        wall = self.clock.now().timestamp()
        mine = lease_fields(State.WORKING, failure.message_id, wall, self.lease)
        claim = self.ledger.claim(key, when, self.config.dedupe_window, mine)
        if claim.new:
            return Step.TAKE, claim.record
        step = next_step(claim.record, failure.message_id, wall)
        if step is Step.RETRY:
            raise InProgress(f"{what} {key} is being handled by this message already")
        if step is Step.SUPPRESS:
            return step, claim.record
        held = {**claim.record, **mine} if step is Step.PUBLISH else mine
        if not self.ledger.take_over(key, when, self.config.dedupe_window, held, wall).new:
            raise InProgress(f"{what} {key} was just taken over by another delivery")
        return step, claim.record

    def _finish(
        self, event_key: str, outcome: dict[str, Any], text: str, grant_key: str | None
    ) -> Outcome:
        """Keep the incident open for verification, publish a stored outcome (`text`, its
        JSON as the ledger holds it), then mark its records done (outbox: safe to run
        twice)."""
        incident = incident_from_outcome(outcome)
        if incident is not None:
            self.ledger.open_incident(
                incident.fingerprint,
                {"outcome": text},
                escalation.kept_until(self.config, incident.acted_at),
            )
        self._publish(outcome)
        # The grant's record first: were the event's `done` written first and this write
        # lost, the next event of the incident would find the grant still `granting` and
        # finish it again (a second outcome); this way a lost `done` only republishes the
        # same outcome, which notify knows by its fingerprint.
        if grant_key:
            self.ledger.update(grant_key, {"state": State.GRANTED.value})
        self.ledger.update(event_key, {"state": State.DONE.value})
        return outcome_from_dict(outcome)

    def _granted_at(self, when: datetime, now: datetime) -> datetime:
        """When a grant's escalation grace begins: at its event's time, as every later
        event is judged on event time (and replay judges all of them so), unless the event
        is older than the grace itself at the grant (a backlog, or `pullfix scan`): then at
        the grant, or the backlog's next failures would escalate a grant just made."""
        if (now - when).total_seconds() >= self.config.escalation_grace:
            return max(when, now)
        return when

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
            escalated = self._escalation(failure, grant_key, when)
            if escalated is not None:
                return escalated
        cause = Cause(record["cause"]) if record.get("cause") else offline.cause
        key = record.get("fingerprint") or event_key
        return self._suppressed(
            failure,
            cause,
            key,
            f"duplicate of incident {key} within the {self.config.dedupe_window}s dedupe window",
        )

    def _escalation(self, failure: PullFailure, grant_key: str, when: datetime) -> Outcome | None:
        """One ticket when pulls still fail past the grace period after a grant.

        The escalation is work of its own, under its own key (the grant's, and when it was
        made: a later grant of the same incident can escalate again) and the same lifecycle
        as an incident: claimed with a lease, its outcome stored (`acted`) before it is
        published, then `done`. A delivery that fails to publish it leaves the stored outcome
        for the next (never an escalation flagged but never sent), and only one delivery
        makes it. Who may escalate, the incident kept open and the ticket are
        `pullfix.engine.escalation`'s, as verification's are: another's flag (a pass's, or
        another message's) means it is done; this message's own means a crash came between
        the flag and the stored outcome, and the work goes on. Returns None when no
        escalation is due, or another delivery or verification made or makes it.
        """
        granted = self.ledger.get(grant_key, when)
        if not granted or not granted.get("granted_at"):
            return None
        granted_at = datetime.fromisoformat(granted["granted_at"])
        if not escalation.past_grace(self.config.escalation_grace, granted_at, when):
            return None
        mine = escalation.by_message(failure.message_id)
        flagged = granted.get(escalation.FLAG)
        if flagged and flagged != mine:
            return None  # escalated already, by verification or an earlier event
        key = fingerprint("escalation", grant_key, granted["granted_at"])
        step, found = self._hold(key, failure, when, "escalation")
        if step is Step.SUPPRESS:
            return None
        if step is Step.PUBLISH:
            text = found["outcome"]
            return self._finish(key, json.loads(text), text, None)
        # The flag before the ticket is stored: verification, seeing it, escalates no more;
        # the one who set it first escalates.
        if not escalation.claim(self.ledger, grant_key, mine, when):
            self.ledger.update(key, {"state": State.DONE.value})
            return None
        # The open incident too, which verification keeps longer than the grant record.
        escalation.keep_open(self.ledger, grant_key, mine, when, self.config)
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
            Evidence(image=image_or_none(failure.image)),
            Decision(Action.TICKET, None, ()),
            grant_key,
            escalation=True,
        )
        outcome.grant = plan
        outcome.ticket = outcome.remediation = escalation.ticket(
            grant_key,
            cluster=failure.cluster_resource or "",
            namespace=failure.namespace,
            workload=failure.incident_workload,
            image=failure.image,
            grant=plan.to_dict(),
        )
        published = outcome.to_dict()
        text = json.dumps(published)
        self.ledger.update(
            key,
            {
                "state": State.ACTED.value,
                "cause": cause.value,
                "fingerprint": grant_key,
                "outcome": text,
            },
        )
        log(
            "WARNING",
            f"pullfix: grant {grant_key} did not fix {failure.image}",
            {"outcome": published},
        )
        return self._finish(key, published, text, None)

    # -- evidence, decision, action ---------------------------------------------------------

    def _remediate(
        self,
        failure: PullFailure,
        offline: Diagnosis,
        image: ImageRef | None,
        evidence: Evidence,
        when: datetime,
        now: datetime,
        *,
        approved: GrantPlan | None = None,
    ) -> Outcome:
        """`approved`: the plan an approver approved (the `approve` function): the grant is
        made only if the evidence, gathered again, calls for that plan."""
        if (
            evidence.unverified is None
            and offline.cause in IAM_CAUSES
            and image is not None
            and image.ar_repository is not None
        ):
            # A cause the checks can explain, of an Artifact Registry image: check it.
            evidence.repository = image.ar_repository
            evidence.pull_cancelled = offline.cancelled
            # An identifier the text claims, to look up in the policy audit log (vpc_sc); a
            # refusal without one (containerd's bare 403) is looked up by account and time.
            evidence.vpc_sc_id = vpc_sc_unique_id(failure.message)
            if evidence.vpc_sc_id is None and offline.refused:
                evidence.refused_at = failure.timestamp or when
        elif evidence.unverified is None:
            # A failure on the network path: the network check reads the path.
            evidence.network_failure = network_failure(offline, failure.message)
        grant_key = None
        record = None
        for check in run_checks(self.collector, evidence):
            if check is IDENTITY and grant_may_fix(evidence):
                grant_key = fingerprint("grant", evidence.account_email, evidence.repository)
                record = self.ledger.get(grant_key, when)
                known = record is not None and record.get("state") in _GRANT_UNDER_WAY
                # A new grant incident asks the troubleshooter while the tag is looked up;
                # a known one needs no answer (IAM decides in _resume_grant, or it is done).
                if not known:
                    evidence.troubleshooting = self.collector.ask_troubleshooter(evidence)
            elif check is EXISTENCE and grant_key is not None:
                # After a grant, failures of images that exist are the same incident
                # (IAM takes minutes to propagate); a missing image is a new one (and no
                # access problem: the access check does not run).
                if evidence.image_missing:
                    record = None
                    if evidence.troubleshooting is not None:
                        evidence.troubleshooting.cancel()
                        evidence.troubleshooting = None
                if record is not None and record.get("state") == State.GRANTED.value:
                    escalated = self._escalation(failure, grant_key, when)
                    if escalated is not None:
                        return escalated
                    return self._already_granted(failure, grant_key, record)
                if record is not None and record.get("state") == State.GRANTING.value:
                    # A grant under way, or left half-done by a crash: IAM decides, not this.
                    return self._resume_grant(failure, evidence, grant_key, record, when, now)
        diagnosis = judge(offline, evidence)
        decision = decide(diagnosis, evidence, self.config, refused_in_text=offline.refused)
        if decision.action is Action.GRANT and grant_key:
            # The config may route the grant to an approver (pullfix.engine.approval).
            from pullfix.engine.approval import route_grant  # only for a grant

            routed = route_grant(
                self, failure, diagnosis, evidence, decision, grant_key, when, now, approved
            )
            if routed is not None:
                return routed
            return self._grant(failure, diagnosis, evidence, decision, grant_key, when, now)
        if decision.action is Action.WOULD_GRANT and decision.plan is not None:
            log_decision(decision, self._audit(failure, diagnosis, decision.plan))
            return self._would_grant(failure, diagnosis, evidence, decision, when)
        if not offline.refused and diagnosis.cause in GRANT_FIXABLE:
            # Only kubelet's follow-ups so far, and a grant would fix it.
            if evidence.repository:
                # A follow-up of a grant incident a dry run has reported: that report stands.
                reported = fingerprint("would_grant", evidence.account_email, evidence.repository)
                if self.ledger.get(reported, when) is not None:
                    return self._suppressed(
                        failure,
                        diagnosis.cause,
                        reported,
                        f"a follow-up of incident {reported}, already reported (dry run)",
                    )
            if not self._followup_grace_over(failure, when, now):
                # The event that shows the refusal (and may grant) is usually a moment
                # behind: wait for it.
                held = self._suppressed(
                    failure,
                    diagnosis.cause,
                    fingerprint(
                        "followup",
                        failure.cluster_resource,
                        failure.namespace,
                        failure.incident_workload,
                    ),
                    f"a follow-up that gives no reason: waiting up to "
                    f"{self.config.followup_grace}s for the event that shows the registry "
                    "refusing before filing a ticket",
                )
                held.settled = False  # the next follow-up looks again
                return held
        if diagnosis.cause is Cause.UNKNOWN and gives_no_reason(failure.message or ""):
            # A back-off gives no reason; the `Failed` event before it did, and may have
            # opened a ticket of its cause (a registry outside Google the checks cannot
            # judge): the back-off is part of that incident, not an `unknown` one.
            told = self.ledger.get(reason_key(failure, verified_pool(evidence)), when)
            if told is not None and told.get("ticket"):
                return self._suppressed(
                    failure,
                    diagnosis.cause,
                    told["ticket"],
                    f"a follow-up of incident {told['ticket']}, whose event gave the reason "
                    f"({told.get('cause', 'unknown')})",
                )
        return self._ticket(failure, diagnosis, evidence, decision, when)

    def _would_grant(
        self,
        failure: PullFailure,
        diagnosis: Diagnosis,
        evidence: Evidence,
        decision: Decision,
        when: datetime,
    ) -> Outcome:
        """A dry run reports each grant incident once, as a live run grants it once."""
        assert decision.plan is not None
        key = fingerprint("would_grant", evidence.account_email, decision.plan.resource)
        return self._once(
            key,
            {"state": State.DONE.value},
            f"pullfix already reported {key} (dry run)",
            failure,
            diagnosis,
            evidence,
            decision,
            when,
        )

    def _ticket(
        self,
        failure: PullFailure,
        diagnosis: Diagnosis,
        evidence: Evidence,
        decision: Decision,
        when: datetime,
        *,
        audited: bool = False,
    ) -> Outcome:
        """A ticket (a refusal included) never claims a grant key: its own key is the
        cluster, the namespace and workload, the image and the final cause."""
        pool = verified_pool(evidence)
        key = ticket_key(failure, diagnosis.cause, pool)
        if not audited:
            self._audit_refusal(failure, diagnosis, evidence, decision)
        outcome = self._once(
            key,
            {"cause": diagnosis.cause.value},
            f"a ticket for incident {key} is already open",
            failure,
            diagnosis,
            evidence,
            decision,
            when,
        )
        if outcome.action is not Action.SUPPRESSED and diagnosis.cause is not Cause.UNKNOWN:
            # For the back-offs that follow (see `reason_key`). Best effort: the ticket is
            # claimed already, so a failure here must not fail the delivery (its redelivery
            # would find the ticket told and publish nothing); without this record the
            # back-offs only open an `unknown` ticket of their own.
            try:
                self.ledger.claim(
                    reason_key(failure, pool),
                    when,
                    self.config.dedupe_window,
                    {"ticket": key, "cause": diagnosis.cause.value},
                )
            except Exception as exc:
                log("WARNING", f"pullfix: {key}: the ticket's reason was not recorded: {exc}")
        return outcome

    def _once(
        self,
        key: str,
        record: dict[str, str],
        already: str,
        failure: PullFailure,
        diagnosis: Diagnosis,
        evidence: Evidence,
        decision: Decision,
        when: datetime,
    ) -> Outcome:
        """The outcome of incident `key`, told once a dedupe window: claimed with `record`,
        or suppressed (`already` says why) when it was told already."""
        if not self.ledger.claim(key, when, self.config.dedupe_window, record).new:
            return self._suppressed(failure, diagnosis.cause, key, already)
        return self._outcome(failure, diagnosis, evidence, decision, key)

    def _refused_by_api(
        self,
        failure: PullFailure,
        offline: Diagnosis,
        evidence: Evidence,
        refusal: ApiRefusal,
        when: datetime,
    ) -> Outcome:
        """End the incident with a ticket that names the call, the answer and the fix."""
        cause = Cause.NOT_FOUND if refusal.not_found else offline.cause
        log(
            "WARNING",
            f"pullfix: {failure.image}: {refusal.describe()}",
            {
                "api_refusal": {
                    "call": refusal.call,
                    "code": refusal.code,
                    "status": refusal.status,
                    "needs": list(refusal.needs),
                    "constraint": refusal.constraint,
                }
            },
        )
        diagnosis = Diagnosis(cause, (*offline.reasons, refusal.describe()))
        decision = Decision(
            Action.TICKET, None, ("no grant: pullfix could not finish the diagnosis",)
        )
        return self._ticket(failure, diagnosis, evidence, decision, when)

    def _followup_grace_over(self, failure: PullFailure, when: datetime, now: datetime) -> bool:
        """Whether the reasonless follow-ups of this workload and image began longer than
        `followup_grace` ago; the first one starts the clock. Ago is event time live and in
        replay; `pullfix scan` (`after_the_fact`) reads old events as of now, when the grace
        they began is long over."""
        key = fingerprint(
            "followup",
            failure.cluster_resource,
            failure.namespace,
            failure.incident_workload,
            failure.image,
        )
        window = max(self.config.dedupe_window, self.config.followup_grace * 2)
        claim = self.ledger.claim(key, when, window, {"first_seen": when.isoformat()})
        first_seen = when
        if not claim.new and claim.record.get("first_seen"):
            first_seen = datetime.fromisoformat(claim.record["first_seen"])
        clock = max(when, now) if self.after_the_fact else when
        return (clock - first_seen).total_seconds() >= self.config.followup_grace

    def _resume_grant(
        self,
        failure: PullFailure,
        evidence: Evidence,
        key: str,
        record: dict[str, str],
        when: datetime,
        now: datetime,
    ) -> Outcome:
        """A `granting` record found: wait for a live one, take an expired one over."""
        cause = Cause(record.get("cause") or Cause.ROLE.value)
        step = next_step(record, failure.message_id, self.clock.now().timestamp())
        if step is Step.RETRY:
            raise InProgress(f"the grant {key} is being made by this message already")
        if step is Step.SUPPRESS:
            held = self._suppressed(
                failure, cause, key, f"the grant {key} is being made by another delivery"
            )
            held.settled = False
            return held
        plan = GrantPlan(record["resource"], record["role"], record["member"])
        reasons = ("finishing a grant that an earlier delivery started (IAM re-read)",)
        diagnosis = Diagnosis(
            cause, tuple(record.get("why", "").split("\x1f")) if record.get("why") else ()
        )
        return self._grant(
            failure,
            diagnosis,
            evidence,
            Decision(Action.GRANT, plan, reasons),
            key,
            when,
            now,
            resumed=record,
        )

    def _grant(
        self,
        failure: PullFailure,
        diagnosis: Diagnosis,
        evidence: Evidence,
        decision: Decision,
        key: str,
        when: datetime,
        now: datetime,
        resumed: dict[str, str] | None = None,
    ) -> Outcome:
        """Claim the grant incident (or take a resumed one over) and have the granter make
        the grant: it decides again against the config as it stands, counts the cap and
        writes. A grant it refuses is not made, new or resumed: its record is given back
        and the incident ends with the refusal."""
        plan = decision.plan
        assert plan is not None
        wall = self.clock.now().timestamp()
        fields = {
            **lease_fields(State.GRANTING, failure.message_id, wall, self.lease),
            "cause": diagnosis.cause.value,
            "why": "\x1f".join(diagnosis.reasons),
            "resource": plan.resource,
            "role": plan.role,
            "member": plan.member,
        }
        if resumed is not None:
            claim = self.ledger.take_over(key, when, self.config.dedupe_window, fields, wall)
        else:
            claim = self.ledger.claim(key, when, self.config.dedupe_window, fields)
        if not claim.new:
            if claim.record.get("state") == State.GRANTED.value:
                return self._already_granted(failure, key, claim.record)
            return self._resume_grant(failure, evidence, key, claim.record, when, now)
        facts = grant_facts(evidence)
        attempt = GrantAttempt()
        try:
            if facts is None:  # not verified in this delivery: nothing may be written
                attempt.decision = Decision(
                    Action.TICKET, None, ("no grant: the node service account is not confirmed",)
                )
            else:
                first = evidence.repository_policy if plan.resource == evidence.repository else None
                self.granter.grant(
                    plan,
                    facts,
                    now,
                    self._audit(failure, diagnosis, plan),
                    attempt,
                    first=first,
                    incident=key,
                )
            if attempt.result is None and resumed is not None:
                # Refused now, but an earlier delivery's write may have landed with its
                # answer lost: IAM says whether pullfix's grant is there (a failed read
                # keeps the record `granting`, as anything failing in a resumed grant does).
                found = self.granter.found(plan, attempt)
                if found:
                    attempt.decision = Decision(
                        Action.GRANT,
                        plan,
                        (
                            "an earlier delivery's write landed though its answer was lost: "
                            "the binding is in IAM; the config as it stands now would not "
                            f"make it ({'; '.join(found.reasons)}), so pullfix leaves it "
                            "for an administrator to keep or remove",
                        ),
                    )
            if attempt.result is not None:
                # Still `granting` (our lease) until the outcome is published: then `granted`.
                self.ledger.update(key, {"granted_at": self._granted_at(when, now).isoformat()})
        except BaseException:
            with contextlib.suppress(Exception):
                if not attempt.reached_iam and resumed is None:
                    self.ledger.release(key)  # nothing reached IAM: give the incident back
                else:
                    # The write may have landed (in this delivery, or in the earlier one
                    # this resumes): keep `granting`, but end this delivery's lease now, so
                    # the next one takes over, re-reads IAM and finishes.
                    self.ledger.update(key, {"lease_until": "0"})
            # (Killed instead, the lease runs out by itself.)
            raise
        settled = attempt.decision
        assert settled is not None
        if attempt.result is None:
            # Refused at the write: the grant key is free again for a later event that the
            # config (then) allows; this incident ends with the refusal.
            self.ledger.release(key)
            if resumed is not None:
                settled = Decision(
                    settled.action,
                    settled.plan,
                    (
                        "a grant an earlier delivery began was not finished: the config "
                        "as it stands now does not allow it",
                        *settled.reasons,
                    ),
                )
            if settled.action is Action.WOULD_GRANT:
                return self._would_grant(failure, diagnosis, evidence, settled, when)
            return self._ticket(failure, diagnosis, evidence, settled, when, audited=True)
        reasons = decision.reasons
        if settled.action is Action.GRANT and settled.reasons and resumed is not None:
            reasons = settled.reasons  # found in IAM after a lost answer
        elif not attempt.result.changed:
            reasons = (*reasons, "the binding was already there: nothing was written")
        # The plan as the granter wrote it: with its expiry condition, if the config gave one.
        written = settled.plan if settled.action is Action.GRANT and settled.plan else plan
        made = self._outcome(
            failure, diagnosis, evidence, Decision(Action.GRANT, written, reasons), key
        )
        made.dry_run = False  # a grant is never a dry run, whatever the config says now
        return made

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
            network_gaps=network_gaps(evidence),
            autopilot=evidence.cluster is not None and evidence.cluster.autopilot,
            image_streaming=pool is not None and pool.image_streaming,
            windows=pool is not None and pool.windows,
            image_size_bytes=(
                evidence.docker_image.size_bytes if evidence.docker_image is not None else None
            ),
            lacks_reader=(
                evidence.verdict is not None and evidence.verdict.state is AccessState.NOT_GRANTED
            ),
            perimeter=evidence.vpc_sc_denial.perimeter if evidence.vpc_sc_denial else None,
            vpc_sc_direction=evidence.vpc_sc_denial.direction if evidence.vpc_sc_denial else None,
            vpc_sc_target=evidence.vpc_sc_denial.target if evidence.vpc_sc_denial else None,
            vpcsc_config=_vpcsc_config(evidence),
            boundary=evidence.verdict.boundary if evidence.verdict is not None else (),
            kms_key=evidence.kms_key or None,
            kms_key_state=evidence.kms_key_state,
            kms_agent=evidence.kms_agent,
            upstream_secret=evidence.upstream_secret or None,
            upstream_secret_state=evidence.upstream_secret_state,
            upstream_agent=evidence.upstream_agent,
            upstream_agent_can_access=evidence.upstream_agent_can_access,
            upstream_repositories=evidence.upstreams_unreadable or (),
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
        self,
        failure: PullFailure,
        diagnosis: Diagnosis,
        plan: GrantPlan | None,
        evidence: Evidence | None = None,
    ) -> dict[str, Any]:
        """The audit record of a grant, made or not (the granter adds what became of it):
        one shape for every audit line. Without a plan (a refusal before one was made), the
        role, repository and node account the grant would have named."""
        account = evidence.account_email if evidence is not None else None
        return {
            "role": plan.role if plan else READER_ROLE,
            "resource": plan.resource if plan else (evidence.repository if evidence else None),
            "member": plan.member if plan else (f"serviceAccount:{account}" if account else None),
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
        """The audit line of a grant-fixable cause that ends in a ticket (policy said no)."""
        if diagnosis.cause not in GRANT_FIXABLE:
            return
        log_decision(decision, self._audit(failure, diagnosis, decision.plan, evidence))

    def _publish(self, outcome: dict[str, Any]) -> None:
        if self.publisher is not None:
            self.publisher.publish(outcome)


def _vpcsc_config(evidence: Evidence) -> str | None:
    """`projects/P/locations/L` of a remote repository whose upstream the perimeter cuts off
    (Artifact Registry's setting DENY, a denial in the policy audit log: remote_vpcsc)."""
    repository, denial = evidence.repository, evidence.vpc_sc_denial
    if (
        repository is None
        or denial is None
        or denial.dry_run
        or evidence.remote_vpcsc_policy != "DENY"
    ):
        return None
    return "/".join(repository.split("/")[:4])
