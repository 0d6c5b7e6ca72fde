"""Only the cold-start section of `make bench` (`pipeline_bench._cold_start()`), in the
runtime-only environment that `make .venv-runtime/.pullfix-runtime` builds: run it as
`PULLFIX_BENCH_RUNTIME=.venv-runtime/bin/python .venv/bin/python bench/cold_start.py`."""

from __future__ import annotations

from pipeline_bench import _cold_start

if __name__ == "__main__":
    _cold_start()
