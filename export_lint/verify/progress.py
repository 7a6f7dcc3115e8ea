"""Live progress of ``export-lint verify`` on stderr: one updating line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_MARKS = {"ok": "ok  ", "fail": "FAIL"}


class ProgressPrinter:
    """Receives ``(case, step, state, detail)`` events; shows each step with its elapsed seconds."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None, width: int = 110) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.width = width
        self._lock = threading.Lock()
        self._current: tuple[str, str, str, float] | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, case: str, step: str, state: str, detail: str) -> None:
        with self._lock:
            if state == "start":
                self._current = (case, step, detail, time.perf_counter())
                if self.live:
                    self._draw()
                    self._start_ticker()
                return
            started = self._current[3] if self._current and self._current[:2] == (case, step) else None
            seconds = f" ({time.perf_counter() - started:.1f}s)" if started is not None else ""
            self._current = None
            line = f"  {_MARKS.get(state, state):4} {case:<8} {step:<9} {detail}"
            self._write_line(self._clip(line, len(seconds)) + seconds)

    def message(self, text: str) -> None:
        with self._lock:
            self._write_line(text)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None

    # -- drawing ---------------------------------------------------------------------------
    def _clip(self, text: str, reserve: int = 0) -> str:
        limit = self.width - reserve
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def _write_line(self, text: str) -> None:
        prefix = "\r\033[K" if self.live else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()

    def _draw(self) -> None:
        if self._current is None:
            return
        case, step, detail, started = self._current
        elapsed = f" {time.perf_counter() - started:5.1f}s"
        self.stream.write("\r\033[K" + self._clip(f"  ...  {case:<8} {step:<9} {detail}", len(elapsed)) + elapsed)
        self.stream.flush()

    def _start_ticker(self) -> None:
        if self._ticker is not None:
            return

        def tick() -> None:
            while not self._stop.wait(0.5):
                with self._lock:
                    self._draw()

        self._ticker = threading.Thread(target=tick, name="export-lint-progress", daemon=True)
        self._ticker.start()
