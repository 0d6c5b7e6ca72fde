"""Offline classification: what the failure message (and the image's project) tells alone.

Pure: no I/O. The rules below cover the wordings of containerd 1.4 to 2.x, CRI-O, dockerd and
the registries GKE pulls from. Where the text cannot tell (a bare "Back-off pulling image"),
the answer is `unknown`: live evidence decides later, never a guess here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from pullfix.core.causes import Cause
from pullfix.core.imageref import ImageRef, InvalidReference, parse_image
from pullfix.core.intake import IntakeResult, PullFailure, RejectionKind, format_timestamp
from pullfix.core.registry import (
    PUBLIC_ONLY_HOSTS,
    RegistryFamily,
    family_of_host,
    host_in_text,
    image_in_text,
    is_blob_store,
    last_url_host,
)

__all__ = [
    "PENDING_LIVE_CHECK",
    "Diagnosis",
    "Rule",
    "classify",
    "classify_message",
    "offline_record",
]

_EXCERPT_MAX = 90
# Offline, a Google registry's denial leaves the real cause to the live checks; once they
# have run, this caveat is dropped from the reasons.
PENDING_LIVE_CHECK = "Google registry: node identity, scopes and version are checked live"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A cause and the short evidence strings that led to it."""

    cause: Cause
    reasons: tuple[str, ...]
    # The text shows the registry refusing the pull (401/403/denied): only then may a grant
    # follow. Kubelet's follow-ups (`Back-off pulling image`, `Error: ErrImagePull`) do not.
    refused: bool = False
    # The registry family the image (or the text) points at, and the words that decided.
    family: RegistryFamily | None = None
    words: str | None = None
    # The event's image string is no reference (why not): live judgment makes that the
    # cause whatever the text says, and the string never enters a command.
    malformed: str | None = None
    # The text says the pull was cancelled (`context canceled`): the image's size decides.
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One family of wordings: lowercase phrases, and patterns for what a phrase can't say."""

    cause: Cause | None
    explanation: str
    phrases: tuple[str, ...]
    # Each pattern with a literal its matches all contain: the cheap test goes first.
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def last_match(self, lowered: str, original: str) -> str | None:
        """The last wording of this rule in the message (runtimes wrap errors outer to
        inner, so the last one is the root cause), as the message spells it; else None."""
        # Most rules do not apply: ask that first, without a Python step per phrase.
        if not any(map(lowered.__contains__, self.phrases)) and not any(
            guard in lowered and pattern.search(lowered) for guard, pattern in self.patterns
        ):
            return None
        # The match that ends last wins; of those, the longest ("403 forbidden", not "forbidden").
        best_start, best_end = -1, -1
        for phrase in self.phrases:
            start = lowered.rfind(phrase)
            if start >= 0 and (start + len(phrase), -start) > (best_end, -best_start):
                best_start, best_end = start, start + len(phrase)
        for guard, pattern in self.patterns:
            if guard not in lowered:
                continue
            for match in pattern.finditer(lowered):
                if (match.end(), -match.start()) > (best_end, -best_start):
                    best_start, best_end = match.start(), match.end()
        if best_start < 0:
            return None
        # lower() keeps ASCII offsets; for other text, cite the lowercase form.
        source = original if len(original) == len(lowered) else lowered
        return _excerpt(source[best_start:best_end].strip(": "))


def _rule(
    cause: Cause | None,
    explanation: str,
    *phrases: str,
    patterns: tuple[tuple[str, str], ...] = (),
) -> Rule:
    assert all(phrase == phrase.lower() for phrase in phrases), phrases
    compiled = tuple((guard, re.compile(p)) for guard, p in patterns)
    assert all(guard and guard == guard.lower() for guard, _ in compiled), patterns
    return Rule(cause, explanation, phrases, compiled)


