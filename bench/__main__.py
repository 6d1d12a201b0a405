"""`make bench`: run every benchmark in turn with its default sizes; figures are printed."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "bench.http_writes",
    "bench.long_client",
    "bench.rebuild",
    "bench.queries",
    "bench.verify",
    "bench.console",
    "bench.waiting_reads",
]
# Each runs at its own default size; run one alone for its options: python -m bench.NAME --help


def main() -> None:
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        print(f"== {name}", flush=True)
        sys.argv = [name]
        module.main()


if __name__ == "__main__":
    main()
