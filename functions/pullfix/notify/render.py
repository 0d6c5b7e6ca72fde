"""What a team sees: an outcome rendered for Google Chat, Slack and GitHub Issues. Pure.

Every message says what failed (workload, namespace, cluster, image), the cause by its
vocabulary word, the evidence, what pullfix did, and what a person should do.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = [
    "FINGERPRINT_MARKER",
    "github_comment",
    "github_issue",
    "google_chat_message",
    "headline",
    "plain_text",
    "slack_message",
]

FINGERPRINT_MARKER = "pullfix-fingerprint:"
_SLACK_HEADER_MAX = 150
_SLACK_TEXT_MAX = 3000
_CHAT_TEXT_MAX = 4000


def _cluster_name(outcome: dict[str, Any]) -> str:
    cluster = outcome["event"].get("cluster") or ""
    return cluster.rsplit("/", 1)[-1] or "an unconfirmed cluster"


def headline(outcome: dict[str, Any]) -> str:
    """One line: what pullfix did and why."""
    action, cause = outcome["action"], outcome["cause"]
    if outcome.get("escalation") or action == "still_failing":
        return f"pullfix: grant did not fix it ({cause})"
    if action == "resolved":
        seconds = outcome.get("time_to_fix_seconds")
        took = f" in {_duration(seconds)}" if isinstance(seconds, int) else ""
        return f"pullfix: resolved{took} by {outcome.get('fixed_by') or 'a fix'} ({cause})"
    if action == "abandoned":
        return f"pullfix: closed, the workload stopped pulling ({cause})"
    verb = {
        "grant": "granted read access",
        "would_grant": "would grant read access (dry run)",
        "ticket": "needs a human",
        "suppressed": "already handled",
        "ignored": "ignored",
    }.get(action, action)
    return f"pullfix {verb}: {cause}"


def _duration(seconds: int) -> str:
    """`2m 31s`, `1h 5m`, `42s`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _what_failed(outcome: dict[str, Any]) -> str:
    event = outcome["event"]
    workload = event.get("workload") or event.get("pod") or "a pod"
    return (
        f"{workload} in namespace {event.get('namespace') or '?'} on cluster "
        f"{_cluster_name(outcome)} could not pull {event.get('image') or 'its image'}"
    )


def _what_pullfix_did(outcome: dict[str, Any]) -> str:
    grant = outcome.get("grant")
    if outcome["action"] in ("resolved", "abandoned"):
        return "Verified from the kubelet's events: the incident is closed."
    if outcome.get("escalation") and grant:
        return (
            f"pullfix had granted {grant['role']} on {grant['resource']} to "
            f"{grant['member']}; pulls still fail, so this needs a person."
        )
    if outcome["action"] == "grant" and grant:
        return f"Granted {grant['role']} on {grant['resource']} to {grant['member']}."
    if outcome["action"] == "would_grant" and grant:
        return (
            f"Dry run: would grant {grant['role']} on {grant['resource']} to "
            f"{grant['member']}. Nothing was changed."
        )
    return "Nothing was changed: this needs a person."


def _remediation(outcome: dict[str, Any]) -> dict[str, Any]:
    draft: dict[str, Any] = outcome.get("ticket") or outcome.get("remediation") or {}
    return draft


