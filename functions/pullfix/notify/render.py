"""What a team sees: an outcome rendered for Google Chat, Slack and GitHub Issues. Pure.

Every message says what failed (workload, namespace, cluster, image), the cause by its
vocabulary word, the evidence, what pullfix did, and what a person should do.

Everything an outcome carries came from a log entry that anyone with
`logging.logEntries.create` can write, so every string of it is text, never markup, in each
destination's own syntax:

- first made visible (`visible`): control, bidi and zero-width characters are spelled as
  `\\uXXXX` (CR and LF as `\\r`, `\\n`), so a value cannot hide text, reorder it, or add a line;
  and the word of pullfix's GitHub marker is broken, so no value can contain the marker;
- Slack: `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;` (Slack's whole escaping rule:
  "There are three characters you must convert to HTML entities and only three",
  https://api.slack.com/reference/surfaces/formatting#escaping), so no value makes
  `<!channel>`, `<@U123>` or `<http://x|y>`;
- Google Chat text has no escape: the characters of its syntax (`<`, `>`, `*`, `~`,
  backquote) are replaced by look-alikes in prose (U+2039, U+203A,
  U+2217, U+223C, U+02CB), so no value makes
  `<users/all>`, `<https://x|y>` or `*bold*`; card text is HTML-escaped;
- GitHub: `&`, `<`, `>` become entities (no HTML, comment or autolink), Markdown punctuation
  is backslash-escaped (no link, image, emphasis or table), and a word joiner (U+2060)
  follows `@` and `#` and splits `://` and `www.`, so no value mentions a user or team,
  references an issue or becomes a link;
- and in every destination's prose, bare URLs are split the same way (chat services link
  them). The headline and the cause are pullfix's own words (the outcome schema allows
  only its vocabulary) and are not escaped.

Commands go in code blocks, exact: a GitHub fence is longer than any run of backquotes
inside it; Slack's and Google Chat's blocks, which have no such rule, get no backquote from a
value, and (as those services may link URLs even there) every URL in them but pullfix's own
metadata-server URL is split. A message cut to a destination's limit never leaves a block
open; a line of prose is cut at 1,000 characters and a GitHub body at GitHub's 65,536.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "FINGERPRINT_MARKER",
    "approval_chat_update",
    "approval_slack_update",
    "github_comment",
    "github_issue",
    "github_marker",
    "google_chat_message",
    "headline",
    "plain_text",
    "read_github_marker",
    "slack_message",
    "visible",
]

FINGERPRINT_MARKER = "pullfix-fingerprint:"
_SLACK_HEADER_MAX = 150
_SLACK_TEXT_MAX = 3000
_CHAT_TEXT_MAX = 4000
_GITHUB_TITLE_MAX = 256
_GITHUB_BODY_MAX = 65536  # GitHub refuses a longer issue body or comment (422)
_PROSE_LINE_MAX = 1000  # a line of prose (a value is at most a few hundred characters)
_JOINER = "\u2060"  # WORD JOINER: zero width, no break, not a word character

# Characters that change how text reads without showing: C0/C1 controls, DEL, the soft
# hyphen, bidi embeddings, overrides, isolates and marks, zero-width characters and fillers,
# line and paragraph separators, variation selectors, the byte-order mark, interlinear
# annotations, tag characters.
_HIDDEN_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff9-\ufffb\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_SPELLED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MARKER_WORD_RE = re.compile(r"pullfix-fingerprint", re.IGNORECASE)
_URL_RE = re.compile(r"(?i)(:)(//)|\b(www)(\.)")
_LEGACY_MARKER_RE = re.compile(r"<!-- pullfix-fingerprint: (?P<key>[A-Za-z0-9_.:-]{1,200}) -->")
_MARKER_LINE_RE = re.compile(
    r"<!-- pullfix-fingerprint: (?P<key>[A-Za-z0-9_.:-]{1,200})"
    r"(?: delivery: (?P<delivery>[A-Za-z0-9_.:-]{1,200}))? -->"
)


def _spelled(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: str) -> str:
    """`text` with every character that does not show spelled out, and pullfix's marker word
    broken (no value can carry `pullfix-fingerprint:`)."""
    shown = _HIDDEN_RE.sub(lambda m: _SPELLED.get(m.group()) or _spelled(m.group()), text)
    return _MARKER_WORD_RE.sub(lambda m: m.group()[:8] + _JOINER + m.group()[8:], shown)


def _clipped(text: str) -> str:
    """A line of prose, made visible and cut to a length every destination accepts."""
    return _truncate(visible(text), _PROSE_LINE_MAX)


# The one URL pullfix's own commands name (the node's metadata server, for its token).
_OWN_URL_RE = re.compile(r"http://metadata\.google\.internal/\S*")


def _unlinked_code(text: str) -> str:
    """A code line for a chat service, which may link URLs even in code: every URL but
    pullfix's own split (any other came from a value, inside its quotes)."""
    kept = _OWN_URL_RE.findall(text)
    parts = _OWN_URL_RE.split(text)
    return "".join(
        _unlinked(part) + (kept[i] if i < len(kept) else "") for i, part in enumerate(parts)
    )


