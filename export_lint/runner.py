"""Lint many files: read in the workers, a process pool sized to the cores, ordered output."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from export_lint.config import Settings
from export_lint.engine import FileResult, file_error, lint_source

T = TypeVar("T")

#: Below this many files a pool costs more than it saves.
PARALLEL_THRESHOLD = 16


def lint_file(path: str, settings: Settings) -> FileResult:
    """Read and lint one file; unreadable files yield one EXP000 io-error."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return FileResult(path, [file_error(path, "io-error", f"cannot read file: {error.strerror or error}")])
    return lint_source(data, path, settings)


def _run_chunk(task: Callable[[str], T], paths: Sequence[str]) -> list[T]:
    return [task(path) for path in paths]


def _chunks(paths: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(paths), size):
        yield paths[start : start + size]


def run_parallel(
    task: Callable[[str], T],
    paths: Sequence[str],
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[T]:
    """``task`` over every path, on a process pool when it pays; results in the order of ``paths``.

    ``task`` must be picklable (a module-level function or a ``functools.partial`` of one).
    ``progress``, if given, is called with the number of paths done so far as chunks finish.
    """
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(paths) < PARALLEL_THRESHOLD:
        if progress is None:
            return _run_chunk(task, paths)
        done = []
        for path in paths:
            done.append(task(path))
            progress(len(done))
        return done
    size = max(1, min(64, len(paths) // (jobs * 4)))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run_chunk, task, chunk) for chunk in _chunks(paths, size)]
        if progress is not None:
            finished = 0
            for future in as_completed(futures):
                finished += len(future.result())
                progress(finished)
        return [result for future in futures for result in future.result()]


def lint_files(
    paths: Sequence[str],
    settings: Settings,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[FileResult]:
    """Lint files in parallel; results come back in path order whatever the parallelism."""
    results = run_parallel(functools.partial(lint_file, settings=settings), sorted(paths), jobs, progress)
    return sorted(results, key=lambda result: result.path)
