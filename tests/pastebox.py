"""Paste what pullfix writes into a shell, with nothing real behind it.

`PasteBox` runs each command (or reproduction) with `bash -c` in a directory of its own,
with stub `kubectl`, `gcloud`, `sudo`, `crictl`, `docker`, `crane`, `curl` and `python3` first on
PATH: each stub only records the arguments it was given. A payload that ran leaves its
marker file (`touch pwned`) in that directory.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

STUBS = ("kubectl", "gcloud", "sudo", "crictl", "docker", "crane", "curl", "python3")
MARKER = "pwned"
# Shell payloads, each creating MARKER where it runs (relative: some fields are split on "/").
PAYLOADS = (
    "$(touch pwned)",
    "`touch pwned`",
    ";touch pwned;",
    "\ntouch pwned\n",
    "'$(touch pwned)'",
    '"$(touch pwned)"',
    "$(touch${IFS}pwned)",
    "${IFS}$(touch${IFS}pwned)",
    "|touch pwned",
    "&&touch pwned",
    "x'\\''$(touch pwned)",
    "$'\\x41'$(touch pwned)",
    "\u202e$(touch pwned)\u200b",  # a bidi override and a zero-width space around it
    "\r$(touch pwned)",
)
_RECORD_END = "\x1e"
_STUB = f"""#!/bin/bash
{{ printf '%s\\0' "${{0##*/}}" "$@"; printf '{_RECORD_END}'; }} >> "$PASTEBOX_LOG"
"""


@dataclass
class Pasted:
    calls: list[list[str]]  # every stub call: [program, arg, ...]
    ran: bool  # the marker file exists: a payload ran
    status: int
    stderr: str


class PasteBox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for name in STUBS:
            stub = self.bin / name
            stub.write_text(_STUB)
            stub.chmod(0o755)
        self._runs = 0

    def paste(self, text: str) -> Pasted:
        """Run `text` as a person pasting it into bash would."""
        self._runs += 1
        cwd = self.root / f"run{self._runs}"
        cwd.mkdir()
        log = cwd.parent / f"run{self._runs}.log"
        log.touch()
        env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "PASTEBOX_LOG": str(log),
            "HOME": str(cwd),
            "LC_ALL": "C.UTF-8",
        }
        done = subprocess.run(
            ["/bin/bash", "-c", text],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        raw = log.read_bytes().decode("utf-8", "surrogateescape")
        calls = [record.split("\0")[:-1] for record in raw.split(_RECORD_END) if record]
        ran = (cwd / MARKER).exists() or any(p.name == MARKER for p in cwd.rglob("*"))
        return Pasted(calls, ran, done.returncode, done.stderr)


def arguments(calls: list[list[str]]) -> list[str]:
    """Every argument any stub received."""
    return [arg for call in calls for arg in call[1:]]
