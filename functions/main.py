"""Cloud Functions entry points of pullfix. Everything else lives in the pullfix package."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from pullfix.entrypoints import handle_outcome, handle_pull_failure


@functions_framework.cloud_event
def remediate(cloud_event: CloudEvent) -> None:
    """Pub/Sub "pull-failures" → diagnose one image-pull failure."""
    handle_pull_failure(cloud_event)


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Pub/Sub "pull-outcomes" → tell the owning team (chat, tickets)."""
    handle_outcome(cloud_event)
