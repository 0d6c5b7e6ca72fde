"""What each destination would make live of a message: mentions, links, images, HTML.

GitHub Markdown is rendered by GitHub's own parser (cmark-gfm, with its autolink extension,
raw HTML let through), and the mention and reference filters GitHub runs afterwards are
applied to the text outside code and links. Slack and Google Chat text are read by their
documented syntax: Slack's `<…>` control sequences (links, `<@U…>`, `<!channel>`), Google
Chat's `<users/…>` mentions and `<url|text>` links, and the bare URLs both services link
(even inside code, where their behaviour is not documented; pullfix's own metadata-server
URL excepted).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import cmarkgfm
from cmarkgfm.cmark import Options

# URLs pullfix itself writes into commands (the node's metadata server).
_OWN_URLS = ("http://metadata.google.internal/",)
_BARE_URL_RE = re.compile(r"(?i)\b(?:https?|ftp)://\S+|\bwww\.\S+")
_CODE_BLOCK_RE = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")


def _urls(prose: str) -> list[str]:
    return [u for u in _BARE_URL_RE.findall(prose) if not u.startswith(_OWN_URLS)]


class _GitHubHtml(HTMLParser):
    ALLOWED = frozenset({"p", "em", "strong", "ul", "ol", "li", "pre", "code", "br"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self.comments: list[str] = []
        self._quiet = 0  # inside code, pre or a link: GitHub's filters skip it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.live.append(f"<{tag} {attrs}>")
        if tag in ("code", "pre", "a"):
            self._quiet += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre", "a"):
            self._quiet -= 1

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        if self._quiet:
            return
        # GitHub's mention filter: @user, @org/team; its reference filter: #1, GH-1, o/r#1.
        self.live += _MENTION_RE.findall(data) + _REFERENCE_RE.findall(data)


_MARKER_LINE_RE = re.compile(
    r"<!-- pullfix-fingerprint: [A-Za-z0-9_.:-]+ delivery: [A-Za-z0-9_.:-]+ -->"
)
_MENTION_RE = re.compile(r"(?<![\w`])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[\w.-]+)?")
_REFERENCE_RE = re.compile(r"(?:\b[\w.-]+/[\w.-]+)?#\d+|\bGH-\d+", re.IGNORECASE)


def github_live(markdown: str, *, marker_line: bool = False) -> list[str]:
    """What GitHub would make live in `markdown`: tags other than plain formatting, links,
    images, HTML comments, mentions, references. With `marker_line`, the first line must be
    pullfix's marker, the one comment allowed."""
    if marker_line:
        first, _, markdown = markdown.partition("\n")
        assert _MARKER_LINE_RE.fullmatch(first), first
    rendered = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parser = _GitHubHtml()
    parser.feed(rendered)
    return [*parser.live, *(f"<!--{c}-->" for c in parser.comments)]


def github_title_live(title: str) -> list[str]:
    """An issue title is plain text, in which GitHub links mentions and references."""
    return _MENTION_RE.findall(title) + _REFERENCE_RE.findall(title)


def slack_live(text: str) -> list[str]:
    """Slack control sequences (links, user, channel and group mentions, !here, !channel)
    and bare URLs (which Slack links) anywhere; `@here`-style words outside code."""
    live = re.findall(r"<[^<>]*>", text)
    live += _urls(text)  # in code too: what a chat service links there is not known
    prose = _INLINE_CODE_RE.sub("", _CODE_BLOCK_RE.sub("", text))
    live += re.findall(r"(?<![\w])@(?:here|channel|everyone)\b", prose)
    return live


def chat_text_live(text: str) -> list[str]:
    """Google Chat text: `<users/…>` mentions, `<url|text>` links and bare URLs anywhere;
    outside code, `*bold*` / `~strike~` (but pullfix's own bold first line)."""
    live = re.findall(r"<\s*(?:users/|https?:|mailto:|ftp:)[^>]*>", text, re.IGNORECASE)
    live += _urls(text)  # in code too: what a chat service links there is not known
    prose = _INLINE_CODE_RE.sub("", _CODE_BLOCK_RE.sub("", text.split("\n", 1)[-1]))
    live += re.findall(r"(?<![\w*])\*[^*\s][^*\n]*\*(?![\w*])", prose)
    live += re.findall(r"(?<![\w~])~[^~\s][^~\n]*~(?![\w~])", prose)
    return live


class _CardHtml(HTMLParser):
    ALLOWED = frozenset({"br", "b", "font"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED or (tag == "font" and attrs != [("color", "#1a73e8")]):
            self.live.append(f"<{tag} {attrs}>")

    def handle_data(self, data: str) -> None:  # shown as it is, but for bare URLs
        self.live += _urls(data)


def chat_card_live(message: dict[str, Any]) -> list[str]:
    """Google Chat card text (an HTML subset): tags beyond pullfix's own formatting, and
    bare URLs (Chat links them)."""
    live: list[str] = []
    card = message["cardsV2"][0]["card"]
    header = card["header"]
    live += chat_text_live("\n" + header["title"]) + chat_text_live("\n" + header["subtitle"])
    for section in card["sections"]:
        for widget in section["widgets"]:
            text = (widget.get("textParagraph") or widget.get("decoratedText") or {}).get("text")
            parser = _CardHtml()
            parser.feed(text or "")
            live += parser.live
    return live
