"""Paste-safety through the real `remediate` path: GKE events whose namespace, workload or
image carry shell payloads go through intake, verification against the sandbox, judgment and
the ticket draft; every command and reproduction of each published outcome is then pasted
into bash with stub kubectl, gcloud, sudo and crictl. Nothing runs; a namespace arrives as one
literal argument (an option's value, never an option); an image string the reference grammar
rejects is `invalid_name` and is in no command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pipeline import LOCATION, PROD, event, pipeline
from tests.pastebox import PasteBox, arguments

pytestmark = pytest.mark.integration

APPS = f"{LOCATION}-docker.pkg.dev/{PROD}/apps"
# Payloads that intake lets through as a namespace label (no white space, "/" or "\").
NAMESPACES = [
    "$(touch${IFS}pwned)",
    "`touch${IFS}pwned`",
    ";touch${IFS}pwned;",
    "'$(touch${IFS}pwned)'",
    '"$(touch${IFS}pwned)"',
    "|touch${IFS}pwned",
    "&&touch${IFS}pwned",
    "\u202e$(touch${IFS}pwned)\u200b",
    "--kubeconfig=pwned",  # an option, were it a word of its own
]
IMAGES = [
    "ghcr.io$(touch${IFS}pwned)/app:1",
    "ghcr.io`touch pwned`/app:1",
    "quay.io/team/app:1;touch pwned",
    "quay.io/team/app:1 $(touch pwned)",
    f"{APPS}/api:2.0$(touch${{IFS}}pwned)",
]


def test_event_payloads_never_run_when_a_ticket_is_pasted(tmp_path: Path) -> None:
    box = PasteBox(tmp_path / "paste")
    entries = []
    for i, namespace in enumerate(NAMESPACES):
        # auth_config names the namespace in its imagePullSecret; version in its own.
        entries.append(
            (
                "namespace",
                namespace,
                event(
                    "default-pool",
                    "quay.io/team/app:1",
                    "unauthorized: authentication required",
                    namespace=namespace,
                    workload=f"ns{i}",
                ),
            )
        )
        entries.append(
            (
                "namespace",
                namespace,
                event("old-pool", f"{APPS}/api:2.0", namespace=namespace, workload=f"old{i}"),
            )
        )
    for i, image in enumerate(IMAGES):
        for detail in ("403 Forbidden", "unauthorized: authentication required"):
            entries.append(
                ("image", image, event("default-pool", image, detail, workload=f"i{i}{detail[0]}"))
            )
    with pipeline(tmp_path) as (pipe,):
        for _, _, entry in entries:
            assert pipe.post(entry) == 200
        outcomes = [(kind, value, pipe.one_outcome(entry)) for kind, value, entry in entries]
    named = 0
    for kind, value, outcome in outcomes:
        draft = outcome["ticket"]
        assert draft is not None, outcome
        texts = [*draft["commands"], *([draft["reproduce"]] if draft["reproduce"] else [])]
        if kind == "image":
            assert outcome["cause"] == "invalid_name", outcome
            assert outcome["event"]["image"] == value
            assert texts == [] and value not in str(draft["steps"][1:])
            continue
        assert outcome["cause"] in ("auth_config", "version"), outcome
        for text in texts:
            pasted = box.paste(text)
            assert not pasted.ran, (text, pasted.stderr)
            args = arguments(pasted.calls)
            named += f"--namespace={value}" in args
            assert all(value in arg for arg in args if "touch" in arg), (text, args)
    assert named == len(NAMESPACES) * 2  # each namespace reached kubectl, literally
