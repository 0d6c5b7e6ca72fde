"""One remediation runtime per process, built on first use from the environment."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from pullfix.core.config import (
    OUTCOMES_VARIABLE,
    Config,
    ConfigError,
    FirestoreLedgerConfig,
    lease_warning,
    topic_name,
)
from pullfix.engine.history import HistoryPublisher
from pullfix.engine.ledger import FirestoreLedger, Ledger, MemoryLedger
from pullfix.engine.remediate import Remediator
from pullfix.gcp.adapter import GoogleAdapter, PubSubPublisher
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import EndpointError
from pullfix.logs import log
from pullfix.settings import config_from_env

if TYPE_CHECKING:  # remediate's instances never load notify's code
    from pullfix.notify.delivery import Notifier

__all__ = [
    "OUTCOMES_VARIABLE",
    "Runtime",
    "build_remediator",
    "build_runtime",
    "notifier",
    "outcomes_topic",
    "runtime",
]


class _HasConfig(Protocol):
    config: Config


_Built = TypeVar("_Built", bound=_HasConfig)


@dataclass
class Runtime:
    config: Config
    clients: GoogleClients
    remediator: Remediator


def build_ledger(config: Config, clients: GoogleClients, topic: str | None) -> Ledger:
    """The configured ledger; Firestore's project defaults to the function's own."""
    if not isinstance(config.ledger, FirestoreLedgerConfig):
        return MemoryLedger()
    spec = config.ledger
    project = spec.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if project is None and topic:
        project = topic.split("/")[1]
    if project is None:
        raise ConfigError("ledger.firestore.project: required (or set GOOGLE_CLOUD_PROJECT)")
    return FirestoreLedger(
        clients.rest, project, spec.database, spec.collection, timeout=config.api_timeout
    )


def build_runtime(config: Config | None = None, clients: GoogleClients | None = None) -> Runtime:
    """A runtime from PULLFIX_CONFIG, PULLFIX_GCP_ENDPOINT and PULLFIX_OUTCOMES_TOPIC."""
    config = config or config_from_env()
    clients = clients or GoogleClients.from_env()
    topic = outcomes_topic()
    return Runtime(
        config=config, clients=clients, remediator=build_remediator(config, clients, topic)
    )


def outcomes_topic() -> str | None:
    """PULLFIX_OUTCOMES_TOPIC, checked: `projects/P/topics/T`, or None when unset."""
    topic = os.environ.get(OUTCOMES_VARIABLE) or None
    return topic_name(topic, OUTCOMES_VARIABLE) if topic is not None else None


def build_remediator(config: Config, clients: GoogleClients, topic: str | None) -> Remediator:
    """The remediation engine on the Google adapter, the configured ledger and publisher."""
    inner = PubSubPublisher(clients, topic, config.api_timeout) if topic else None
    ledger = build_ledger(config, clients, topic)
    # Every outcome is kept with its incident as it is published (`pullfix incidents`).
    publisher = (
        HistoryPublisher(ledger, inner)
        if isinstance(ledger, MemoryLedger | FirestoreLedger)
        else inner
    )
    return Remediator(
        config,
        GoogleAdapter(clients, timeout=config.api_timeout),
        ledger,
        publisher,
        lease=config.lease,
    )


_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The process's runtime, built by the first invocation and reused by the rest."""
    global _runtime  # noqa: PLW0603 - one runtime per function instance, by design
    with _lock:
        if _runtime is None:
            _runtime = _configured(build_runtime)
        return _runtime


_notifier: Notifier | None = None


def notifier() -> Notifier:
    """The process's notifier, built by the first invocation and reused by the rest."""
    global _notifier  # noqa: PLW0603 - one notifier per function instance, by design
    with _lock:
        if _notifier is None:
            _notifier = _configured(_build_notifier)
        return _notifier


def _build_notifier() -> Notifier:
    config = config_from_env()
    clients = GoogleClients.from_env()
    ledger = build_ledger(config, clients, outcomes_topic())
    from pullfix.gcp.chat import ChatMessages
    from pullfix.notify.delivery import Notifier

    # Routes that name a Google Chat space post as the Chat app, with this function's own
    # credentials (made on the first post).
    return Notifier(
        config, ledger, chat_app=ChatMessages(clients, config.api_timeout), http=clients.http
    )


def _configured(build: Callable[[], _Built]) -> _Built:
    """`build()`, with every way the environment can be wrong raised as ConfigError (which
    the functions log at CRITICAL, keeping their events until it is fixed), and a warning
    logged once for a config that works but is unsafe."""
    try:
        built = build()
    except EndpointError as exc:
        raise ConfigError(str(exc)) from None
    warning = lease_warning(built.config)
    if warning is not None:
        log("WARNING", f"pullfix: configuration: {warning}", {"warning": warning})
    return built
