"""`python -m pullfix.checks`: list the checks in their order, or (`--permissions`) print the
custom roles' permissions file that Terraform reads."""

from __future__ import annotations

import argparse
import sys

from pullfix.checks.permissions import roles_json
from pullfix.checks.registry import CHECKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pullfix.checks", description=__doc__)
    parser.add_argument(
        "--permissions",
        action="store_true",
        help="print functions/pullfix/permissions.json (the custom roles' permissions)",
    )
    args = parser.parse_args(argv)
    if args.permissions:
        sys.stdout.write(roles_json())
        return 0
    for number, check in enumerate(CHECKS, 1):
        causes = ", ".join(sorted(c.value for c in check.causes)) or "a reason within permission"
        calls = ", ".join(dict.fromkeys(read.call for read in check.reads)) or "-"
        sys.stdout.write(f"{number}. {check.name}: {check.summary}\n")
        sys.stdout.write(f"   names {causes}; reads {calls}\n")
        sys.stdout.write(f"   fix: {check.advice}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