# Messages are matched in lowercase. Order matters: the first rule that matches decides,
# so specific wordings come before the generic words they contain ("no match for platform
# in manifest: not found").
_RULES: tuple[Rule, ...] = (
    _rule(
        Cause.PULL_POLICY,
        "image absent on the node under imagePullPolicy Never",
        "not present with pull policy of never",
        "errimageneverpull",
    ),
    _rule(
        Cause.INVALID_NAME,
        "the image reference is malformed",
        "couldn't parse image reference",
        "couldnt parse image reference",
        "invalid reference format",
        "repository name must be lowercase",
        "invalidimagename",
        "failed to apply default image tag",
        "invalid image name",
        "expected colon-separated transport:reference",
        # CRI-O and podman: a short name with no alias and no search registry to try.
        "did not resolve to an alias",
        "short name mode is enforcing",
        "no registries configured while trying to pull an unqualified image",
    ),
    _rule(
        Cause.AUTH_CONFIG,
        "the node's registry credentials are missing, broken or expired",
        "unable to retrieve pull secret",
        "unable to retrieve some image pull secrets",
        "illegal base64 data",
        "error getting credentials",
        "docker-credential-",
        "authorization token has expired",
        "security token included in the request is invalid",
        "no scope specified for token auth challenge",
        "requested repository does not match bearer token resource",
        patterns=((" not found", r'\bsecrets? \\*"[^"\\]{1,253}\\*" not found'),),
    ),
    _rule(
        Cause.IMAGE_FORMAT,
        "the node's containerd no longer pulls Docker schema 1 images",
        # containerd 2.0 core/remotes/docker/schema1/converter.go ErrDisabled (GKE 1.33 nodes)
        "pulling schema 1 images have been deprecated and disabled",
        # containerd 2.0+ core/transfer/local/pull.go (CRI's pull through the transfer service)
        "schema 1 image manifests are no longer supported",
        # containerd 2.1+ client/pull.go and core/remotes/docker/resolver.go: the media type
        # quoted, then "is no longer supported since containerd v2.x"
        'manifest.v1+prettyjws\\" is no longer supported',
        'manifest.v1+prettyjws" is no longer supported',
        # containerd core/remotes/handlers.go and the transfer service's fetch handler
        "application/vnd.docker.distribution.manifest.v1+prettyjws not supported",
    ),
    _rule(
        Cause.PULL_QPS,
        "kubelet's own image pull rate limit (registryPullQPS, registryBurst) refused the pull",
        # kubernetes pkg/kubelet/images/helpers.go, throttledImageService.PullImage:
        # fmt.Errorf("pull QPS exceeded") (older kubelets: "pull QPS exceeded.").
        "pull qps exceeded",
    ),
    _rule(
        Cause.NODE_DISK,
        "the node could not store or unpack the layers",
        "no space left on device",
        "disk quota exceeded",
        "failed to register layer",
        "failed to extract layer",
        "untar re-exec error",
        "applylayer",
        "apply layer error",
        "failed to unpack image on snapshotter",
        "input/output error",
    ),
    _rule(
        Cause.PLATFORM,
        "the image has no variant for the node's OS/architecture",
        "no match for platform in manifest",
        "no matching manifest for",
        "does not match the specified platform",
        # The pull succeeded but the binary is for another architecture.
        "exec format error",
        patterns=(
            (
                "cannot be used on this platform",
                r"image operating system .{1,40} cannot be used on this platform",
            ),
        ),
    ),
    _rule(
        Cause.RATE_LIMIT,
        "the registry is throttling pulls",
        "429 too many requests",
        "too many requests",
        "toomanyrequests",
        "status 429",
        "code = resourceexhausted",
        "resource_exhausted",
        "rate limit",
        "quota exceeded",
        patterns=(("429", r"status code \[[^\]]{0,160}\]: 429\b"),),
    ),
    _rule(
        Cause.NETWORK,
        "the node could not reach the registry",
        "i/o timeout",
        "client.timeout exceeded",
        "tls handshake timeout",
        "context deadline exceeded",
        "code = deadlineexceeded",
        "dial tcp",
        "no such host",
        "server misbehaving",
        "connection refused",
        "connection reset by peer",
        "no route to host",
        "network is unreachable",
        "x509:",
        "tls: ",
        "certificate signed by unknown authority",
        "certificate has expired",
        "certificate is not valid",
        "server gave http response to https client",
        "proxyconnect",
        "unexpected eof",
        patterns=(("eof", r'"?: eof\s*$'),),
    ),
    _rule(
        Cause.NOT_FOUND,
        "Container Registry is shut down: gcr.io no longer serves this image",
        "container registry is deprecated and shutting down",
        "v1 registry api is disabled",
    ),
    _rule(
        Cause.NOT_FOUND,
        "the image, tag or repository does not exist",
        "manifest unknown",
        "name_unknown",
        "manifest_unknown",
        "name unknown",
        "requested entity was not found",
        "code = notfound",
        "404 not found",
        patterns=(
            ("not found", r"\btag \S{1,128} not found\b"),
            ("not found", r"\bmanifest for \S{1,400} not found\b"),
            ('failed to fetch "', r'failed to fetch "[^"]{1,128}" from request'),
            # containerd: failed to resolve reference "IMG": IMG: not found
            ("not found", r":\s+not found\s*$"),
            (
                "not found",
                r"\b(?:image|repository|artifact) \\*['\"]?[^\s'\"]{1,400}['\"]? not found\b",
            ),
            ("not found or deleted", r"\bnot found or deleted\b"),
        ),
    ),
)

