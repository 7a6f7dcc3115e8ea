"""Peak resident memory of this process while a block runs, sampled from /proc (Linux) or getrusage."""

from __future__ import annotations

import os
import resource
import sys
import threading


def current_rss_bytes() -> int | None:
    """This process's resident set size now, or None where /proc is unavailable."""
    try:
        with open(f"/proc/{os.getpid()}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def max_rss_bytes() -> int:
    """The process's high-water mark so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_seconds() -> float:
    """User plus system CPU time this process has used (imports included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.bytes``: the highest RSS seen during the block."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.bytes = max(self.bytes, current_rss_bytes() or 0)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        if current_rss_bytes() is not None:
            self._thread = threading.Thread(target=self._sample, name="export-lint-peak-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.bytes = max(self.bytes, current_rss_bytes() or 0)
        else:  # no /proc: the process high-water mark is the best bound available
            self.bytes = max_rss_bytes()