def _unlinked(text: str) -> str:
    """Bare URLs split so no service links them (`https:⁠//`, `www⁠.`)."""
    return _URL_RE.sub(
        lambda m: f"{m.group(1) or m.group(3)}{_JOINER}{m.group(2) or m.group(4)}", text
    )


def _slack(text: str) -> str:
    """Slack mrkdwn text: entities for its three control characters (see the module doc)."""
    escaped = _clipped(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _unlinked(escaped.replace("@", "@" + _JOINER))


def _slack_code(text: str) -> str:
    """A line inside a Slack code block: entities (the client shows the characters), no
    backquote that could end the block."""
    escaped = visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _unlinked_code(escaped.replace("`", "\u02cb"))


_CHAT_LOOKALIKES = str.maketrans(
    {"<": "\u2039", ">": "\u203a", "*": "\u2217", "~": "\u223c", "`": "\u02cb"}
)


def _chat(text: str) -> str:
    """Google Chat message text (no escape exists): look-alikes for its syntax. (A Chat
    mention is `<users/…>` only; `_italic_` is left, as it hides nothing.)"""
    return _unlinked(_clipped(text).translate(_CHAT_LOOKALIKES))


_CHAT_CODE_LOOKALIKES = {ord("<"): "\u2039", ord(">"): "\u203a", ord("`"): "\u02cb"}


def _chat_code(text: str) -> str:
    """A line inside a Google Chat monospace block: no `<` to start a mention or link, no
    backquote to end the block (only a hostile value holds them; in a command they stay
    inside its quotes)."""
    return _unlinked_code(visible(text).translate(_CHAT_CODE_LOOKALIKES))


def _card(text: str) -> str:
    """Google Chat card text (an HTML subset)."""
    return _unlinked(html.escape(_clipped(text)))


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]!|~{}$])")  # `$`: GitHub's math
_MENTION_OR_REFERENCE = re.compile(r"([@#])|\b(GH-)(?=\d)", re.IGNORECASE)


def _github(text: str) -> str:
    """GitHub Markdown prose: no HTML, link, image, emphasis, mention or reference."""
    escaped = html.escape(_clipped(text), quote=False)
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", escaped)
    escaped = _MENTION_OR_REFERENCE.sub(lambda m: (m.group(1) or m.group(2)) + _JOINER, escaped)
    return _unlinked(escaped)


def _github_title(text: str) -> str:
    """An issue title is plain text, but GitHub links references and mentions in it."""
    return _MENTION_OR_REFERENCE.sub(lambda m: (m.group(1) or m.group(2)) + _JOINER, visible(text))


