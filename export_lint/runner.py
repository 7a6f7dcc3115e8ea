"""Lint many files: a crash-proof worker pool that ships paths, the results cache, ordered output.

Workers read and lint one path at a time and send back small results, so memory stays bounded per
worker whatever the size of the tree. A worker that dies (LibCST's native parser can overflow the
C stack) or overruns the per-file timeout is replaced, and its file gets an EXP000 diagnostic
instead of taking the run down.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import TypeVar

from export_lint import budget
from export_lint.config import Settings
from export_lint.diagnostics import BUG_REPORT_HINT, FileResult, file_error
from export_lint.source import MAX_SOURCE_BYTES, decode_source, needs_linting, read_source_file
from export_lint.syntax import cpython_syntax_error

T = TypeVar("T")

#: A worker collects garbage cycles after this many files (see ``_worker``).
GC_EVERY = 8
#: Below this many files a pool costs more than it saves (workers fork after ``prepare``: ~10 ms).
PARALLEL_THRESHOLD = 2


def _read(path: str, limit: int = MAX_SOURCE_BYTES) -> bytes | FileResult:
    """The file's bytes (at most ``limit``), or the result for an unreadable file: one EXP000 io-error."""
    try:
        return read_source_file(path, limit)
    except OSError as error:
        return FileResult(path, [file_error(path, "io-error", f"cannot read file: {error.strerror or error}")])


def _trivial_result(data: bytes, path: str) -> FileResult | None:
    """The result of a file that decodes and cannot need linting, known without LibCST."""
    try:
        text, encoding = decode_source(data)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None  # lint_source reports it
    if needs_linting(text) or path.endswith(".ipynb") or "\x00" in text or cpython_syntax_error(text, path) is not None:
        return None  # lint_source reports a syntax error (at CPython's location)
    return FileResult(path, [], {}, encoding)


def _lint_data(data: bytes, path: str, settings: Settings) -> FileResult:
    """``lint_source``, answering without LibCST for a file that cannot need it."""
    budget.enter("decoding the file")
    trivial = _trivial_result(data, path)
    if trivial is not None:
        return trivial
    from export_lint.engine import lint_source

    return lint_source(data, path, settings)


def lint_file(path: str, settings: Settings) -> FileResult:
    """Read and lint one file; unreadable files yield one EXP000 io-error."""
    data = _read(path, settings.max_file_size)
    return data if isinstance(data, FileResult) else _lint_data(data, path, settings)


def lint_failure(path: str, reason: str) -> FileResult:
    """The result for a file whose worker crashed or timed out."""
    return FileResult(path, [file_error(path, "internal-error", f"{reason}; {BUG_REPORT_HINT}", internal=True)])


def lint_timeout(path: str, seconds: float, phase: str) -> FileResult:
    """The result for a file whose analysis ran out of its budget: one EXP000 timeout."""
    message = f"analysis took over {seconds:g} s of CPU (--file-timeout) {budget.describe(phase)}; file skipped"
    return FileResult(path, [file_error(path, "timeout", message)])


def lint_over_memory(path: str, phase: str) -> FileResult:
    limit = budget.MEMORY_BUDGET / 2**30
    message = f"analysis needed more than {limit:g} GiB of memory {budget.describe(phase)}; file skipped"
    return FileResult(path, [file_error(path, "memory-limit", message)])


lint_file.on_failure = lint_failure  # type: ignore[attr-defined]
lint_file.on_timeout = lint_timeout  # type: ignore[attr-defined]
lint_file.on_memory = lint_over_memory  # type: ignore[attr-defined]


Dependencies = tuple[tuple[str, str, "str | None"], ...]


def _cached_lint(
    path: str, settings: Settings
) -> tuple[FileResult, str | None, Dependencies, tuple | None, Dependencies]:
    """``lint_file`` plus what the cache stores: the file's hash, the other files it read (with the
    hashes of their bytes and summaries), the file's stat before reading, and how each module it
    looked up resolved (dotted name, anchor folder, file or None)."""
    from export_lint.analysis import external
    from export_lint.analysis.roots import REACH_DEPENDENCY, reach_digest
    from export_lint.cache import content_hash, file_stat

    stat = file_stat(path)  # before reading: a later change is seen as one next time
    data = _read(path, settings.max_file_size)
    if isinstance(data, FileResult):
        return data, None, (), None, ()
    with (
        external.recording_reads() as reads,
        external.recording_text_reads() as text_reads,
        external.recording_resolutions() as lookups,
    ):
        result = _lint_data(data, path, settings)
    resolutions = tuple((dotted, anchor, found) for (dotted, anchor), found in sorted(lookups.items()))
    dependencies = []
    for dependency in sorted(reads - {os.path.abspath(path)}):
        try:
            digest = content_hash(read_source_file(dependency))
        except OSError:
            return result, None, (), None, ()  # cannot vouch for it: do not cache
        # A file whose text the value analysis read is vouched for by its bytes only.
        summary = None if dependency in text_reads else external.summary_digest(dependency)
        dependencies.append((dependency, digest, summary))
    dependencies.append((REACH_DEPENDENCY, reach_digest(settings, path), None))
    return result, content_hash(data), tuple(dependencies), stat, resolutions


