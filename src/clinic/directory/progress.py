"""A small progress bar for long CLI work (imports, the data generator), on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`bar(phase, done, total)`: redraws in place on a terminal; elsewhere (logs, CI) prints a
    line per phase at most every 10 %."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last: dict[str, int] = {}
        self._started: dict[str, float] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        started = self._started.setdefault(phase, time.monotonic())
        total = max(total, 1)
        percent = min(100, done * 100 // total)
        if not self.tty:
            step = percent // 10
            if self._last.get(phase) == step and done < total:
                return
            self._last[phase] = step
        filled = self.width * percent // 100
        elapsed = time.monotonic() - started
        rate = f"{done / elapsed:,.0f}/s" if elapsed > 0.5 else ""
        line = (
            f"{phase:>10} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done:,}/{total:,} {percent:3d}% {rate}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
