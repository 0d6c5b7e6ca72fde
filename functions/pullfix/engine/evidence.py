"""The process's side of gathering evidence: the Google APIs, and the Policy Troubleshooter's
backoff after it refuses pullfix, shared by every event an instance handles.

The checks themselves (`pullfix.checks`) say what is read and in which order; `remediate`,
`pullfix diagnose` and `pullfix verify` gather through an `EvidenceCollector`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from pullfix.checks import access, verification
from pullfix.checks.registry import grant_may_fix
from pullfix.clock import SYSTEM, Clock
from pullfix.core.judge import EventClaims, Evidence
from pullfix.core.model import DOWNLOAD_PERMISSION, AccessDenied, AccessVerdict, GoogleApis
from pullfix.gcp.errors import ApiCallError, Retryable
from pullfix.logs import log

# After the troubleshooter refuses pullfix itself (no permission, API disabled), how long the
# fallback is used before asking it again (an error about one request starts no backoff).
TROUBLESHOOTER_BACKOFF = 600.0
# The jsonPayload field and value of the warning logged once per backoff period (a refusal
# of the service) or once per event (an error about one request); the log-based metric of
# the Terraform module counts the entries that carry it.
REFUSED_SIGNAL = "troubleshooter_refused"

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


class EvidenceCollector:
    """The APIs the checks read, and the troubleshooter's backoff (one per instance)."""

    def __init__(self, apis: GoogleApis, clock: Clock = SYSTEM) -> None:
        self.apis = apis
        self.clock = clock  # the troubleshooter's backoff runs on it (`pullfix.clock`)
        self._troubleshooter_refused_until = 0.0
        self._refusal = ""  # why the troubleshooter is out of reach, while it is
        self._refusal_lock = threading.Lock()

    @property
    def troubleshooter_refusal(self) -> str | None:
        """Why the troubleshooter is not asked now (its refusal or error), or None."""
        with self._refusal_lock:
            if self.clock.monotonic() < self._troubleshooter_refused_until:
                return self._refusal
            return None

    def refused(self, exc: Exception) -> None:
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
            now = self.clock.monotonic()
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
        """The event's cluster and node pool, as the GKE and Compute APIs know them
        (`pullfix.checks.verification`)."""
        evidence.claims = EventClaims(project, location, cluster_name, node, log_project)
        verification.gather(self, evidence)

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
            self.refused(error)

    def access(self, evidence: Evidence, asked: Future[AccessVerdict] | None = None) -> None:
        """May the node account already download from the repository, as IAM evaluates it?
        (`pullfix.checks.access`; `asked` is the answer `ask_troubleshooter` started.)"""
        access.gather_access(self, evidence, asked)
