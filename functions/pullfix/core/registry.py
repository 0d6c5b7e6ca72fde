"""Which registry family an image (or an error text) points at, decided before any cause.

The family bounds the causes: only a Google registry answers to Google IAM (the node's
service account, its scopes, a reader grant). Anything else that refuses a pull wants
credentials pullfix cannot grant: imagePullSecrets, a credential helper, a token.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pullfix.core.imageref import DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, ImageRef

__all__ = [
    "PUBLIC_ONLY_HOSTS",
    "RegistryFamily",
    "family_of_host",
    "host_in_text",
    "image_in_text",
    "is_blob_store",
    "last_url_host",
]


class RegistryFamily(StrEnum):
    GOOGLE = "google"  # Artifact Registry and Container Registry: IAM decides
    DOCKER_HUB = "docker_hub"
    OTHER_KNOWN = "other_known"  # a public registry service that is not Google's
    UNKNOWN = "unknown"  # a private or unrecognised host; or no host at all


# storage.googleapis.com: Container Registry kept layers in Cloud Storage buckets
# (artifacts.PROJECT.appspot.com), read under the node's IAM like the registry itself.
_GOOGLE_RE = re.compile(
    r"(?:^|\.)(?:[a-z0-9-]+-docker\.pkg\.dev|docker\.pkg\.dev|gcr\.io|storage\.googleapis\.com)$"
)
_DOCKER_HUB = {
    DEFAULT_DOMAIN,
    LEGACY_DEFAULT_DOMAIN,
    "registry-1.docker.io",
    "registry.hub.docker.com",
    "auth.docker.io",
    "production.cloudflare.docker.com",
}
_OTHER_KNOWN_RE = re.compile(
    r"(?:^|\.)(?:ghcr\.io|quay\.io|registry\.k8s\.io|public\.ecr\.aws|amazonaws\.com(?:\.cn)?"
    r"|azurecr\.io|azurecr\.cn|mcr\.microsoft\.com|registry\.gitlab\.com|nvcr\.io"
    r"|docker\.elastic\.co|registry\.access\.redhat\.com|registry\.redhat\.io|icr\.io)$"
)
# k8s.gcr.io and its siblings are Google-hosted but public projects: IAM of the node does
# not enter into it, so they count as other known registries, like registry.k8s.io.
_COMMUNITY_GCR = {"k8s.gcr.io", "mirror.gcr.io"}
# Registries that serve every image anonymously: a refusal there is not about credentials
# (they answer 403 to clients they block by address or region).
PUBLIC_ONLY_HOSTS = frozenset({"registry.k8s.io", *_COMMUNITY_GCR})

_URL_HOST_RE = re.compile(
    # After "https://", skip what redaction left before the host ("<account id>.dkr.ecr…").
    r"(?:https?://[^/\"\n]{0,40}?|docker://|lookup |host |reference \\*\"|image \\*\")"
    r"(?P<host>(?:[a-z0-9_-]+\.)+[a-z0-9-]+)(?::\d+)?(?=[/\"\\:\s]|$)",
    re.IGNORECASE,
)


def family_of_host(host: str) -> RegistryFamily:
    """The family of a registry host name (port and case ignored)."""
    host = host.lower().split(":", 1)[0]
    if host in _COMMUNITY_GCR:
        return RegistryFamily.OTHER_KNOWN
    if _GOOGLE_RE.search(host):
        return RegistryFamily.GOOGLE
    if host in _DOCKER_HUB:
        return RegistryFamily.DOCKER_HUB
    if _OTHER_KNOWN_RE.search(host):
        return RegistryFamily.OTHER_KNOWN
    return RegistryFamily.UNKNOWN


def family_of_image(image: ImageRef) -> RegistryFamily:
    return family_of_host(image.registry)


# Hosts are looked for this far into a text: errors name their registry early, and the
# scan costs time in proportion to what it reads.
_SCAN_MAX = 8192


def host_in_text(text: str) -> str | None:
    """The first registry host a raw error text names (in a URL, a lookup, a reference)."""
    for match in _URL_HOST_RE.finditer(text[:_SCAN_MAX]):
        host = match.group("host").lower()
        if "." in host and not host.replace(".", "").isdigit():
            return host
    return None


_URL_RE = re.compile(r"https?://(?P<host>[a-z0-9_.-]+)", re.IGNORECASE)
# Where registries redirect layer and manifest downloads: a refusal from one of these is
# about the signed URL or the way to it (a proxy, the clock), not the node's credentials.
_BLOB_STORE_RE = re.compile(
    r"(?:^|\.)(?:cloudfront\.net|s3[.-][a-z0-9.-]*amazonaws\.com|s3\.amazonaws\.com"
    r"|blob\.core\.windows\.net|r2\.cloudflarestorage\.com"
    # Docker Hub's, GHCR's and Quay's layer CDNs.
    r"|production\.cloudflare\.docker\.com|pkg-containers\.githubusercontent\.com"
    r"|cdn\d*\.quay\.io)$"
)


def last_url_host(text: str) -> str | None:
    """The host of the last URL in a text: runtimes quote the request that failed last."""
    hosts = [m.group("host").lower() for m in _URL_RE.finditer(text[-_SCAN_MAX:])]
    return hosts[-1] if hosts else None


def is_blob_store(host: str) -> bool:
    return _BLOB_STORE_RE.search(host.lower()) is not None


_IMAGE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        # kubelet, CRI-O and dockerd name the image in quotes after these words
        r"(?:failed to pull image|back-off pulling image|failed to inspect image|pullimage"
        r"|pulling image|failed to pull and unpack image|container image)\s+\\*[\"“”']"
        r"(?P<image>[^\"“”'\\]{0,2048})\\*[\"“”']",
        r"pull access denied for \\*\"?(?P<image>[^\s,\"\\]+)",
        r"failed to resolve ref(?:erence)? \\*\"?(?P<image>[^\s\"\\]+?)\\*\"?(?::\s|\s|$)",
        r"docker://(?P<image>[^\s\"]+?):?(?:\s|$)",
        r"error reading manifest \S+ in (?P<image>[^\s:]+)",
        r"manifest for (?P<image>[^\s\"]+) not found",
        r"(?:image pull failed for|error pulling and saving image) (?P<image>[^\s,\"]+)",
        r"short-name \\*\"(?P<image>[^\"\\]+)",
        r"^(?P<image>[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?/[^\s:]+(?::[\w.-]+)?):\s",
    )
)


def image_in_text(text: str) -> str | None:
    """The image reference a raw error text names, as written; None when it names none."""
    for pattern in _IMAGE_PATTERNS:
        match = pattern.search(text[:_SCAN_MAX])
        if match is not None:
            return match.group("image")
    return None
