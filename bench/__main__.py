"""`python -m bench [name ...]`: run the named benchmarks (all when none is named).

Each benchmark is a module in this package with a `main(argv) -> int` function; it starts the
embedded PostgreSQL (or uses DATABASE_URL), generates its own data and prints its figures.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    # Benchmark names first, then options (`--opt value` or `--opt=value`) for each of them.
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split] or available(), argv[split:]
    if not names:
        print("no benchmarks yet")
        return 0
    status = 0
    for name in names:
        if name not in available():
            print(f"unknown benchmark {name!r}; available: {', '.join(available())}")
            return 2
        print(f"== {name}")
        status |= importlib.import_module(f"bench.{name}").main(options) or 0
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
