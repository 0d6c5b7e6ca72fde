"""Push delivery: each published message POSTed to the topic's push endpoint as an
Eventarc CloudEvent in binary content mode, retried with backoff on non-2xx like a push
subscription, until it is acknowledged or its attempts run out (then it is dead-lettered).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Delivery", "PushDelivery"]

EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


@dataclass
class Delivery:
    """One message on its way to a push endpoint."""

    project: str
    topic: str
    endpoint: str
    message: dict[str, Any]
    attempts: int = 0
    statuses: list[int | str] = field(default_factory=list)
    state: str = "pending"  # pending | acked | dead_lettered

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": f"projects/{self.project}/topics/{self.topic}",
            "message_id": self.message["messageId"],
            "attempts": self.attempts,
            "statuses": list(self.statuses),
            "state": self.state,
        }


class PushDelivery:
    """Worker threads that deliver messages with retries; `drain()` waits for quiet."""

    def __init__(
        self,
        *,
        workers: int = 4,
        max_attempts: int = 8,
        min_backoff: float = 0.05,
        max_backoff: float = 2.0,
        timeout: float = 30.0,
    ) -> None:
        self.max_attempts = max_attempts
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Condition()
        self._threads = [
            threading.Thread(target=self._work, name=f"sandbox-push-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
            self._pending += 1
        self._queue.put(delivery)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted message is acked or dead-lettered."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def summary(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.to_dict() for d in self.deliveries]

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            self._deliver(delivery)
            with self._lock:
                self._pending -= 1
                self._lock.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        backoff = self.min_backoff
        while delivery.attempts < self.max_attempts:
            delivery.attempts += 1
            status = self._post(delivery)
            delivery.statuses.append(status)
            if isinstance(status, int) and 200 <= status < 300:
                delivery.state = "acked"
                return
            time.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)
        delivery.state = "dead_lettered"

    def _post(self, delivery: Delivery) -> int | str:
        message = delivery.message
        body = {
            # Pub/Sub push bodies carry both spellings of these two fields.
            "message": {
                **message,
                "message_id": message["messageId"],
                "publish_time": message["publishTime"],
            },
            "subscription": f"projects/{delivery.project}/subscriptions/{delivery.topic}-push",
        }
        headers = {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-type": EVENT_TYPE,
            "ce-source": (
                f"//pubsub.googleapis.com/projects/{delivery.project}/topics/{delivery.topic}"
            ),
            "ce-id": message["messageId"],
            "ce-time": message["publishTime"],
        }
        # The endpoint comes from the world file, which only admits http(s) URLs.
        request = urllib.request.Request(  # noqa: S310
            delivery.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError) as exc:
            return f"error: {getattr(exc, 'reason', exc)}"