def _cached_failure(path: str, reason: str) -> tuple[FileResult, None, tuple, None, tuple]:
    return lint_failure(path, reason), None, (), None, ()


_cached_lint.on_failure = _cached_failure  # type: ignore[attr-defined]
_cached_lint.on_timeout = lambda path, seconds, phase: (lint_timeout(path, seconds, phase), None, (), None, ())  # type: ignore[attr-defined]
_cached_lint.on_memory = lambda path, phase: (lint_over_memory(path, phase), None, (), None, ())  # type: ignore[attr-defined]


def _context():
    # fork shares what the parent imported (libcst, the rules); elsewhere spawn is the safe choice.
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def start_worker(task: Callable[[str], T], prepare: Callable[[], None] | None = None) -> _Slot:
    """A worker for ``task`` that runs ``prepare`` (its imports) right away, before its work is
    known: started while this process reads the cache, it is ready when a file needs linting."""
    return _Slot(_context(), task, prepare)


class TaskFailed(Exception):
    """A worker died or timed out on a path and the task declares no ``on_failure``."""


def _failure_handler(task: Callable[[str], T]) -> Callable[[str, str], T]:
    handler = getattr(getattr(task, "func", task), "on_failure", None)
    if handler is not None:
        return handler

    def fail(path: str, reason: str) -> T:
        raise TaskFailed(f"{path}: {reason}")

    return fail


def _budget_handlers(task: Callable[[str], T], on_failure: Callable[[str, str], T]):
    """(on_timeout(path, seconds, phase), on_memory(path, phase)): the task's own, else failures."""
    function = getattr(task, "func", task)
    on_timeout = getattr(function, "on_timeout", None) or (
        lambda path, seconds, phase: on_failure(
            path, f"linting this file took over {seconds:g} s ({budget.describe(phase)})"
        )
    )
    on_memory = getattr(function, "on_memory", None) or (
        lambda path, phase: on_failure(path, f"linting this file ran out of memory ({budget.describe(phase)})")
    )
    return on_timeout, on_memory


