"""Build GKE pod-event LogEntries and their Pub/Sub envelopes, as GKE and Pub/Sub write them.

Used by the demo, the benchmark and the tests, so that all of them speak the one wire
format that `pullfix.core.intake` reads.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from pullfix.core.intake import format_timestamp

__all__ = [
    "eventarc_headers",
    "log_entry",
    "pull_message",
    "pulled_message",
    "push_body",
    "structured_cloudevent",
]

PULL_FAILURE_TOPIC = "pull-failures"


def pull_message(image: str, detail: str) -> str:
    """Kubelet's `Failed` event message for an image and the runtime's error text."""
    return f'Failed to pull image "{image}": rpc error: code = Unknown desc = {detail}'


def pulled_message(image: str, seconds: float = 2.1) -> str:
    """Kubelet's `Pulled` event message for an image it pulled (pkg/kubelet/images)."""
    return f'Successfully pulled image "{image}" in {seconds}s ({seconds}s including waiting)'


def log_entry(
    *,
    project: str,
    location: str,
    cluster: str,
    namespace: str,
    pod: str,
    node: str,
    message: str,
    reason: str = "Failed",
    timestamp: str = "2026-11-20T10:00:07Z",
    insert_id: str = "1x9yq2kf3a8b7c",
    controller: tuple[str, str] | None = None,
    container: str | None = None,
) -> dict[str, Any]:
    """A pod event as GKE's event exporter writes it to Cloud Logging (camelCase JSON)."""
    event_type = "Normal" if reason == "BackOff" and "pulling image" in message else "Warning"
    if reason in ("Pulled", "Pulling"):  # kubelet's progress and success events
        event_type = "Normal"
    if reason == "BackOff" and "restarting failed container" in message:
        event_type = "Warning"
    involved: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": namespace,
        "name": pod,
    }
    if container:
        involved["fieldPath"] = f"spec.containers{{{container}}}"
    entry: dict[str, Any] = {
        "insertId": insert_id,
        "logName": f"projects/{project}/logs/events",
        "resource": {
            "type": "k8s_pod",
            "labels": {
                "project_id": project,
                "location": location,
                "cluster_name": cluster,
                "namespace_name": namespace,
                "pod_name": pod,
            },
        },
        "timestamp": timestamp,
        "receiveTimestamp": timestamp,
        "severity": "WARNING" if event_type == "Warning" else "INFO",
        "jsonPayload": {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{pod}.{insert_id}", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "type": event_type,
            "message": message,
            "source": {"component": "kubelet", "host": node},
            "reportingComponent": "kubelet",
            "reportingInstance": node,
            "lastTimestamp": timestamp,
        },
    }
    if controller:
        entry["labels"] = {
            "logging.gke.io/top_level_controller_type": controller[0],
            "logging.gke.io/top_level_controller_name": controller[1],
        }
    return entry


def push_body(
    entry: dict[str, Any],
    *,
    message_id: str = "2070443601311540",
    project: str = "p1",
    subscription: str = "pull-failures-push",
) -> dict[str, Any]:
    """The Pub/Sub push body a log sink's topic delivers for one LogEntry."""
    data = base64.b64encode(json.dumps(entry).encode()).decode()
    timestamp = entry.get("timestamp", "2026-11-20T10:00:07Z")
    return {
        "message": {
            "attributes": {"logging.googleapis.com/timestamp": timestamp},
            "data": data,
            "messageId": message_id,
            "publishTime": timestamp,
        },
        "subscription": f"projects/{project}/subscriptions/{subscription}",
    }


def structured_cloudevent(body: dict[str, Any], *, project: str = "p1") -> dict[str, Any]:
    """The structured-mode CloudEvent Eventarc would build around a push body."""
    message = body["message"]
    return {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/projects/{project}/topics/{PULL_FAILURE_TOPIC}",
        "id": message["messageId"],
        "time": message["publishTime"],
        "datacontenttype": "application/json",
        "data": body,
    }


def eventarc_headers(message_id: str, topic: str) -> dict[str, str]:
    """The headers Eventarc sends with a Pub/Sub message (binary content mode)."""
    return {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "ce-id": message_id,
        "ce-time": format_timestamp(datetime.now(UTC)),
    }