# Denials: the registry refused this node. For a Google registry the node's identity,
# scopes or version are to blame (decided with live evidence); elsewhere, credentials.
_DENIED = _rule(
    None,
    "registry refused the pull",
    "403 forbidden",
    "forbidden",
    "status 403",
    "http 403",
    "status code 403",
    "status code: 403",
    "403 response",
    "denied",
    "do not have permission",
    "does not have permission",
    "unauthenticated requests",
    "don't have the needed permissions",
    "please verify that it exists and you have permission",
    "token exchange failed",
    "has been suspended",
    "request rejected",
    "http 412",
    "status code 412",
    "permission_denied",
    "code = permissiondenied",
)
_UNAUTHENTICATED = _rule(
    None,
    "registry refused the pull",
    "401 unauthorized",
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "failed to fetch oauth token",
    "failed to fetch anonymous token",
    "status 401",
    "http 401",
    "status code 401",
    "may require 'docker login'",
    "no credentials on this request",
    "code = unauthenticated",
)
# A cancelled pull: the text cannot tell a large image from a slow path to the registry, so the
# cause stays `unknown` and the image's size, from Artifact Registry, decides live
# (`pullfix.checks.image_size`). containerd's CRI cancels a pull that makes no progress for
# image_pull_progress_timeout ("cancel pulling image %s because of no progress in %v": v2.0.0
# internal/cri/server/images/image_pull.go; 5m by default, internal/cri/config/config.go), and
# kubelet reports "context canceled".
_CANCELLED = _rule(None, "the pull was cancelled before it finished", "context canceled")
# Kubelet's follow-ups name an image it already parsed to try the pull: no parse verdict.
_FOLLOW_UP_RE = re.compile(r"\s*back-off pulling image", re.IGNORECASE)


def gives_no_reason(message: str) -> bool:
    """Whether a pull-failure message is kubelet's back-off, which names the image but not
    why its pull failed (`Back-off pulling image "X"`): the `Failed` event before it does."""
    return bool(_FOLLOW_UP_RE.match(message))


_AR_RESOURCE_RE = re.compile(
    r"projects/(?P<project>[^/\"\s\\]+)/locations/(?P<location>[^/\"\s\\]+)/repositories/"
)


def classify(failure: PullFailure) -> Diagnosis:
    """Diagnose a pull failure from its event alone.

    The cause is the text's, as for pasted text (where redacted names are common); when the
    event's image string does not parse, `malformed` says why, for `judge` to decide on.
    """
    diagnosis = classify_message(
        failure.message, image=failure.image, cluster_project=failure.project
    )
    _, parse_error = _parse(failure.image)
    return replace(diagnosis, malformed=parse_error) if parse_error else diagnosis


