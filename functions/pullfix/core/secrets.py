"""Webhook URLs and tokens from the environment: normalised once, checked, never echoed.

A secret stored with `echo` ends in a newline, and one pasted from a browser may carry spaces;
surrounding white space is dropped. What is left must be well-formed, and a problem names the
environment variable, never its value (URLs carry tokens in their query strings).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping

from pullfix.core.config import ConfigError

__all__ = ["LOOPBACK_HOSTS", "github_token", "slack_token", "webhook_url"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# GitHub's token formats: ghp_/gho_/ghu_/ghs_/ghr_ plus 36 characters, github_pat_ plus 82,
# and the older 40 hex digits (https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_]{20,255}")
_UNSAFE_RE = re.compile(r"[\x00-\x20\x7f]")


def _value(environ: Mapping[str, str], name: str | None, what: str) -> str:
    value = environ.get(name or "", "").strip()
    if not value:
        raise ConfigError(f"{what}: environment variable {name} is not set")
    return value


def webhook_url(environ: Mapping[str, str], name: str | None, what: str) -> str:
    """The URL in `$name`: https, or http to this machine (local receivers)."""
    url = _value(environ, name, what)
    if _UNSAFE_RE.search(url):
        raise ConfigError(f"{what}: the URL in ${name} contains white space or control characters")
    try:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname
    except ValueError:
        raise ConfigError(f"{what}: the value of ${name} is not a URL") from None
    if not host:
        raise ConfigError(f"{what}: the value of ${name} is not a URL")
    if not (parsed.scheme == "https" or (parsed.scheme == "http" and host in LOOPBACK_HOSTS)):
        raise ConfigError(f"{what}: the URL in ${name} must be https")
    return url


def github_token(environ: Mapping[str, str], name: str | None, what: str) -> str:
    """The token in `$name`, in GitHub's token alphabet."""
    token = _value(environ, name, what)
    if not _TOKEN_RE.fullmatch(token):
        raise ConfigError(f"{what}: the value of ${name} is not a GitHub token")
    return token


# Slack's bot and user tokens: xoxb-/xoxp- and dash-separated alphanumerics
# (https://api.slack.com/authentication/token-types).
_SLACK_TOKEN_RE = re.compile(r"xox[bp]-[A-Za-z0-9-]{10,250}")


def slack_token(environ: Mapping[str, str], name: str | None, what: str) -> str:
    """The Slack bot token in `$name` (for chat.postMessage, which threads replies)."""
    token = _value(environ, name, what)
    if not _SLACK_TOKEN_RE.fullmatch(token):
        raise ConfigError(f"{what}: the value of ${name} is not a Slack bot token (xoxb-…)")
    return token
