"""`python -m pullfix.checks`: list the checks in their order, or (`--permissions`) print the
custom roles' permissions file that Terraform reads."""

from __future__ import annotations

import argparse
import os
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
    try:
        if args.permissions:
            sys.stdout.write(roles_json())
            return 0
        for number, check in enumerate(CHECKS, 1):
            named = sorted(c.value for c in check.causes)
            causes = ", ".join(named) or "a reason within permission"
            calls = ", ".join(dict.fromkeys(read.call for read in check.reads)) or "-"
            sys.stdout.write(f"{number}. {check.name}: {check.summary}\n")
            sys.stdout.write(f"   names {causes}; reads {calls}\n")
            sys.stdout.write(f"   fix: {check.advice}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`python -m pullfix.checks | head`): not an error. Point stdout
        # at /dev/null so that the interpreter's final flush is quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
