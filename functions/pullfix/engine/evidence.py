"""Gathering evidence from the Google APIs, step by step, into an `Evidence`.

Shared by `remediate` (for an event) and `pullfix diagnose` (for a node pool and an image):
the same calls, in the same order, with the same answers to what pullfix may not read.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from pullfix.core.access import FALLBACK_BLIND, PolicyRead, explain_policies
from pullfix.core.causes import GRANT_FIXABLE, Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.imageref import ImageRef
from pullfix.core.judge import Evidence, judge
from pullfix.core.model import (
    DOWNLOAD_PERMISSION,
    AccessDenied,
    AccessVerdict,
    GoogleApis,
    TransientError,
)
from pullfix.gcp.errors import ApiCallError, Retryable
from pullfix.logs import log

# After the troubleshooter refuses pullfix itself (no permission, API disabled), how long the
# fallback is used before asking it again (an error about one request starts no backoff).
TROUBLESHOOTER_BACKOFF = 600.0
# The jsonPayload field and value of the warning logged once per backoff period (a refusal
# of the service) or once per event (an error about one request); the log-based metric of
# the Terraform module counts the entries that carry it.
REFUSED_SIGNAL = "troubleshooter_refused"
# Repository modes in which a missing tag is fetched from elsewhere on pull, so its absence
# is no evidence that the image does not exist (Artifact Registry: Repository.Mode).
_PROXY_MODES = frozenset({"REMOTE_REPOSITORY", "VIRTUAL_REPOSITORY"})

__all__ = ["REFUSED_SIGNAL", "TROUBLESHOOTER_BACKOFF", "EvidenceCollector", "grant_may_fix"]

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """The process's threads for calls made while others are under way (made on first use:
    nothing starts at import)."""
    global _pool  # noqa: PLW0603 - one pool per process
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pullfix-evidence")
        return _pool


def _answer(exc: BaseException) -> ApiCallError | None:
    """The API's answer: the error itself, or what AccessDenied was made from."""
    api = exc if isinstance(exc, ApiCallError) else exc.__cause__
    return api if isinstance(api, ApiCallError) else None


def _service_refused(exc: BaseException) -> bool:
    """Whether the troubleshooter's error is about the service (its API disabled, pullfix
    may not use it: every request meets it), not about the one request: a resource that
    does not exist or may not be read (404, 400, or Google's 403 "Permission denied on
    resource project X (or it may not exist)"), which a forged event can provoke at will."""
    api = _answer(exc)
    code = api.code if api is not None else 403
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return not (code in (400, 404) or "may not exist" in text or "not found" in text)


def grant_may_fix(evidence: Evidence) -> bool:
    """Whether the identity checks leave a reader grant as a possible fix."""
    if evidence.unverified is not None or evidence.account is None:
        return False
    probe = judge(Diagnosis(Cause.PERMISSION, ()), evidence)
    return probe.cause in GRANT_FIXABLE


