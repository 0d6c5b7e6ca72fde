"""Diagnosis checks: one module per check (`base.Check`: what it reads, gather, judge, the
causes it names), ordered once in `registry.CHECKS`.

Adding a check: write its module, put it in `CHECKS` where its precedence falls, declare its
reads (the permissions Terraform grants come from them: `python -m pullfix.checks
--permissions > functions/pullfix/permissions.json`), and give the sandbox its answers.
"""

from __future__ import annotations

from pullfix.checks.base import Check, Finding, Read
from pullfix.checks.registry import (
    CHECKS,
    VERIFICATION,
    gather,
    grant_may_fix,
    judge,
    read_permissions,
    reads,
    run_checks,
)

__all__ = [
    "CHECKS",
    "VERIFICATION",
    "Check",
    "Finding",
    "Read",
    "gather",
    "grant_may_fix",
    "judge",
    "read_permissions",
    "reads",
    "run_checks",
]
