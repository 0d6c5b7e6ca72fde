"""Raw pull-error text, as people paste it: a containerd journal line, `docker pull` output,
a `kubectl describe` excerpt. One verdict per line that shows a pull failure.

`pullfix classify --text` prints these. The image is found in the text where it names one
(kubelet's quoted image, "pull access denied for X", a resolved reference, a `docker://`
source); the registry family comes from it, or from a registry host the text names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pullfix.core.classify import Diagnosis, classify_message
from pullfix.core.registry import image_in_text

__all__ = ["TextVerdict", "explain_lines", "explain_text"]

# Lines that show something failing (a line without any of these, "Pulling image" or
# "Successfully assigned", is context, not a verdict).
_FAILURE_LINE_RE = re.compile(
    r"fail|error|err[A-Z]|denied|unauthori[sz]ed|forbidden|not found|notfound|not present"
    r"|toomanyrequests|too many requests|back-off|backoff|x509|timeout|timed out|refused"
    r"|no space|exec format|invalid|no such host|no matching manifest|short-name|eof\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class TextVerdict:
    """One input line's verdict."""

    line: int  # 1-based, in the input
    text: str
    image: str | None
    diagnosis: Diagnosis

    def to_dict(self) -> dict[str, object]:
        family = self.diagnosis.family
        return {
            "line": self.line,
            "cause": self.diagnosis.cause.value,
            "registry_family": family.value if family is not None else None,
            "image": self.image,
            "words": self.diagnosis.words,
            "reasons": list(self.diagnosis.reasons),
        }


def explain_text(text: str, *, cluster_project: str | None = None) -> Diagnosis:
    """The verdict on one error text (any shape), with the image it names if any."""
    return classify_message(text, image=image_in_text(text), cluster_project=cluster_project)


def explain_lines(
    lines: Iterable[str], *, cluster_project: str | None = None
) -> Iterator[TextVerdict]:
    """A verdict for each line that shows a failure; blank and context lines are skipped."""
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or _FAILURE_LINE_RE.search(text) is None:
            continue
        image = image_in_text(text)
        diagnosis = classify_message(text, image=image, cluster_project=cluster_project)
        yield TextVerdict(number, text, image, diagnosis)