def _worker(
    task: Callable[[str], T],
    connection: Connection,
    prepare: Callable[[], None] | None = None,
    phase=None,
    parent: int | None = None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and ends the workers
    if parent is not None:
        budget.die_with_parent(parent)  # a parent killed by SIGTERM/SIGKILL leaves no worker behind
    budget.share(phase)
    if prepare is not None:
        prepare()
    limited = False
    # What is imported lives as long as the worker: out of the collector's sight. Garbage cycles
    # (visitor classes made per call hold nodes, and so whole trees) are collected every few
    # files, so memory stays flat over a tree whatever the GC thresholds.
    gc.freeze()
    done = 0
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        index, path, timeout = message
        if timeout is not None and not limited:
            budget.limit_memory()  # after the imports: the budget is for the files
            limited = True
        budget.enter("reading the file")
        try:
            with budget.deadline(timeout):
                outcome = (index, True, task(path))
        except budget.FileTimeout as error:
            outcome = (index, "timeout", error.phase)
        except MemoryError:
            outcome = (index, "memory", budget.current())
        except BaseException as error:  # reported by the parent with the file's name
            outcome = (index, False, f"{type(error).__name__}: {error}")
        connection.send(outcome)
        done += 1
        if done % GC_EVERY == 0:
            gc.collect()


class _Slot:
    """One worker process and the path it is busy with."""

    def __init__(self, context, task: Callable[[str], T], prepare: Callable[[], None] | None = None) -> None:
        self.connection, child = context.Pipe()
        #: What the worker is doing (``budget.enter``), readable after it is killed.
        self.phase = context.RawArray("c", budget.PHASE_SIZE)
        arguments = (task, child, prepare, self.phase, os.getpid())
        self.process = context.Process(target=_worker, args=arguments, daemon=True)
        self.process.start()
        child.close()
        self.index: int | None = None
        self.started = 0.0
        self.cpu_at_start: float | None = None

    def send(self, index: int, path: str, timeout: float | None = None) -> None:
        self.index, self.started = index, time.monotonic()
        self.cpu_at_start = budget.cpu_seconds(self.process.pid)
        self.phase.value = b"waiting for the worker"
        self.connection.send((index, path, timeout))

    def over_budget(self, timeout: float, grace: float, now: float) -> bool:
        """Past the budget in CPU seconds (plus ``grace``), or ``WALL_FACTOR`` times it on the clock."""
        if now - self.started > timeout * budget.WALL_FACTOR + grace:
            return True
        used = budget.cpu_seconds(self.process.pid)
        return used is not None and self.cpu_at_start is not None and used - self.cpu_at_start > timeout + grace

    def current_phase(self) -> str:
        return self.phase.value.decode("utf-8", "replace") or "starting"

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):
                self.connection.send(None)
        self.process.join(timeout=None if kill else 5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _death_reason(process: multiprocessing.Process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker linting this file crashed ({name})"
    return f"the worker linting this file exited unexpectedly (exit code {code})"


def run_parallel(
    task: Callable[[str], T],
    paths: Sequence[str],
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    timeout: float | None = None,
    prepare: Callable[[], None] | None = None,
    started: Sequence[_Slot] = (),
) -> list[T]:
    """``task`` over every path, on worker processes when it pays; results in the order of ``paths``.

    ``prepare``, if given, runs in this process just before the workers start (they share what it
    imports); a run without workers leaves the task to import what it needs. ``started`` are
    workers of the same task started earlier (``start_worker``): used first, and always stopped.

    ``task`` must be picklable (a module-level function or a ``functools.partial`` of one). A worker
    that dies, or runs longer than ``timeout`` seconds on one path, is replaced; the path's result
    is then ``task.on_failure(path, reason)`` (``TaskFailed`` is raised when the task has none).
    ``progress``, if given, is called with the number of paths done so far.
    """
    jobs = budget.useful_jobs(jobs, len(paths))
    # With a budget, even one file runs in a worker: only a separate process can be stopped.
    if not paths or ((jobs <= 1 or len(paths) < PARALLEL_THRESHOLD) and not started and timeout is None):
        for slot in started:
            slot.stop(kill=True)
        done = []
        for path in paths:
            done.append(task(path))
            if progress is not None:
                progress(len(done))
        return done
    on_failure = _failure_handler(task)
    on_timeout, on_memory = _budget_handlers(task, on_failure)
    #: A worker stuck in native code ignores SIGALRM; it is killed this much after the budget.
    grace = None if timeout is None else max(2.0, timeout / 10)
    context = _context()
    results: list[T | None] = [None] * len(paths)
    pending = list(reversed(range(len(paths))))
    wanted = max(1, min(jobs, len(paths)))
    for surplus in started[wanted:]:
        surplus.stop(kill=True)
    slots = list(started[:wanted])
    if len(slots) < wanted and prepare is not None:
        prepare()
    slots += [_Slot(context, task) for _ in range(wanted - len(slots))]
    finished = 0

    def done_with(slot: _Slot) -> None:
        """Count a finished path and hand the (now idle) slot the next one."""
        nonlocal finished
        finished += 1
        if progress is not None:
            progress(finished)
        if pending:
            index = pending.pop()
            slot.send(index, paths[index], timeout)

    def replace(position: int, slot: _Slot) -> _Slot:
        slot.stop(kill=True)
        slots[position] = fresh = _Slot(context, task)
        return fresh

    try:
        for slot in slots:
            if pending:
                index = pending.pop()
                slot.send(index, paths[index], timeout)
        while finished < len(paths):
            busy = {slot.connection: slot for slot in slots if slot.index is not None}
            ready = wait(list(busy), timeout=1.0 if timeout is not None else None)
            for connection in ready:
                slot = busy[connection]
                index = slot.index
                try:
                    _, ok, value = connection.recv()
                    if ok in ("timeout", "memory"):  # the worker stopped itself: replace it all the same
                        results[index] = (
                            on_timeout(paths[index], timeout, value)
                            if ok == "timeout"
                            else on_memory(paths[index], value)
                        )
                        slot = replace(slots.index(slot), slot)
                    else:
                        results[index] = value if ok else on_failure(paths[index], f"crashed: {value}")
                except (EOFError, OSError):
                    slot.process.join(timeout=5)
                    results[index] = on_failure(paths[index], _death_reason(slot.process))
                    slot = replace(slots.index(slot), slot)
                slot.index = None
                done_with(slot)
            if timeout is not None:
                now = time.monotonic()
                for position, slot in enumerate(slots):
                    if slot.index is not None and slot.over_budget(timeout, grace, now):
                        index = slot.index
                        results[index] = on_timeout(paths[index], timeout, slot.current_phase())
                        slot = replace(position, slot)
                        done_with(slot)
    finally:
        for slot in slots:
            slot.stop(kill=finished < len(paths))
    return results  # type: ignore[return-value]


def lint_files(
    paths: Sequence[str],
    settings: Settings,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    cache: bool = False,
    timeout: float | None = None,
    started: Sequence[_Slot] | None = None,
) -> list[FileResult]:
    """Lint files in parallel; results come back in path order whatever the parallelism.

    With ``cache``, results of unchanged files come from ``.export_lint_cache/`` (see
    :mod:`export_lint.cache`) and new results are stored there; ``started`` are workers from
    ``start_cached_workers`` (by default one is started here, while the cache is read).
    """
    ordered = sorted(paths)
    if not cache:
        for slot in started or ():
            slot.stop(kill=True)
        results = run_parallel(
            functools.partial(lint_file, settings=settings),
            _largest_first(ordered),
            jobs,
            progress,
            timeout=timeout,
            prepare=_preload,
        )
        return sorted(results, key=lambda result: result.path)
    from export_lint.cache import Cache

    task = functools.partial(_cached_lint, settings=settings)
    early = list(started) if started is not None else start_cached_workers(settings, jobs)
    try:
        store = Cache.open(settings)
        found: dict[str, FileResult] = {}
        misses: list[str] = []
        for path in ordered:
            hit = store.lookup(path)
            if isinstance(hit, FileResult):
                found[path] = hit if hit.path == path else _renamed(hit, path)
            elif (trivial := _trivial_miss(path, store)) is not None:
                found[path] = trivial
            else:
                misses.append(path)
    except BaseException:
        for slot in early:
            slot.stop(kill=True)
        raise
    if progress is not None and found:
        progress(len(found))
    offset = len(found)
    report = (lambda done: progress(offset + done)) if progress is not None else None
    misses = _largest_first(misses)
    outcomes = run_parallel(task, misses, jobs, report, timeout=timeout, prepare=_preload, started=early)
    for path, (result, digest, dependencies, stat, resolutions) in zip(misses, outcomes, strict=True):
        found[path] = result
        if digest is not None and not any(d.internal_error for d in result.diagnostics):
            store.put(path, digest, dependencies, result, stat, resolutions)
    store.save()
    return sorted(found.values(), key=lambda result: result.path)


def start_cached_workers(settings: Settings, jobs: int | None = None) -> list[_Slot]:
    """One worker for ``lint_files(..., cache=True)``, started now. Importing LibCST and the
    rules takes about half a second: the worker does it while this process finds the files and
    reads the cache, so a run with one changed file costs little more than one with none. None
    on one core (the run is serial)."""
    if (jobs or os.cpu_count() or 1) <= 1:
        return []
    return [start_worker(functools.partial(_cached_lint, settings=settings), _preload)]


def _trivial_miss(path: str, store) -> FileResult | None:
    """A changed file that cannot need linting (no torch in it): answered and stored here, so
    that no worker has to import LibCST for it."""
    from export_lint.cache import content_hash, file_stat

    stat = file_stat(path)
    data = _read(path)
    if isinstance(data, FileResult):
        return None
    result = _trivial_result(data, path)
    if result is not None:
        store.put(path, content_hash(data), (), result, stat)
    return result


def _preload() -> None:
    """Import the engine and every rule once, before workers fork (a warm run that finds every
    result in the cache never imports LibCST)."""
    from export_lint.engine import lint_source  # noqa: F401
    from export_lint.rules import all_rules

    all_rules()


def _largest_first(paths: Sequence[str]) -> list[str]:
    """Paths by decreasing size: the longest files start first, so no worker is left with one at the end."""

    def size(path: str) -> int:
        try:
            return os.stat(path).st_size
        except OSError:
            return 0

    return sorted(paths, key=size, reverse=True)


def _renamed(result: FileResult, path: str) -> FileResult:
    """A cached result reported under the name the file has in this run."""
    import dataclasses

    diagnostics = [dataclasses.replace(d, path=path) for d in result.diagnostics]
    return dataclasses.replace(result, path=path, diagnostics=diagnostics)
