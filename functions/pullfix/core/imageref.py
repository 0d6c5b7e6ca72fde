"""Container image references: the Docker reference grammar and Artifact Registry names.

The grammar is the one distribution/reference implements (and containerd, CRI-O and
dockerd all use), including Docker Hub normalisation:

    reference   := name [ ":" tag ] [ "@" digest ]
    name        := [domain "/"] path-component ["/" path-component]*
    domain      := host [":" port]
    host        := domain-name | IPv4 | "[" IPv6 "]"
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pullfix.errors import PullfixError

__all__ = ["ImageRef", "InvalidReference", "image_or_none", "parse_image"]

NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN_RE = re.compile(rf"{_HOST}(?::[0-9]+)?")
_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})")
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
# Algorithms go-digest can verify, with the length of their hex encoding.
# Longest name + ":" + tag + "@" + sha512 digest: anything longer is rejected unread.
_REFERENCE_LENGTH_MAX = NAME_TOTAL_LENGTH_MAX + 16 + 1 + 128 + 1 + 7 + 128
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}

_PKG_DEV_RE = re.compile(r"([a-z][a-z0-9-]*[a-z0-9])-docker\.pkg\.dev")
# Container Registry hosts, now served by Artifact Registry "gcr.io" repositories.
_GCR_LOCATIONS = {"gcr.io": "us", "us.gcr.io": "us", "eu.gcr.io": "europe", "asia.gcr.io": "asia"}


class InvalidReference(PullfixError, ValueError):
    """A string that the Docker reference grammar rejects."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed, normalised image reference."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The fully qualified name without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def ar_repository(self) -> str | None:
        """`projects/P/locations/L/repositories/R` for Artifact Registry and gcr.io images."""
        parts = self._ar_parts()
        if parts is None:
            return None
        project, location, repo, _ = parts
        return f"projects/{project}/locations/{location}/repositories/{repo}"

    @property
    def ar_image_path(self) -> str | None:
        """The image's path inside its Artifact Registry repository (its package name)."""
        parts = self._ar_parts()
        return parts[3] if parts else None

    def _ar_parts(self) -> tuple[str, str, str, str] | None:
        location_repo = _ar_location_and_repository(self.registry)
        if location_repo is None:
            return None
        location, fixed_repo = location_repo
        segments = self.repository.split("/")
        # Domain-scoped projects appear as "example.com/project" in the path.
        skip = 2 if "." in segments[0] else 1
        project = ":".join(segments[:skip])
        rest = segments[skip:]
        if fixed_repo is None:
            # LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE...
            if len(rest) < 2:
                return None
            return project, location, rest[0], "/".join(rest[1:])
        if not rest:
            return None
        return project, location, fixed_repo, "/".join(rest)

    @property
    def ar_project(self) -> str | None:
        """The project that owns the image's Artifact Registry repository, if any."""
        repo = self.ar_repository
        return repo.split("/")[1] if repo else None

    @property
    def tag_or_latest(self) -> str | None:
        """The tag a runtime pulls: the explicit one, `latest` without tag or digest."""
        if self.tag is not None:
            return self.tag
        return None if self.digest else "latest"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _ar_location_and_repository(registry: str) -> tuple[str, str | None] | None:
    if registry in _GCR_LOCATIONS:
        return _GCR_LOCATIONS[registry], registry
    match = _PKG_DEV_RE.fullmatch(registry)
    if match:
        return match.group(1), None
    return None


def _split_domain(name: str) -> tuple[str, str]:
    """Docker's rule: the first component is a domain only if it looks like one."""
    slash = name.find("/")
    first = name[:slash]
    if slash == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[slash + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_image(ref: str) -> ImageRef:
    """Parse and normalise an image reference; raise InvalidReference if it is malformed."""
    if not isinstance(ref, str):
        raise InvalidReference(f"image reference must be a string, not {type(ref).__name__}")
    return _parse_image(ref)


def image_or_none(text: str | None) -> ImageRef | None:
    """An event's image as a reference, or None where it names none or no valid one (the
    string then never enters a command)."""
    if text is None:
        return None
    try:
        return parse_image(text)
    except InvalidReference:
        return None


@functools.lru_cache(maxsize=4096)  # references repeat: every event of an incident names one
def _parse_image(ref: str) -> ImageRef:
    if not ref:
        raise InvalidReference("image reference is empty")
    if len(ref) > _REFERENCE_LENGTH_MAX:
        raise InvalidReference(f"image reference is {len(ref)} characters long")
    if ref != ref.strip():
        raise InvalidReference(f"image reference {ref!r} has surrounding whitespace")

    rest, at, digest = ref.partition("@")
    digest_value: str | None = None
    if at:
        digest_value = _parse_digest(digest, ref)

    # A tag follows the last colon that comes after the last slash (ports come before).
    tag: str | None = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReference(f"invalid tag {tag!r} in {ref!r}")

    if not rest:
        raise InvalidReference(f"{ref!r} has no repository name")

    domain, remainder = _split_domain(rest)
    if not _DOMAIN_RE.fullmatch(domain):
        raise InvalidReference(f"invalid registry domain {domain!r} in {ref!r}")
    if remainder.lower() != remainder:
        raise InvalidReference(f"repository name must be lowercase: {ref!r}")
    components = remainder.split("/")
    for component in components:
        if not _PATH_COMPONENT_RE.fullmatch(component):
            raise InvalidReference(f"invalid path component {component!r} in {ref!r}")
    if _IDENTIFIER_RE.fullmatch(ref):
        raise InvalidReference(
            f"invalid repository name {ref!r}: cannot be a 64-character hex identifier"
        )
    # The limit applies to the normalised name, as distribution/reference counts it.
    if len(domain) + 1 + len(remainder) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"repository name in {ref!r} is longer than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    return ImageRef(registry=domain.lower(), repository=remainder, tag=tag, digest=digest_value)


def _parse_digest(digest: str, ref: str) -> str:
    match = _DIGEST_RE.fullmatch(digest)
    if not match:
        raise InvalidReference(f"invalid digest {digest!r} in {ref!r}")
    algorithm, encoded = match.groups()
    expected = _DIGEST_HEX_LENGTH.get(algorithm)
    if expected is None:
        raise InvalidReference(f"unsupported digest algorithm {algorithm!r} in {ref!r}")
    if len(encoded) != expected or encoded.lower() != encoded:
        raise InvalidReference(
            f"invalid {algorithm} digest in {ref!r}: want {expected} lowercase hex characters"
        )
    return digest
