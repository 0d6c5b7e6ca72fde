"""A hello-world CloudEvent function: the cold-start baseline for `remediate`."""

import functions_framework
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def hello(cloud_event: CloudEvent) -> None:
    """Accept every event and do nothing."""
