"""Scoring pullfix's offline diagnosis against the corpus of real pull errors.

The corpus (`tests/data/corpus/real_world.jsonl`) holds error texts quoted from public
issue threads, each with its source URL, the registry the thread pulled from and the causes
the thread's resolution allows. Each text is scored as GKE reports it: inside a kubelet
`Failed to pull image "IMAGE": …` event (texts that already are one stay as they are), read
by pullfix's intake like any LogEntry. Where the quoted text names no image, the event names
one of the thread's registry, as the kubelet always does.

A fifth of the corpus, chosen once by the SHA-256 of the source URL, is held out of
development: its figure is the honest one.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pullfix.core.causes import Cause
from pullfix.core.classify import classify
from pullfix.core.explain import explain_text
from pullfix.core.intake import PullFailure, parse_event
from pullfix.core.registry import image_in_text
from pullfix.dev.events import log_entry

__all__ = [
    "CLUSTER_PROJECT",
    "CorpusLine",
    "Score",
    "cause_family",
    "held_out",
    "load_corpus",
    "score",
    "verdict",
]

# The cluster the events come from: a project no corpus registry lives in.
CLUSTER_PROJECT = "gke-cluster-project"
# An image of each registry for texts that quote none (never used when the text names one).
_THREAD_IMAGE = {
    "artifact_registry": "us-docker.pkg.dev/thread-project/images/app:1",
    "container_registry": "gcr.io/thread-project/app:1",
    "docker_hub": "thread-user/app:1",
    "ecr": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1",
    "ghcr": "ghcr.io/thread-user/app:1",
    "quay": "quay.io/thread-user/app:1",
    "acr": "threadregistry.azurecr.io/app:1",
    "gitlab": "registry.gitlab.com/thread-user/app:1",
    "private": "registry.thread.example/app:1",
}
_KUBELET_PREFIXES = ('Failed to pull image "', 'Back-off pulling image "')
# Google IAM's causes are one family: the text alone cannot tell them apart.
_IAM_FAMILY = {
    Cause.PERMISSION,
    Cause.CROSS_PROJECT,
    Cause.ROLE,
    Cause.SCOPE,
    Cause.VERSION,
    Cause.SERVICE_ACCOUNT,
}


def cause_family(cause: str) -> str:
    return "permission" if cause in _IAM_FAMILY else cause


@dataclass(frozen=True, slots=True)
class CorpusLine:
    message: str
    source: str
    registry: str
    label: str
    accept: frozenset[str]
    note: str

    @property
    def held_out(self) -> bool:
        return held_out(self.source)

    def event_message(self) -> str | None:
        """The kubelet event message for this text; None when neither the text nor the
        thread names a registry to wrap it with (then the raw text is scored)."""
        if self.message.startswith(_KUBELET_PREFIXES):
            return self.message
        image = image_in_text(self.message) or _THREAD_IMAGE.get(self.registry)
        if image is None:
            return None
        return f'Failed to pull image "{image}": rpc error: code = Unknown desc = {self.message}'


def held_out(source: str) -> bool:
    """Whether a source URL's lines are kept out of development (one fifth, by hash)."""
    return hashlib.sha256(source.encode()).digest()[0] % 5 == 0


def load_corpus(path: Path) -> list[CorpusLine]:
    lines = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        data = json.loads(raw)
        accept = frozenset(data["accept"])
        if data["label"] not in accept:
            raise ValueError(f"{path}:{number}: label {data['label']!r} is not in accept")
        lines.append(
            CorpusLine(
                message=data["message"],
                source=data["source"],
                registry=data["registry"],
                label=data["label"],
                accept=accept,
                note=data.get("note", ""),
            )
        )
    return lines


def verdict(line: CorpusLine) -> str:
    """pullfix's cause for a corpus line, read as a kubelet event through intake."""
    message = line.event_message()
    if message is None:
        return explain_text(line.message, cluster_project=CLUSTER_PROJECT).cause.value
    entry = log_entry(
        project=CLUSTER_PROJECT,
        location="us-central1",
        cluster="corpus",
        namespace="default",
        pod="app-5d8f7c9b6d-x2x7q",
        node="gke-corpus-default-pool-1a2b3c4d-x7k9",
        message=message,
    )
    result = parse_event(entry)
    if not isinstance(result, PullFailure):
        return Cause.NOT_A_PULL_FAILURE.value
    return classify(result).cause.value


@dataclass(frozen=True, slots=True)
class Score:
    total: int
    right: int
    confidently_wrong: int
    abstained: int  # `unknown` where the thread's causes do not include it
    confusion: Counter[tuple[str, str]]  # (label, family of pullfix's cause) -> count
    misses: tuple[tuple[CorpusLine, str], ...]

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    @property
    def wrong_rate(self) -> float:
        return self.confidently_wrong / self.total if self.total else 0.0


def judged(line: CorpusLine, cause: str) -> str:
    """ "right", "abstained" or "wrong" for pullfix's cause on a line."""
    family = cause_family(cause)
    if family in {cause_family(c) for c in line.accept}:
        return "right"
    return "abstained" if cause == Cause.UNKNOWN.value else "wrong"


def score(lines: Iterable[CorpusLine]) -> Score:
    counts: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    misses: list[tuple[CorpusLine, str]] = []
    total = 0
    for line in lines:
        total += 1
        cause = verdict(line)
        outcome = judged(line, cause)
        counts[outcome] += 1
        confusion[(line.label, cause_family(cause))] += 1
        if outcome != "right":
            misses.append((line, cause))
    return Score(
        total, counts["right"], counts["wrong"], counts["abstained"], confusion, tuple(misses)
    )


def report(all_lines: list[CorpusLine]) -> dict[str, Any]:
    """The figures `make bench` prints: whole corpus and the held-out fifth."""
    whole = score(all_lines)
    held = score(line for line in all_lines if line.held_out)
    return {"whole": whole, "held_out": held}
