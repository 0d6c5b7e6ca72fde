"""GKE version strings and the versions that pull from Artifact Registry unaided."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from pullfix.errors import PullfixError

__all__ = ["GKEVersion", "InvalidVersion", "has_builtin_ar_access", "minimum_ar_version"]

_VERSION_RE = re.compile(r"v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:-gke\.(\d{1,12}))?")

# Per minor version, the first GKE patch whose nodes read Artifact Registry with the
# node service account (Google's "pulling images from Artifact Registry" guide).
# Every minor above the last key has it; every minor below the first has not.
_FIRST_WITH_AR_ACCESS = {14: (10, 22), 15: (9, 8)}


class InvalidVersion(PullfixError, ValueError):
    """A string that is not a GKE version."""


@total_ordering
@dataclass(frozen=True, slots=True)
class GKEVersion:
    """A GKE version, compared numerically part by part."""

    major: int
    minor: int
    patch: int
    gke: int | None = None

    @classmethod
    def parse(cls, text: str) -> GKEVersion:
        """Parse `1.29.4-gke.1043002` (or `1.29.4`); raise InvalidVersion otherwise."""
        match = _VERSION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if not match:
            raise InvalidVersion(f"not a GKE version: {text!r}")
        major, minor, patch, gke = match.groups()
        return cls(int(major), int(minor), int(patch), int(gke) if gke is not None else None)

    def _key(self) -> tuple[int, int, int, int]:
        return (self.major, self.minor, self.patch, -1 if self.gke is None else self.gke)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, GKEVersion):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}.{self.patch}"
        return base if self.gke is None else f"{base}-gke.{self.gke}"


def minimum_ar_version(version: GKEVersion) -> GKEVersion | None:
    """The first version of this minor line with built-in AR access, or None if none has."""
    if version.major > 1 or (version.major == 1 and version.minor > max(_FIRST_WITH_AR_ACCESS)):
        return GKEVersion(version.major, version.minor, 0)
    first = _FIRST_WITH_AR_ACCESS.get(version.minor) if version.major == 1 else None
    if first is None:
        return None
    return GKEVersion(1, version.minor, first[0], first[1])


def has_builtin_ar_access(version: GKEVersion | str) -> bool:
    """Whether nodes of this GKE version pull from Artifact Registry with their own account."""
    parsed = GKEVersion.parse(version) if isinstance(version, str) else version
    minimum = minimum_ar_version(parsed)
    return minimum is not None and parsed >= minimum
