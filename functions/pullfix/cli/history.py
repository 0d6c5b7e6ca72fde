"""What `pullfix grants` and `pullfix incidents` share: the configured ledger's history."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from typing import Any

from pullfix.cli.operator import EXIT_INPUT, _Stop

__all__ = ["load_histories", "open_history", "parse_outcomes"]


def open_history(args: argparse.Namespace, clients: Any) -> Any:
    """The configured ledger (`--config`, else PULLFIX_CONFIG): the Firestore one the
    functions share. The memory ledger lives and dies with one process: nothing to read."""
    from pullfix.core.config import ConfigError
    from pullfix.engine.ledger import FirestoreLedger
    from pullfix.engine.runtime import build_ledger, outcomes_topic
    from pullfix.settings import load_config

    try:
        config = load_config(args.config or os.environ.get("PULLFIX_CONFIG") or None)
        ledger = build_ledger(config, clients, outcomes_topic())
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    if not isinstance(ledger, FirestoreLedger):
        raise _Stop(
            EXIT_INPUT,
            "the history is in the ledger the functions share: give a config whose ledger is "
            "{firestore: …} (--config, or PULLFIX_CONFIG); a memory ledger lives and dies "
            "with one process",
        )
    return ledger


def load_histories(
    ledger: Any, since: datetime | None, limit: int
) -> list[tuple[str, list[dict[str, Any]]]]:
    """The incidents with an outcome since `since` (latest first), each outcome parsed; an
    unreadable one is left out."""
    return [(key, parse_outcomes(texts)) for key, texts in ledger.incident_histories(since, limit)]


def parse_outcomes(texts: list[str]) -> list[dict[str, Any]]:
    """The outcomes of one incident's history, parsed; an unreadable one is left out."""
    outcomes = []
    for text in texts:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            outcomes.append(value)
    return outcomes
