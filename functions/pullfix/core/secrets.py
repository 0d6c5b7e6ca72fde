"""Webhook URLs and tokens from the environment: normalised once, checked, never echoed.

A secret stored with `echo` ends in a newline, and one pasted from a browser may carry spaces;
surrounding ASCII white space is dropped, and any other white space is an error. What is left
must be well-formed, and a problem names the environment variable, never its value (URLs carry
tokens in their query strings).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping

from pullfix.errors import ConfigError

__all__ = ["LOOPBACK_HOSTS", "github_token", "slack_token", "url_problem", "webhook_url"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# GitHub's token formats: ghp_/gho_/ghu_/ghs_/ghr_ plus 36 characters, github_pat_ plus 82,
# and the older 40 hex digits (https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_]{20,255}")
# What `echo` and editors leave around a value. Other white space (a no-break space pasted
# from a browser, U+2028) is no part of any URL or token: it is refused, not dropped.
_SURROUNDING = " \t\r\n\v\f"
# A host name as DNS has them: dot-separated labels of at most 63 letters, digits and hyphens
# (and underscores, which some names have and HTTP clients accept).
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_RE = re.compile(rf"(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?")


def _value(environ: Mapping[str, str], name: str | None, what: str) -> str:
    value = environ.get(name or "", "").strip(_SURROUNDING)
    if not value:
        raise ConfigError(f"{what}: environment variable {name} is not set")
    return value


def webhook_url(environ: Mapping[str, str], name: str | None, what: str) -> str:
    """The URL in `$name`: https, or http to this machine (local receivers); no white space
    (of any script), no user name or password, a host DNS or IP can have, a port 1-65535."""
    url = _value(environ, name, what)
    problem = url_problem(url)
    if problem is not None:
        raise ConfigError(f"{what}: the URL in ${name} {problem}")
    return url


def url_problem(url: str) -> str | None:
    """What makes `url` unfit as a webhook URL (never quoting it), or None."""
    bad = next((c for c in url if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        return f"contains white space or control characters (U+{ord(bad):04X})"
    if not url.isascii():
        return "contains characters that are not ASCII (percent-encode them)"
    try:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname
    except ValueError:
        return "is not a URL"
    if not host:
        return "is not a URL"
    if "@" in parsed.netloc:
        # urllib and requests would send it as a Basic credential, and log lines that quote
        # the host would quote it too; webhook tokens go in the path or the query.
        return "must not carry a user name or password (user:password@host)"
    try:
        port = parsed.port
    except ValueError:
        port = 0
    if port == 0:
        return "has an impossible port (expected 1-65535)"
    if not (_HOST_RE.fullmatch(host) or _ip_address(host)):
        return "has no valid host name"
    if not (parsed.scheme == "https" or (parsed.scheme == "http" and host in LOOPBACK_HOSTS)):
        return "must be https"
    return None


def _ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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
