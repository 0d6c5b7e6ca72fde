"""Kubelet's follow-ups of a failed pull (`Back-off pulling image "X"`) give no reason of their
own: once the event that did give one has opened a ticket, they join it, whatever registry the
image is on and whatever cause that ticket names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pipeline import CONFIG, event, pipeline

pytestmark = pytest.mark.integration

# Real texts: a registry outside Google unreachable from private nodes, and Docker Hub's
# pull rate limit (kubelet's `Failed to pull image` event around the runtime's error).
TEXTS = {
    "network": (
        "failed to do request: Head "
        '"https://registry-1.docker.io/v2/library/nginx/manifests/1.27": '
        "dial tcp 54.227.20.253:443: i/o timeout"
    ),
    "rate_limit": (
        "toomanyrequests: You have reached your pull rate limit. You may increase the limit "
        "by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
    ),
}


@pytest.mark.parametrize("cause", list(TEXTS))
def test_back_offs_join_the_ticket_of_the_event_that_gave_the_reason(
    tmp_path: Path, cause: str
) -> None:
    image = "docker.io/library/nginx:1.27"
    workload = f"web-{cause.replace('_', '-')}"
    with pipeline(tmp_path, CONFIG) as (pipe,):
        failed = event("default-pool", image, TEXTS[cause], workload=workload)
        assert pipe.post(failed) == 200
        for number in range(3):  # the pod backs off, and backs off again
            back_off = event(
                "default-pool",
                image,
                workload=workload,
                reason="BackOff",
                message=f'Back-off pulling image "{image}"',
            )
            back_off["insertId"] = f"{workload}-backoff-{number}"
            assert pipe.post(back_off) == 200
        tickets = [(o["action"], o["cause"]) for o in pipe.outcomes()]
        assert tickets == [("ticket", cause)]


def test_a_back_off_of_another_image_is_not_joined(tmp_path: Path) -> None:
    """The join is by image: a workload's other container failing on another image is an
    incident of its own."""
    with pipeline(tmp_path, CONFIG) as (pipe,):
        image = "docker.io/library/nginx:1.27"
        assert pipe.post(event("default-pool", image, TEXTS["network"], workload="two")) == 200
        other = "docker.io/library/redis:7"
        back_off = event(
            "default-pool",
            other,
            workload="two",
            reason="BackOff",
            message=f'Back-off pulling image "{other}"',
            minutes_ago=2,
        )
        assert pipe.post(back_off) == 200
        later = event(
            "default-pool",
            other,
            workload="two",
            reason="BackOff",
            message=f'Back-off pulling image "{other}"',
        )
        later["insertId"] = "two-later"
        assert pipe.post(later) == 200
        images = sorted(o["event"]["image"] for o in pipe.outcomes())
        assert images == [image, other]