def _github_fence(lines: list[str]) -> tuple[str, str]:
    """A fence longer than any run of backquotes in the block: nothing inside closes it."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return fence, fence


def _code_lines(block: str) -> list[str]:
    """A command or snippet, line by line, each line made visible."""
    return [visible(line) for line in block.split("\n")]


def _cluster_name(outcome: dict[str, Any]) -> str:
    cluster = outcome["event"].get("cluster") or ""
    return cluster.rsplit("/", 1)[-1] or "an unconfirmed cluster"


def headline(outcome: dict[str, Any]) -> str:
    """One line: what pullfix did and why (raw: each destination escapes it)."""
    action, cause = outcome["action"], outcome["cause"]
    if outcome.get("escalation") or action == "still_failing":
        return f"pullfix: grant did not fix it ({cause})"
    if action == "resolved":
        seconds = outcome.get("time_to_fix_seconds")
        took = f" in {_duration(seconds)}" if isinstance(seconds, int) else ""
        fixed_by = outcome.get("fixed_by")
        by = fixed_by if fixed_by in ("pullfix's grant", "a human") else "a fix"
        return f"pullfix: resolved{took} by {by} ({cause})"
    if action == "abandoned":
        return f"pullfix: closed, the workload stopped pulling ({cause})"
    verb = {
        "grant": "granted read access",
        "would_grant": "would grant read access (dry run)",
        "ticket": "needs a human",
        "suppressed": "already handled",
        "ignored": "ignored",
        "approval_requested": "asks approval to grant read access",
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
    if outcome["action"] == "approval_requested" and grant:
        expires = (outcome.get("approval") or {}).get("expires_at") or "?"
        return (
            f"Asks to grant {grant['role']} on {grant['resource']} to {grant['member']}. "
            f"Nothing was changed yet: an approver's click decides (until {expires})."
        )
    if outcome["action"] == "would_grant" and grant:
        return (
            f"Dry run: would grant {grant['role']} on {grant['resource']} to "
            f"{grant['member']}. Nothing was changed."
        )
    return "Nothing was changed: this needs a person."


def _remediation(outcome: dict[str, Any]) -> dict[str, Any]:
    draft: dict[str, Any] = outcome.get("ticket") or outcome.get("remediation") or {}
    return draft


def _text(
    outcome: dict[str, Any],
    prose: Callable[[str], str],
    code: Callable[[list[str]], list[str]],
) -> str:
    """Everything, as text: prose lines escaped by `prose`, blocks by `code` (fenced)."""
    draft = _remediation(outcome)
    lines = [
        f"*{visible(headline(outcome))}*",
        prose(_what_failed(outcome)),
        "",
        f"Cause: {visible(outcome['cause'])}",
        "Evidence:",
    ]
    lines += [f"• {prose(reason)}" for reason in outcome.get("reasons", [])[:6]]
    lines += ["", f"What pullfix did: {prose(_what_pullfix_did(outcome))}"]
    steps = draft.get("steps") or []
    if steps:
        lines += ["", "What to do:"] + [f"{i}. {prose(step)}" for i, step in enumerate(steps, 1)]
    commands = [line for command in draft.get("commands") or [] for line in command.split("\n")]
    if commands:
        lines += ["", *code(commands)]
    if draft.get("terraform"):
        lines += ["", "Codify it in Terraform:", *code(draft["terraform"].rstrip().split("\n"))]
    if draft.get("reproduce"):
        lines += ["", "Reproduce on the node:", *code(draft["reproduce"].split("\n"))]
    lines += ["", f"{FINGERPRINT_MARKER} {outcome['fingerprint']}"]
    return "\n".join(lines)


def _chat_block(lines: list[str]) -> list[str]:
    return ["```", *(_chat_code(line) for line in lines), "```"]


def _github_block(lines: list[str]) -> list[str]:
    shown = [visible(line) for line in lines]
    opening, closing = _github_fence(shown)
    return [opening, *shown, closing]


def plain_text(outcome: dict[str, Any]) -> str:
    """The Google Chat text: everything, with its syntax neutralised and fenced commands."""
    return _text(outcome, _chat, _chat_block)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _truncate_fenced(text: str, limit: int) -> str:
    """`_truncate` for text with ``` blocks: a block the cut leaves open is closed, so what
    follows the cut is never read as prose (nor prose as code)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 5]
    if sum(1 for line in cut.split("\n") if line.startswith("```")) % 2:
        return cut + "…\n```"
    return cut + "…"