def classify_message(
    message: str, *, image: str | None = None, cluster_project: str | None = None
) -> Diagnosis:
    """Diagnose from the kubelet message, the image it names and the cluster's project.

    Pure, so remembered: the kubelet repeats the same text for every back-off of every pod
    of a failing workload, and a storm asks the same question thousands of times.
    """
    if len(message) > _CACHED_MESSAGE_MAX:  # bounded memory: long texts are not kept
        return _classify_cached.__wrapped__(message, image, cluster_project)
    return _classify_cached(message, image, cluster_project)


_CACHED_MESSAGE_MAX = 4096


@functools.lru_cache(maxsize=4096)
def _classify_cached(message: str, image: str | None, cluster_project: str | None) -> Diagnosis:
    """`classify_message`, computed.

    Precedence, in order: what the text proves (a missing manifest, a platform mismatch,
    a timeout, ...) beats what the names suggest; then the registry family bounds what a
    refusal can mean (Google IAM only for a Google registry); with no reason in the text,
    `unknown` rather than a guess.
    """
    parsed, parse_error = _parse(image)
    # The image's own name is no evidence ("…/access-denied:1" refuses nothing): the rules
    # read the text with it masked, character for character, so excerpts keep their places.
    lowered = _masked(message.lower(), image)
    if parsed is not None:
        host: str | None = parsed.registry
    else:
        named = image_in_text(message) if image is None else None
        named_ref, _ = _parse(named)
        host = (
            _host_of(image)
            or (named_ref.registry if named_ref is not None else _host_of(named))
            or host_in_text(message)
        )
    family = family_of_host(host) if host is not None else None
    for rule in _RULES:
        excerpt = rule.last_match(lowered, message)
        if excerpt is not None:
            assert rule.cause is not None
            return Diagnosis(
                rule.cause, (f"{rule.explanation}: {excerpt}",), family=family, words=excerpt
            )

    denied = _DENIED.last_match(lowered, message)
    refusal = denied or _UNAUTHENTICATED.last_match(lowered, message)
    if refusal is not None:
        evidence = f"{_DENIED.explanation}: {refusal}"
        refusing = last_url_host(message)
        if refusing is not None and refusing != (host or "").lower():
            # The registry sent the client elsewhere (a redirect), and that host refused.
            if is_blob_store(refusing):
                return Diagnosis(
                    Cause.NETWORK,
                    (
                        evidence,
                        f"the download was redirected to {refusing}, which refused it: an "
                        "expired signed URL, a proxy or the node's clock, not its credentials",
                    ),
                    family=family,
                    words=refusal,
                )
            # The text may move the family to Google only where the image does not settle
            # it: no image at all, or a registry that serves everyone by redirecting to
            # Google's (registry.k8s.io). A registry's own error text is its operator's
            # to write, so it never turns another registry's image into a Google one.
            if family_of_host(refusing) is RegistryFamily.GOOGLE and _text_may_decide(host):
                family = RegistryFamily.GOOGLE
        resource = _AR_RESOURCE_RE.search(message)
        registry_project = parsed.ar_project if parsed else None
        if registry_project is None and resource is not None and _text_may_decide(host):
            registry_project = resource.group("project")
            family = RegistryFamily.GOOGLE
        if family is RegistryFamily.GOOGLE:
            if registry_project is None:
                diagnosis = Diagnosis(Cause.PERMISSION, (evidence, PENDING_LIVE_CHECK))
            else:
                diagnosis = _google_denial(evidence, registry_project, cluster_project)
            return replace(diagnosis, refused=True, family=family, words=refusal)
        if host is not None and host.lower() in PUBLIC_ONLY_HOSTS:
            return Diagnosis(
                Cause.NETWORK,
                (
                    evidence,
                    f"{host} serves every image anonymously: it refuses clients it blocks "
                    "by address or region",
                ),
                family=family,
                words=refusal,
            )
        if family is None:
            # No registry named at all: a Google registry's denial and another's want of
            # credentials read alike, and only the image can tell them apart.
            return Diagnosis(
                Cause.UNKNOWN,
                (evidence, "the text names no registry: its family decides what this means"),
                words=refusal,
            )
        return Diagnosis(
            Cause.AUTH_CONFIG,
            (
                evidence,
                "a registry outside Google Cloud wants credentials the node lacks: "
                "imagePullSecrets or a credential helper (no Google grant can help)",
            ),
            family=family,
            words=refusal,
        )

    if parse_error is not None and not _FOLLOW_UP_RE.match(message):
        return Diagnosis(Cause.INVALID_NAME, (parse_error,), family=family)
    cancelled = _CANCELLED.last_match(lowered, message)
    if cancelled is not None:
        return Diagnosis(
            Cause.UNKNOWN,
            (
                f"{_CANCELLED.explanation}: {cancelled} (a large image or a slow path to the "
                "registry: the image's size is checked live)",
            ),
            family=family,
            words=cancelled,
            cancelled=True,
        )
    return Diagnosis(
        Cause.UNKNOWN, ("the message does not say why the pull failed",), family=family
    )


