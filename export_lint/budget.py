"""The per-file budget: how long (and how much memory) one file's analysis may take, and what was
running when it ran out.

The budget counts the worker's CPU seconds, so that a loaded machine (a shared CI runner) does not
cut off a normal file; the wall clock allows ``WALL_FACTOR`` times as much. A worker arms
``deadline`` around each file: at the budget, ``SIGPROF`` interrupts Python code and
``FileTimeout`` names the rule (found on the interrupted stack) or phase. Code that never returns
to Python (a native parser, one regex match) cannot be interrupted; the parent kills that worker a
little later and reads the phase from memory the worker shares with it (``enter``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

#: Seconds one file's analysis may take (``--file-timeout``).
DEFAULT_FILE_TIMEOUT = 30.0
#: Address space a worker may add to what it had at start (RLIMIT_AS): a file needing more is
#: reported, not allowed to push the machine into swap.
MEMORY_BUDGET = 3 * 2**30
PHASE_SIZE = 96
#: However loaded the machine, a file is given up after this many times its budget on the clock.
WALL_FACTOR = 4

_phase = "starting"
_shared: ctypes.Array | None = None


class FileTimeout(BaseException):
    """The file's budget ran out (a BaseException: no rule's ``except Exception`` swallows it)."""

    def __init__(self, phase: str) -> None:
        super().__init__(phase)
        self.phase = phase


def enter(phase: str) -> None:
    """Say what the analysis of the current file is doing now (cheap: called per phase, not per node)."""
    global _phase
    _phase = phase
    if _shared is not None:
        _shared.value = phase.encode("utf-8", "replace")[: PHASE_SIZE - 1]


def current() -> str:
    return _phase


def share(buffer: ctypes.Array | None) -> None:
    """Mirror every ``enter`` into ``buffer`` (shared with the parent, which reads it after a kill)."""
    global _shared
    _shared = buffer


def _running(frame: FrameType | None) -> str:
    """The rule whose code the interrupted stack is in, else the current phase."""
    from export_lint.rule import Rule

    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Rule):
            return f"rule {candidate.code} ({candidate.name})"
        frame = frame.f_back
    return _phase


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise ``FileTimeout`` in this (main) thread after ``seconds`` of this process's CPU time
    (no-op without ``setitimer``)."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise FileTimeout(_running(frame))

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def cpu_seconds(pid: int) -> float | None:
    """A process's user + system CPU seconds (Linux ``/proc``; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def describe(phase: str) -> str:
    return phase if phase.startswith("rule ") else f"while {phase}"


# -- worker processes: bounded, and never outliving the parent ------------------------------------


def die_with_parent(parent: int) -> None:
    """End this worker when the parent dies, however it dies (SIGKILL included): Linux's
    ``PR_SET_PDEATHSIG``, and elsewhere a thread that polls the parent's pid."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)
    if sys.platform != "linux":

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="export-lint-parent-watch").start()


def limit_memory(extra: int = MEMORY_BUDGET) -> None:
    """Cap this process's address space at what it maps now plus ``extra`` (where supported)."""
    try:
        import resource

        with open("/proc/self/statm") as handle:
            mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = mapped + extra
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        if soft == resource.RLIM_INFINITY or soft > wanted:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (ImportError, OSError, ValueError):
        pass


def useful_jobs(jobs: int | None, files: int) -> int:
    """Workers worth starting: no more than the cores this process may use, the files, and what
    the open-file limit allows (each worker holds a pipe and a sentinel)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    wanted = jobs or cores
    try:
        import resource

        descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if descriptors != resource.RLIM_INFINITY:
            wanted = min(wanted, max(1, (descriptors - 32) // 4))
    except (ImportError, OSError, ValueError):
        pass
    return max(1, min(wanted, cores, files))