class EvidenceCollector:
    """Asks the Google APIs what `judge` needs to know."""

    def __init__(self, apis: GoogleApis) -> None:
        self.apis = apis
        self._troubleshooter_refused_until = 0.0
        self._refusal = ""  # why the troubleshooter is out of reach, while it is
        self._refusal_lock = threading.Lock()

    @property
    def troubleshooter_refusal(self) -> str | None:
        """Why the troubleshooter is not asked now (its refusal or error), or None."""
        with self._refusal_lock:
            if time.monotonic() < self._troubleshooter_refused_until:
                return self._refusal
            return None

    def _refused(self, exc: Exception) -> None:
        """After the troubleshooter's refusal or permanent error. A refusal of the service
        itself (its API disabled, or pullfix may not use it) starts the backoff: the first
        of a backoff period is logged as a warning (jsonPayload `signal`), the others fall
        within it, one entry per period however many events meet it. An answer about one
        request (the resource it names does not exist, or may not be read: 400, 404, 403)
        starts nothing: one forged event naming a project that does not exist must not
        turn the troubleshooter, and with it deny policies, off for every repository. It is
        logged with the same signal, once for its event."""
        reason = str(exc)
        service = _service_refused(exc)
        with self._refusal_lock:
            now = time.monotonic()
            first = not service or now >= self._troubleshooter_refused_until
            if service and first:
                self._refusal = reason
                self._troubleshooter_refused_until = now + TROUBLESHOOTER_BACKOFF
        if first:
            fields: dict[str, object] = {
                "signal": REFUSED_SIGNAL,
                "reason": reason,
                "permission": DOWNLOAD_PERMISSION,
                "backoff_seconds": TROUBLESHOOTER_BACKOFF if service else 0,
            }
            api = _answer(exc)
            if api is not None:
                fields["error"] = {"code": api.code, "status": api.status, "message": api.message}
            log(
                "WARNING",
                "the Policy Troubleshooter cannot answer pullfix "
                f"({reason}); access is judged from the allow policies pullfix can read, "
                "which show no deny or principal access boundary policies, "
                + (
                    f"for the next {TROUBLESHOOTER_BACKOFF:.0f} s"
                    if service
                    else "for this request only"
                ),
                fields,
            )

    def verify(
        self,
        project: str | None,
        location: str | None,
        cluster_name: str | None,
        node: str | None,
        evidence: Evidence,
        *,
        log_project: str | None = None,
    ) -> None:
        """The event's cluster and node pool, as the GKE and Compute APIs know them."""
        if log_project is not None and project is not None and log_project != project:
            # Cloud Logging writes a GKE entry into its cluster's project: an entry that
            # names another project in its labels did not come from that cluster.
            evidence.unverified = (
                f"the entry was written in project {log_project} (logName) but names "
                f"project {project} (resource.labels.project_id)"
            )
            return
        if not (project and location and cluster_name):
            evidence.unverified = "the event names no complete cluster (project, location, name)"
            return
        resource = f"projects/{project}/locations/{location}/clusters/{cluster_name}"
        try:
            cluster = self.apis.cluster(project, location, cluster_name)
        except AccessDenied as exc:
            evidence.unverified = f"pullfix cannot read the cluster: {exc}"
            return
        if cluster is None:
            evidence.unverified = f"cluster {resource} does not exist (GKE API: 404)"
            return
        evidence.cluster = cluster
        if not node:
            evidence.unverified = "the event names no node"
            return
        candidates = cluster.candidate_groups(node)
        if not candidates:
            evidence.unverified = f"node {node} is in no node pool of {cluster.name}"
            return
        # The name only narrows the search: the instance itself must exist and say which
        # instance group created it (Compute's `created-by` metadata).
        number = None
        looked = []
        for pool, group in candidates:
            try:
                created_by = self.apis.node_created_by(group.project, group.zone, node)
            except AccessDenied as exc:
                evidence.unverified = f"pullfix cannot read node {node}'s instance: {exc}"
                return
            looked.append(f"{group.project}/{group.zone}")
            if created_by is None:
                continue
            if number is None and created_by.split("/")[1:2] != [group.project]:
                number = self.apis.project_number(group.project)
            if group.created(created_by, number):
                evidence.pool = pool
                return
            evidence.unverified = (
                f"instance {node} was not created by node pool {pool.name}'s instance group "
                f"{group.name} (created-by: {created_by or 'none'})"
            )
            return
        evidence.unverified = (
            f"node {node} is no instance of {cluster.name}'s node pools "
            f"(Compute: not found in {', '.join(dict.fromkeys(looked))})"
        )

    def identity(self, evidence: Evidence) -> None:
        """The node pool's service account, resolved and looked up."""
        assert evidence.pool is not None and evidence.cluster is not None
        email = evidence.pool.service_account
        if email == "default":
            number = self.apis.project_number(evidence.cluster.project)
            if number is None:
                evidence.unverified = (
                    f"project {evidence.cluster.project} has no number (not found)"
                )
                return
            email = f"{number}-compute@developer.gserviceaccount.com"
        evidence.account_email = email
        try:
            evidence.account = self.apis.service_account(email)
        except AccessDenied as exc:
            evidence.unverified = f"pullfix cannot confirm the node service account: {exc}"

    def existence(self, evidence: Evidence, image: ImageRef) -> None:
        """Do the image's tag and repository exist?"""
        repository = evidence.repository
        assert repository is not None
        try:
            tag = image.tag_or_latest
            if tag is not None and image.ar_image_path:
                evidence.tag_exists = self.apis.tag_exists(repository, image.ar_image_path, tag)
                if evidence.tag_exists is False:
                    mode = self.apis.repository_mode(repository)
                    evidence.repository_exists = mode is not None
                    if mode in _PROXY_MODES:
                        # A remote or virtual repository fetches what it lacks on pull.
                        evidence.tag_exists = None
                        evidence.notes.append(
                            f"{repository} is a {mode.split('_')[0].lower()} repository: a tag "
                            "it does not hold yet is fetched upstream on pull, so its absence "
                            "proves nothing"
                        )
            else:
                evidence.repository_exists = self.apis.repository_exists(repository)
        except AccessDenied as exc:
            evidence.notes.append(f"could not check that the image exists: {exc}")

    def ask_troubleshooter(self, evidence: Evidence) -> Future[AccessVerdict] | None:
        """Start the troubleshooter's answer for `access` in the background, so that it is
        asked while the rest of the evidence is gathered (one round trip instead of two).
        None when the troubleshooter is out of reach for now."""
        if self.troubleshooter_refusal is not None:
            return None
        assert evidence.repository is not None and evidence.account_email is not None
        asked = _background().submit(
            self.apis.troubleshoot, evidence.account_email, evidence.repository
        )
        # A refusal starts the backoff even when the answer is never used (the image
        # turned out to be missing).
        asked.add_done_callback(self._note_refusal)
        return asked

    def _note_refusal(self, asked: Future[AccessVerdict]) -> None:
        if asked.cancelled():
            return
        error = asked.exception()
        if (
            isinstance(error, AccessDenied | ApiCallError)
            and not isinstance(error, Retryable)
            and _service_refused(error)  # one request's answer is logged where it is used
        ):
            self._refused(error)

    def access(self, evidence: Evidence, asked: Future[AccessVerdict] | None = None) -> None:
        """May the node account already download from the repository, as IAM evaluates it?

        The Policy Troubleshooter first (allow policies up the hierarchy, groups, custom
        roles, conditions, deny policies); when it refuses pullfix or answers with an error
        no retry mends, the allow policies pullfix can read, saying "cannot tell" where they
        do not settle it (after a refusal of the service, for `TROUBLESHOOTER_BACKOFF`
        seconds the troubleshooter is not asked). `asked` is the answer `ask_troubleshooter`
        started, if it did.
        """
        repository = evidence.repository
        assert repository is not None and evidence.account_email is not None
        email = evidence.account_email
        refusal = self.troubleshooter_refusal
        if asked is not None or refusal is None:
            try:
                evidence.verdict = (
                    asked.result()
                    if asked is not None
                    else self.apis.troubleshoot(email, repository)
                )
                return
            except Retryable as exc:  # the adapter makes these TransientError; another may not
                raise TransientError(f"the Policy Troubleshooter: {exc}") from exc
            except (AccessDenied, ApiCallError) as exc:
                # A refusal (403: no permission, API disabled) or an error no retry mends
                # (400, 404): the troubleshooter cannot answer, so the fallback does, and
                # the event is not failed for Pub/Sub to redeliver it again and again.
                # TransientError (429, 5xx, timeouts) goes up: Pub/Sub redelivers.
                self._refused(exc)
                refusal = str(exc)
        evidence.notes.append(
            f"the Policy Troubleshooter cannot answer pullfix ({refusal}); judged from "
            f"{FALLBACK_BLIND}"
        )
        evidence.verdict = self._from_policies(evidence, email, repository)

    def _from_policies(self, evidence: Evidence, email: str, repository: str) -> AccessVerdict:
        chain: list[PolicyRead] = []
        try:
            policy = self.apis.repository_policy(repository)
            evidence.repository_policy = policy
            chain.append(PolicyRead(repository, policy))
        except AccessDenied as exc:
            evidence.policy_error = str(exc)
            chain.append(PolicyRead(repository, None, str(exc)))
        project = evidence.repository_project
        assert project is not None
        resources = [f"projects/{project}"]
        try:
            resources.extend(self.apis.ancestry(project))
        except AccessDenied as exc:
            chain.append(PolicyRead(f"the ancestors of projects/{project}", None, str(exc)))
        for resource in resources:
            try:
                chain.append(PolicyRead(resource, self.apis.resource_policy(resource)))
            except AccessDenied as exc:
                chain.append(PolicyRead(resource, None, str(exc)))
        return explain_policies(email, chain, self._permissions_or_none)

    def _permissions_or_none(self, role: str) -> frozenset[str] | None:
        try:
            return self.apis.role_permissions(role)
        except AccessDenied:
            return None