def _google_denial(evidence: str, registry_project: str, cluster_project: str | None) -> Diagnosis:
    if cluster_project and registry_project != cluster_project:
        return Diagnosis(
            Cause.CROSS_PROJECT,
            (
                evidence,
                f"repository project {registry_project} differs from cluster project "
                f"{cluster_project}",
            ),
        )
    return Diagnosis(
        Cause.PERMISSION,
        (evidence, PENDING_LIVE_CHECK),
    )


def _masked(lowered: str, image: str | None) -> str:
    if not image or len(image) < 3:
        return lowered
    return lowered.replace(image.lower(), "\x00" * len(image.lower()))


def _text_may_decide(host: str | None) -> bool:
    """Whether the error text may name the registry family: only when the image names no
    registry, or names one that serves everyone (and redirects to where it stores)."""
    return host is None or host.lower() in PUBLIC_ONLY_HOSTS


def _host_of(image: str | None) -> str | None:
    """The registry host of a reference that does not parse, where it shows one."""
    if not image:
        return None
    first = image.split("/", 1)[0]
    if "/" not in image and "." not in first:
        return None
    return first if "." in first or ":" in first or first == "localhost" else None


def _parse(image: str | None) -> tuple[ImageRef | None, str | None]:
    if image is None:
        return None, None
    try:
        return parse_image(image), None
    except InvalidReference as exc:
        return None, f"the image reference is malformed: {exc}"


@functools.lru_cache(maxsize=4096)  # every event of an incident names one image
def _ar_repository_of(image: str) -> str | None:
    parsed, _ = _parse(image)
    return parsed.ar_repository if parsed else None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT_MAX else text[: _EXCERPT_MAX - 1] + "…"


def offline_record(result: IntakeResult) -> dict[str, object]:
    """The `pullfix classify` output object for one intake result."""
    if not isinstance(result, PullFailure):
        if result.kind is RejectionKind.MALFORMED or result.event is None:
            return {"error": result.detail}
        event = result.event
        cause, image = Cause.NOT_A_PULL_FAILURE, None
        reasons: tuple[str, ...] = (result.detail,)
    else:
        event = result
        diagnosis = classify(result)
        cause, reasons, image = diagnosis.cause, diagnosis.reasons, result.image
    return {
        "cause": cause.value,
        "image": image,
        "cluster": event.cluster_resource,
        "namespace": event.namespace,
        "pod": event.pod,
        "container": event.container,
        "node": event.node,
        "workload": event.workload,
        "ar_repository": _ar_repository_of(image) if image else None,
        "kubelet_reason": event.reason or None,
        "timestamp": format_timestamp(event.timestamp) if event.timestamp else None,
        "insert_id": event.insert_id,
        "reasons": list(reasons),
    }
