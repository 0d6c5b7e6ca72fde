"""GKE versions: numeric comparison and the built-in Artifact Registry access table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullfix.core.gkeversion import GKEVersion, InvalidVersion, has_builtin_ar_access

BOUNDARIES = [
    ("1.13.12-gke.30", False),
    ("1.13.99-gke.9999", False),
    ("1.14.0-gke.1", False),
    ("1.14.10-gke.21", False),
    ("1.14.10-gke.22", True),
    ("1.14.10-gke.100", True),  # 100 > 22 numerically, though "100" < "22" as strings
    ("1.14.9-gke.999", False),
    ("1.14.11-gke.1", True),
    ("1.14.10", False),  # no build number: not provably past gke.22
    ("1.15.9-gke.7", False),
    ("1.15.9-gke.8", True),
    ("1.15.9-gke.10", True),
    ("1.15.8-gke.99", False),
    ("1.15.10-gke.1", True),
    ("1.16.0-gke.0", True),
    ("1.16.0", True),
    ("1.29.4-gke.1043002", True),
    ("1.9.7-gke.1", False),
    ("1.100.0-gke.1", True),
    ("2.0.0-gke.1", True),
    ("v1.30.1-gke.1329003", True),
]


@pytest.mark.parametrize(("version", "expected"), BOUNDARIES)
def test_builtin_artifact_registry_access(version: str, expected: bool) -> None:
    assert has_builtin_ar_access(version) is expected
    assert has_builtin_ar_access(GKEVersion.parse(version)) is expected


def test_versions_compare_numerically() -> None:
    assert GKEVersion.parse("1.14.10-gke.100") > GKEVersion.parse("1.14.10-gke.22")
    assert GKEVersion.parse("1.9.0-gke.1") < GKEVersion.parse("1.10.0-gke.1")
    assert GKEVersion.parse("1.29.4") < GKEVersion.parse("1.29.4-gke.1")
    assert str(GKEVersion.parse("1.29.4-gke.1043002")) == "1.29.4-gke.1043002"


@pytest.mark.parametrize("text", ["", "latest", "1.29", "1.29.x", "1.29.4-gke.", "1.29.4-eks.1"])
def test_bad_versions_raise(text: str) -> None:
    with pytest.raises(InvalidVersion, match="not a GKE version"):
        GKEVersion.parse(text)


@given(st.text(max_size=40))
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        parsed = GKEVersion.parse(text)
    except InvalidVersion:
        return
    assert GKEVersion.parse(str(parsed)) == parsed


@given(*(st.integers(0, 3000) for _ in range(4)))
def test_order_matches_the_integer_tuple(a: int, b: int, c: int, d: int) -> None:
    left, right = GKEVersion(1, a, b, c), GKEVersion(1, a, b, d)
    assert (left < right) == (c < d)
