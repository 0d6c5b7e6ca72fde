"""The sandbox's mutable state: the world, request counts, injected faults. Thread-safe."""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pullfix.dev.sandbox.errors import ApiError
from pullfix.dev.sandbox.world import Binding, Policy, World

__all__ = ["Fault", "SandboxState"]


@dataclass
class Fault:
    """An injected misbehaviour for API methods matching a glob.

    `status`: answer with this HTTP status (its gRPC twin over gRPC) instead of the result.
    `latency`: seconds to wait before answering. `race`: after answering a getIamPolicy,
    let a concurrent writer change the policy (new etag, one more binding), so that the
    caller's write meets a 409. `count`: how many requests it applies to (None: all).
    `after`: how many matching requests pass untouched first (to reach the Nth call).
    """

    method: str
    status: int | None = None
    latency: float = 0.0
    race: bool = False
    count: int | None = 1
    message: str | None = None
    race_role: str = "roles/artifactregistry.writer"
    after: int = 0
    applied: int = 0
    passed: int = 0

    @classmethod
    def from_dict(cls, data: Any) -> Fault:
        """A fault from its JSON form; raises ApiError(400) on a bad one."""
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            raise ApiError(400, "a fault needs a 'method' (an API method id or glob)")
        allowed = {
            "method",
            "status",
            "latency",
            "race",
            "count",
            "message",
            "race_role",
            "after",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ApiError(400, f"unknown fault field {sorted(unknown)[0]!r}")
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ApiError(400, "fault 'status' must be an HTTP error status (400-599)")
        latency = data.get("latency", 0.0)
        if not isinstance(latency, int | float) or latency < 0 or latency > 120:
            raise ApiError(400, "fault 'latency' must be 0-120 seconds")
        count = data.get("count", 1)
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ApiError(400, "fault 'count' must be a positive integer or null (always)")
        after = data.get("after", 0)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ApiError(400, "fault 'after' must be a count of requests (0 or more)")
        if status is None and not latency and not data.get("race"):
            raise ApiError(400, "a fault needs a status, a latency or race: true")
        return cls(
            method=data["method"],
            status=status,
            latency=float(latency),
            race=bool(data.get("race", False)),
            count=count,
            message=data.get("message"),
            race_role=str(data.get("race_role", "roles/artifactregistry.writer")),
            after=after,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "status": self.status,
            "latency": self.latency,
            "race": self.race,
            "count": self.count,
            "after": self.after,
            "applied": self.applied,
        }


@dataclass
class SandboxState:
    """Everything the REST and gRPC servers share, behind one lock."""

    world: World
    lock: threading.RLock = field(default_factory=threading.RLock)
    requests: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    races: int = 0

    def stats(self) -> dict[str, Any]:
        with self.lock:
            # A key with a ":" tells some requests of a method apart; they count once, as the
            # method's.
            total = sum(n for method, n in self.requests.items() if ":" not in method)
            return {"total": total, "requests": dict(self.requests)}

    def reset_stats(self) -> None:
        with self.lock:
            self.requests.clear()

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def begin(self, method: str) -> Fault | None:
        """Count a request; apply latency and error faults. Returns a race fault to apply."""
        with self.lock:
            self.requests[method] += 1
            matched = []
            for fault in self.faults:
                if not fnmatch.fnmatchcase(method, fault.method):
                    continue
                if fault.passed < fault.after:
                    fault.passed += 1
                elif fault.count is None or fault.applied < fault.count:
                    fault.applied += 1
                    matched.append(fault)
        latency = sum(f.latency for f in matched)
        if latency:
            time.sleep(latency)
        for fault in matched:
            if fault.status is not None:
                raise ApiError(fault.status, fault.message or f"injected fault: {method}")
        return next((f for f in matched if f.race), None)

    def race(self, policy: Policy, fault: Fault) -> None:
        """A concurrent writer changes the policy right after the caller read it."""
        with self.lock:
            self.races += 1
            member = f"user:concurrent-writer-{self.races}@example.com"
            policy.bindings.append(Binding(role=fault.race_role, members=[member]))
            policy.revision += 1
