"""One escalation per grant (`pullfix.engine.escalation`): who may escalate, how long the
incident then stays open, and the one ticket, whichever path escalates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pullfix.core.config import config_from_dict
from pullfix.engine import escalation
from pullfix.engine.ledger import MemoryLedger

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
GRANT = {
    "resource": "projects/p/locations/l/repositories/r",
    "role": "roles/artifactregistry.reader",
    "member": "serviceAccount:nodes@p.iam.gserviceaccount.com",
}


def _granted() -> MemoryLedger:
    ledger = MemoryLedger()
    assert ledger.claim("grant-1", T0, 3600, {"state": "granted"}).new
    return ledger


def test_the_first_to_flag_escalates_and_only_its_own_redelivery_goes_on() -> None:
    ledger = _granted()
    event, later = escalation.by_message("m1"), escalation.by_message("m2")
    assert escalation.claim(ledger, "grant-1", event, T0)
    assert escalation.claim(ledger, "grant-1", event, T0)  # m1 again, after a crash
    assert not escalation.claim(ledger, "grant-1", later, T0)
    assert not escalation.claim(ledger, "grant-1", escalation.by_verification(T0), T0)
    assert (ledger.get("grant-1", T0) or {})[escalation.FLAG] == event


def test_no_verification_pass_is_another_passs_redelivery() -> None:
    ledger = _granted()
    assert escalation.claim(ledger, "grant-1", escalation.by_verification(T0), T0)
    later = T0 + timedelta(minutes=10)
    assert not escalation.claim(ledger, "grant-1", escalation.by_verification(later), later)


def test_past_the_grant_records_life_the_open_incidents_flag_tells() -> None:
    ledger = _granted()
    gone = T0 + timedelta(hours=2)  # the grant record lived a dedupe window
    assert ledger.get("grant-1", gone) is None
    flagged = escalation.by_message("m1")
    assert not escalation.claim(ledger, "grant-1", escalation.by_verification(gone), gone, flagged)
    assert escalation.claim(ledger, "grant-1", escalation.by_verification(gone), gone)


def test_an_escalation_keeps_the_incident_open_from_it_never_shorter() -> None:
    config = config_from_dict({"abandon_after": "1h", "escalation_grace": "10m"})
    assert escalation.kept_until(config, T0) == T0 + timedelta(hours=2, minutes=10)
    ledger = MemoryLedger()
    ledger.open_incident("grant-1", {"outcome": "{}"}, escalation.kept_until(config, T0))
    at = T0 + timedelta(minutes=11)
    escalation.keep_open(ledger, "grant-1", "message:m1", at, config)
    end = at + timedelta(hours=2, minutes=10)
    assert dict(ledger.open_incidents(end - timedelta(seconds=1), 10))["grant-1"] == {
        "outcome": "{}",
        escalation.FLAG: "message:m1",
    }
    assert ledger.open_incidents(end, 10) == []


def test_the_ticket_names_the_grant_and_points_past_the_role() -> None:
    ticket = escalation.ticket(
        "grant-1",
        cluster="projects/p/locations/l/clusters/checkout",
        namespace="web",
        workload="Deployment/web",
        image="l-docker.pkg.dev/p/r/web:1",
        grant=GRANT,
    )
    assert ticket == {
        "title": "[pullfix] grant did not fix it: l-docker.pkg.dev/p/r/web:1 for "
        "web/Deployment/web in checkout",
        "steps": [
            f"pullfix granted {GRANT['role']} on {GRANT['resource']} to {GRANT['member']} "
            "earlier, but the pulls still fail past the grace period: the grant did not fix "
            "it; something besides the missing role blocks the pull.",
            "Read the pod's events: kubectl describe pods --namespace=web",
            "Check the node pool's OAuth scopes and network path to the registry.",
        ],
        "commands": ["kubectl get events --namespace=web --field-selector reason=Failed"],
        "terraform": None,
        "reproduce": "sudo crictl pull l-docker.pkg.dev/p/r/web:1",
        "fingerprint": "grant-1",
    }