def google_chat_message(outcome: dict[str, Any]) -> dict[str, Any]:
    """A Google Chat message (cardsV2 with a text fallback), threaded by incident."""
    draft = _remediation(outcome)
    event = outcome["event"]

    def paragraph(text: str) -> dict[str, Any]:
        return {"textParagraph": {"text": text}}

    def escaped_lines(items: list[str]) -> str:
        return "<br>".join(_card(item) for item in items)

    def code_lines(items: list[str]) -> str:  # commands: exact but for URLs from values
        return "<br>".join(_unlinked_code(html.escape(visible(item))) for item in items)

    sections: list[dict[str, Any]] = [
        {
            "header": "What failed",
            "widgets": [
                {
                    "decoratedText": {
                        "topLabel": "Workload",
                        "text": _card(
                            f"{event.get('workload') or event.get('pod') or '?'} · "
                            f"{event.get('namespace') or '?'} · {_cluster_name(outcome)}"
                        ),
                        "wrapText": True,
                    }
                },
                {
                    "decoratedText": {
                        "topLabel": "Image",
                        "text": _card(event.get("image") or "?"),
                        "wrapText": True,
                    }
                },
                {
                    "decoratedText": {
                        "topLabel": "Cause",
                        "text": f"<b>{_card(outcome['cause'])}</b>",
                    }
                },
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
            "widgets": [paragraph(_card(_what_pullfix_did(outcome)))],
        },
    ]
    steps = draft.get("steps") or []
    commands = [line for command in draft.get("commands") or [] for line in command.split("\n")]
    if steps or commands:
        widgets = [paragraph(escaped_lines([f"{i}. {s}" for i, s in enumerate(steps, 1)]))]
        if commands:
            widgets.append(paragraph('<font color="#1a73e8">' + code_lines(commands) + "</font>"))
        sections.append({"header": "What to do", "widgets": widgets})
    request = _approval_id(outcome)
    if request is not None:
        # A Chat app's card: the buttons invoke the app (the `approve` function) with the
        # request's id as the only parameter; nothing from the event rides on them.
        sections.append(
            {
                "header": "Approve this grant?",
                "widgets": [
                    {
                        "buttonList": {
                            "buttons": [
                                _chat_button("Approve", "pullfix.approve", request),
                                _chat_button("Deny", "pullfix.deny", request),
                            ]
                        }
                    }
                ],
            }
        )
    if draft.get("terraform"):
        sections.append(
            {
                "header": "Codify it in Terraform",
                "collapsible": True,
                "uncollapsibleWidgetsCount": 0,
                "widgets": [paragraph(code_lines(draft["terraform"].splitlines()))],
            }
        )
    if draft.get("reproduce"):
        sections.append(
            {
                "header": "Reproduce on the node",
                "collapsible": True,
                "uncollapsibleWidgetsCount": 0,
                "widgets": [paragraph(code_lines(draft["reproduce"].split("\n")))],
            }
        )
    return {
        "text": _truncate_fenced(plain_text(outcome), _CHAT_TEXT_MAX),
        "cardsV2": [
            {
                "cardId": f"pullfix-{outcome['fingerprint']}",
                "card": {
                    "header": {
                        "title": visible(headline(outcome)),
                        "subtitle": _truncate(_chat(_what_failed(outcome)), 200),
                    },
                    "sections": sections,
                },
            }
        ],
        "thread": {"threadKey": outcome["fingerprint"]},
    }


def _approval_id(outcome: dict[str, Any]) -> str | None:
    """The approval request's id, on an `approval_requested` outcome (the schema checked it:
    letters, digits and `-`)."""
    approval = outcome.get("approval")
    if outcome["action"] != "approval_requested" or not isinstance(approval, dict):
        return None
    request = approval.get("id")
    return request if isinstance(request, str) else None


def _chat_button(text: str, function: str, request: str) -> dict[str, Any]:
    return {
        "text": text,
        "onClick": {
            "action": {"function": function, "parameters": [{"key": "request", "value": request}]}
        },
    }


def _slack_buttons(request: str) -> dict[str, Any]:
    def button(text: str, action_id: str, style: str) -> dict[str, Any]:
        return {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": text, "emoji": False},
            "style": style,
            "value": request,
        }

    return {
        "type": "actions",
        "block_id": "pullfix-approval",
        "elements": [
            button("Approve", "pullfix_approve", "primary"),
            button("Deny", "pullfix_deny", "danger"),
        ],
    }


def approval_chat_update(request: str, text: str, *, done: bool) -> dict[str, Any]:
    """The `approve` function's answer to a Google Chat click: the card updated in place
    (`actionResponse` UPDATE_MESSAGE) with what the click came to; the buttons stay while
    the request is undecided."""
    widgets: list[dict[str, Any]] = [{"textParagraph": {"text": _card(text)}}]
    if not done:
        widgets.append(
            {
                "buttonList": {
                    "buttons": [
                        _chat_button("Approve", "pullfix.approve", request),
                        _chat_button("Deny", "pullfix.deny", request),
                    ]
                }
            }
        )
    return {
        "actionResponse": {"type": "UPDATE_MESSAGE"},
        "text": visible(f"pullfix approval: {text}"),
        "cardsV2": [
            {
                "cardId": f"pullfix-{request}",
                "card": {
                    "header": {"title": "pullfix approval", "subtitle": _chat(request)},
                    "sections": [{"widgets": widgets}],
                },
            }
        ],
    }


def approval_slack_update(request: str, text: str, *, done: bool) -> dict[str, Any]:
    """The `approve` function's answer to a Slack click (and what it posts to the click's
    `response_url`): the message replaced with what the click came to."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _truncate(_slack(text), _SLACK_TEXT_MAX)},
        }
    ]
    if not done:
        blocks.append(_slack_buttons(request))
    return {
        "replace_original": True,
        "text": _truncate(_slack(f"pullfix approval: {text}"), _SLACK_TEXT_MAX),
        "blocks": blocks,
    }


def slack_message(outcome: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: Block Kit with a text fallback."""
    draft = _remediation(outcome)

    def section(text: str) -> dict[str, Any]:
        return {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _truncate_fenced(text, _SLACK_TEXT_MAX)},
        }

    def block(lines: list[str]) -> str:
        return "```\n" + "\n".join(_slack_code(line) for line in lines) + "\n```"

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",  # shown as it is: never parsed
                "emoji": False,
                "text": _truncate(visible(headline(outcome)), _SLACK_HEADER_MAX),
            },
        },
        section(f"{_slack(_what_failed(outcome))}\n*Cause:* `{_slack_code(outcome['cause'])}`"),
        section(
            "*Evidence*\n" + "\n".join(f"• {_slack(r)}" for r in outcome.get("reasons", [])[:8])
        ),
        section(f"*What pullfix did*\n{_slack(_what_pullfix_did(outcome))}"),
    ]
    steps = draft.get("steps") or []
    if steps:
        blocks.append(
            section(
                "*What to do*\n" + "\n".join(f"{i}. {_slack(s)}" for i, s in enumerate(steps, 1))
            )
        )
    commands = [line for command in draft.get("commands") or [] for line in command.split("\n")]
    if commands:
        blocks.append(section(block(commands)))
    if draft.get("terraform"):
        blocks.append(
            section("*Codify it in Terraform*\n" + block(draft["terraform"].rstrip().split("\n")))
        )
    if draft.get("reproduce"):
        blocks.append(section("*Reproduce on the node*\n" + block(draft["reproduce"].split("\n"))))
    request = _approval_id(outcome)
    if request is not None:
        blocks.append(_slack_buttons(request))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{FINGERPRINT_MARKER} {_slack(outcome['fingerprint'])}"}
            ],
        }
    )
    return {
        "text": _truncate(
            f"{_slack_code(headline(outcome))} — {_slack(_what_failed(outcome))}", _SLACK_TEXT_MAX
        ),
        "blocks": blocks,
    }