def plain_text(outcome: dict[str, Any], *, code_fence: str = "```") -> str:
    """The text fallback: everything, in plain text with fenced commands."""
    draft = _remediation(outcome)
    lines = [
        f"*{headline(outcome)}*",
        _what_failed(outcome),
        "",
        f"Cause: {outcome['cause']}",
        "Evidence:",
    ]
    lines += [f"• {reason}" for reason in outcome.get("reasons", [])[:6]]
    lines += ["", f"What pullfix did: {_what_pullfix_did(outcome)}"]
    steps = draft.get("steps") or []
    if steps:
        lines += ["", "What to do:"] + [f"{i}. {step}" for i, step in enumerate(steps, 1)]
    commands = list(draft.get("commands") or [])
    if commands:
        lines += ["", code_fence, *commands, code_fence]
    if draft.get("terraform"):
        lines += [
            "",
            "Codify it in Terraform:",
            code_fence,
            draft["terraform"].rstrip(),
            code_fence,
        ]
    if draft.get("reproduce"):
        lines += ["", "Reproduce on the node:", code_fence, draft["reproduce"], code_fence]
    lines += ["", f"{FINGERPRINT_MARKER} {outcome['fingerprint']}"]
    return "\n".join(lines)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def google_chat_message(outcome: dict[str, Any]) -> dict[str, Any]:
    """A Google Chat message (cardsV2 with a text fallback), threaded by incident."""
    draft = _remediation(outcome)
    event = outcome["event"]

    def paragraph(text: str) -> dict[str, Any]:
        return {"textParagraph": {"text": text}}

    def escaped_lines(items: list[str]) -> str:
        return "<br>".join(html.escape(item) for item in items)

    sections: list[dict[str, Any]] = [
        {
            "header": "What failed",
            "widgets": [
                {
                    "decoratedText": {
                        "topLabel": "Workload",
                        "text": html.escape(
                            f"{event.get('workload') or event.get('pod') or '?'} · "
                            f"{event.get('namespace') or '?'} · {_cluster_name(outcome)}"
                        ),
                        "wrapText": True,
                    }
                },
                {
                    "decoratedText": {
                        "topLabel": "Image",
                        "text": html.escape(event.get("image") or "?"),
                        "wrapText": True,
                    }
                },
                {"decoratedText": {"topLabel": "Cause", "text": f"<b>{outcome['cause']}</b>"}},
            ],
        },
        {
            "header": "Evidence",
            "collapsible": True,
            "uncollapsibleWidgetsCount": 1,
            "widgets": [
                paragraph(escaped_lines([f"• {r}" for r in outcome.get("reasons", [])[:8]]))
            ],
        },
        {
            "header": "What pullfix did",
            "widgets": [paragraph(html.escape(_what_pullfix_did(outcome)))],
        },
    ]
    steps = draft.get("steps") or []
    commands = list(draft.get("commands") or [])
    if steps or commands:
        widgets = [paragraph(escaped_lines([f"{i}. {s}" for i, s in enumerate(steps, 1)]))]
        if commands:
            widgets.append(
                paragraph('<font color="#1a73e8">' + escaped_lines(commands) + "</font>")
            )
        sections.append({"header": "What to do", "widgets": widgets})
    if draft.get("terraform"):
        sections.append(
            {
                "header": "Codify it in Terraform",
                "collapsible": True,
                "uncollapsibleWidgetsCount": 0,
                "widgets": [paragraph(escaped_lines(draft["terraform"].splitlines()))],
            }
        )
    if draft.get("reproduce"):
        sections.append(
            {
                "header": "Reproduce on the node",
                "collapsible": True,
                "uncollapsibleWidgetsCount": 0,
                "widgets": [paragraph(escaped_lines(draft["reproduce"].splitlines()))],
            }
        )
    return {
        "text": _truncate(plain_text(outcome), _CHAT_TEXT_MAX),
        "cardsV2": [
            {
                "cardId": f"pullfix-{outcome['fingerprint']}",
                "card": {
                    "header": {
                        "title": headline(outcome),
                        "subtitle": _truncate(_what_failed(outcome), 200),
                    },
                    "sections": sections,
                },
            }
        ],
        "thread": {"threadKey": outcome["fingerprint"]},
    }


def slack_message(outcome: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: Block Kit with a text fallback."""
    draft = _remediation(outcome)

    def section(text: str) -> dict[str, Any]:
        return {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _truncate(text, _SLACK_TEXT_MAX)},
        }

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "emoji": False,
                "text": _truncate(headline(outcome), _SLACK_HEADER_MAX),
            },
        },
        section(f"{_what_failed(outcome)}\n*Cause:* `{outcome['cause']}`"),
        section("*Evidence*\n" + "\n".join(f"• {r}" for r in outcome.get("reasons", [])[:8])),
        section(f"*What pullfix did*\n{_what_pullfix_did(outcome)}"),
    ]
    steps = draft.get("steps") or []
    if steps:
        blocks.append(
            section("*What to do*\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)))
        )
    commands = list(draft.get("commands") or [])
    if commands:
        blocks.append(section("```\n" + "\n".join(commands) + "\n```"))
    if draft.get("terraform"):
        blocks.append(
            section("*Codify it in Terraform*\n```\n" + draft["terraform"].rstrip() + "\n```")
        )
    if draft.get("reproduce"):
        blocks.append(section("*Reproduce on the node*\n```\n" + draft["reproduce"] + "\n```"))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{FINGERPRINT_MARKER} {outcome['fingerprint']}"}
            ],
        }
    )
    return {
        "text": _truncate(f"{headline(outcome)} — {_what_failed(outcome)}", _SLACK_TEXT_MAX),
        "blocks": blocks,
    }


def github_issue(outcome: dict[str, Any]) -> dict[str, Any]:
    """A GitHub issue: title, Markdown body carrying the fingerprint, labels by cause."""
    draft = _remediation(outcome)
    title = draft.get("title") or f"[pullfix] {outcome['cause']}: {outcome['event'].get('image')}"
    return {
        "title": _truncate(title, 256),
        "body": plain_text(outcome)
        + f"\n\n<!-- {FINGERPRINT_MARKER} {outcome['fingerprint']} -->\n",
        "labels": ["pullfix", f"cause:{outcome['cause']}"]
        + (["escalation"] if outcome.get("escalation") else []),
    }


def github_comment(outcome: dict[str, Any]) -> dict[str, Any]:
    """A comment on the incident's issue: it happened again, or it was verified closed."""
    event = outcome["event"]
    if outcome["action"] in ("resolved", "abandoned"):
        return {
            "body": f"{headline(outcome)}\n\n"
            + "\n".join(f"- {r}" for r in outcome.get("reasons", [])[:6])
            + "\n\nClosed by pullfix's verification; it reopens the issue if the incident "
            "comes back."
        }
    return {
        "body": (
            f"Seen again at {event.get('timestamp') or 'an unknown time'}: "
            f"{_what_failed(outcome)}.\n\n{headline(outcome)}\n\n"
            + "\n".join(f"- {r}" for r in outcome.get("reasons", [])[:6])
        )
    }