def github_marker(fingerprint: str, delivery: str | None = None) -> str:
    """The first line of every issue pullfix opens: the incident, and the delivery that
    opened it. Event text cannot write it: values are escaped (no `<`) and its word broken."""
    tail = f" delivery: {delivery}" if delivery else ""
    return f"<!-- {FINGERPRINT_MARKER} {fingerprint}{tail} -->"


def read_github_marker(body: str | None) -> tuple[str, str | None] | None:
    """(incident, delivery) from pullfix's marker in an issue body: its first line; or, in
    an issue an earlier pullfix opened, its last line (those bodies ended with the marker,
    so no text could follow it there)."""
    lines = [line.rstrip("\r") for line in (body or "").split("\n")]
    found = _MARKER_LINE_RE.fullmatch(lines[0])
    if found:
        return found.group("key"), found.group("delivery")
    last = next((line for line in reversed(lines) if line.strip()), "")
    legacy = _LEGACY_MARKER_RE.fullmatch(last)
    return (legacy.group("key"), None) if legacy else None


def github_issue(outcome: dict[str, Any], delivery: str | None = None) -> dict[str, Any]:
    """A GitHub issue: title, Markdown body whose first line is pullfix's marker (the
    incident, and the delivery that opened it), labels by cause."""
    draft = _remediation(outcome)
    title = draft.get("title") or f"[pullfix] {outcome['cause']}: {outcome['event'].get('image')}"
    marker = github_marker(outcome["fingerprint"], delivery)
    body = _text(outcome, _github, _github_block)
    return {
        "title": _truncate(_github_title(title), _GITHUB_TITLE_MAX),
        "body": _truncate(f"{marker}\n{body}\n", _GITHUB_BODY_MAX),
        "labels": ["pullfix", f"cause:{outcome['cause']}"]
        + (["escalation"] if outcome.get("escalation") else []),
    }


def github_comment(outcome: dict[str, Any]) -> dict[str, Any]:
    """A comment on the incident's issue: it happened again, or it was verified closed."""
    event = outcome["event"]
    reasons = "\n".join(f"- {_github(r)}" for r in outcome.get("reasons", [])[:6])
    if outcome["action"] in ("resolved", "abandoned"):
        return {
            "body": f"{visible(headline(outcome))}\n\n{reasons}\n\nClosed by pullfix's "
            "verification; it reopens the issue if the incident comes back."
        }
    return {
        "body": (
            f"Seen again at {_github(event.get('timestamp') or 'an unknown time')}: "
            f"{_github(_what_failed(outcome))}.\n\n{visible(headline(outcome))}\n\n{reasons}"
        )
    }
