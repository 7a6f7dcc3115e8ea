"""Lint in a worker process within a time budget, so that no file can hang or crash the server.

The worker lives as long as the server and is replaced only when it overruns its budget or dies:
what it has learnt about the other files of the project (``export_lint.external``'s summaries,
re-read only when a file's stat changes) is reused from one keystroke to the next. Workers fork
from a forkserver that has imported the engine and every rule once, so a replacement is ready in
milliseconds, not the half second those imports take.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from export_lint.budget import WALL_FACTOR, cpu_seconds
from export_lint.config import Settings
from export_lint.diagnostics import Diagnostic, FileResult, file_error

#: CPU seconds one lint or fix may take before its worker is killed (``fileTimeout`` overrides it).
DEFAULT_BUDGET = 10.0


def _preloaded_modules() -> list[str]:
    from export_lint.rules import CODES

    rules = [f"export_lint.rules.{target.partition(':')[0]}" for target in CODES.values()]
    return ["export_lint.engine", "export_lint.fixer", "export_lint.cache", "export_lint.runner", *rules]


@dataclass
class _Project:
    """What a project's export roots reach, with the index it was computed on, kept across edits."""

    index: object  # analysis.index.ProjectIndex
    reach: object  # analysis.roots.Reach
    #: real path -> the export-related lines of the text the reach was computed with
    signatures: dict[str, tuple[str, ...]]


_projects: dict[tuple[str, tuple[str, ...]], _Project] = {}


def _export_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if "export" in line)


def _with_reach(settings: Settings, path: str, text: str) -> Settings:
    """``settings`` carrying what the project's export roots reach, as ``check`` computes it.

    The project index and reach are built once per project and kept: an edit recomputes the reach
    (on the warm index, the edited text swapped in) only when the file's export-related lines
    change; a save anywhere (``forget``) starts afresh. A file outside the index keeps its own
    export calls as its roots (``reach`` None)."""
    if getattr(settings, "traced", "roots") != "roots" or getattr(settings, "reach", "absent") is not None:
        return settings
    import dataclasses

    from export_lint.analysis.index import ProjectIndex
    from export_lint.analysis.roots import compute_reach

    root = settings.project_root if settings.project_root not in ("", ".") else os.path.dirname(os.path.abspath(path))
    key = (os.path.realpath(root), tuple(settings.export_roots))
    real = os.path.realpath(path)
    signature = _export_lines(text)
    project = _projects.get(key)
    if project is None:
        index = ProjectIndex(root, texts={path: text})
        project = _Project(index, compute_reach(index, settings.export_roots), {real: signature})
        _projects[key] = project
    index = project.index
    if real not in index.module_of:  # type: ignore[attr-defined]
        return settings
    known = project.signatures.get(real)
    if known is None:
        known = project.signatures[real] = _export_lines(index.text(real) or "")  # type: ignore[attr-defined]
    if known != signature:
        index.texts[real] = text  # type: ignore[attr-defined]
        index._facts.pop(real, None)  # type: ignore[attr-defined]
        project.reach = compute_reach(index, settings.export_roots)  # type: ignore[arg-type]
        project.signatures[real] = signature
    return dataclasses.replace(settings, reach=project.reach)


def _forget() -> None:
    _projects.clear()


def _lint(text: str, path: str, settings: Settings, from_disk: bool) -> list[Diagnostic]:
    """Diagnostics of Python ``text`` linted as ``path`` (a notebook's joined cells too: ``lint_text``,
    unlike ``lint_source``, never reads a ``.ipynb`` name as notebook JSON)."""
    from export_lint.engine import lint_text

    settings = _with_reach(settings, path, text)

    if from_disk:
        cached = _lint_through_cache(text, path, settings)
        if cached is not None:
            return cached
    return lint_text(text, path, settings)


def _lint_through_cache(text: str, path: str, settings: Settings) -> list[Diagnostic] | None:
    """The file's result from the cache ``check`` keeps (stored there on a miss), when the editor's
    text is the file's text on disk; None otherwise."""
    from export_lint.cache import Cache, content_hash
    from export_lint.runner import _cached_lint
    from export_lint.source import decode_source, read_source_file

    try:
        data = read_source_file(path)
        if decode_source(data)[0] != text:
            return None
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
        return None
    store = Cache.open(settings)
    hit = store.get(path, content_hash(data))
    if isinstance(hit, FileResult):
        return hit.diagnostics
    # what ``lint_files`` stores after the result and hash: passed on as it comes (its shape grows)
    result, digest, *stored = _cached_lint(path, settings)
    if digest is not None and not any(d.internal_error for d in result.diagnostics):
        store.put(path, digest, *stored[:1], result, *stored[1:])
        store.save()
    return result.diagnostics


def _fix(text: str, path: str, settings: Settings, unsafe: bool) -> str:
    from export_lint.fixer import fix_text

    settings = _with_reach(settings, path, text)
    return fix_text(text, path, settings, unsafe=unsafe).text


_HANDLERS = {"lint": _lint, "fix": _fix, "forget": _forget}


def _serve(connection: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the editor stops the server, the server its worker
    gc.freeze()  # the preloaded engine lives as long as the worker: out of the collector's sight
    done = 0
    while True:
        try:
            kind, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            outcome = (True, _HANDLERS[kind](*args))
        except BaseException as error:  # reported by the server with the file's name
            outcome = (False, f"{type(error).__name__}: {error}")
        connection.send(outcome)
        done += 1
        if done % 8 == 0:  # visitor classes made per call hold trees in cycles (see runner._worker)
            gc.collect()


@dataclass
class Failure:
    """Why a request got no answer: the budget ran out, or the worker died or raised."""

    name: str
    message: str

    def diagnostic(self, path: str) -> Diagnostic:
        return file_error(path, self.name, self.message, internal=self.name == "internal-error")


class LintWorker:
    """One worker process; ``lint`` and ``fix`` block for at most ``budget`` seconds."""

    def __init__(self, budget: float = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_preloaded_modules())
        self._process = None
        self._connection: Connection | None = None
        self._busy = threading.Lock()  # one request at a time on the pipe, whichever thread asks

    def start(self) -> None:
        """Start the worker now (the forkserver's imports take ~1 s) rather than on the first request."""
        if self._process is None or not self._process.is_alive():
            parent, child = self._context.Pipe()
            self._process = self._context.Process(target=_serve, args=(child,), daemon=True)
            self._process.start()
            child.close()
            self._connection = parent

    def warm_up(self) -> None:
        """``start`` on a thread: the server answers ``initialize`` while the forkserver imports."""

        def start() -> None:
            with self._busy:
                self.start()

        threading.Thread(target=start, name="export-lint-warm-up", daemon=True).start()

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
            with contextlib.suppress(OSError):
                self._connection.close()  # type: ignore[union-attr]
        self._process = self._connection = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _call(self, kind: str, *args: object) -> object:
        with self._busy:
            return self._request(kind, args)

    def _request(self, kind: str, args: tuple) -> object:
        self.start()
        connection = self._connection
        assert connection is not None
        try:
            connection.send((kind, args))
            if not self._answered(connection):
                self.stop()
                return Failure("timeout", f"linting this file took over {self.budget:g} s of CPU time; skipped")
            ok, value = connection.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process is not None else None
            self.stop()
            return Failure("internal-error", f"the worker linting this file died (exit code {code})")
        return value if ok else Failure("internal-error", f"export-lint crashed: {value}")

    def _answered(self, connection: Connection) -> bool:
        """Wait for the answer while the worker has used less than ``budget`` CPU seconds on it
        (at most ``WALL_FACTOR`` times as long on the clock): on a loaded machine a file is not
        cut off for the time other processes took."""
        pid = self._process.pid if self._process is not None else None
        spent_before = None if pid is None else cpu_seconds(pid)
        started = time.monotonic()
        while True:
            if connection.poll(min(self.budget, 0.25)):
                return True
            waited = time.monotonic() - started
            spent = None if pid is None else cpu_seconds(pid)
            used = waited if spent is None or spent_before is None else spent - spent_before
            if used >= self.budget or waited >= self.budget * WALL_FACTOR:
                return False

    def lint(self, text: str, path: str, settings: Settings, from_disk: bool = False) -> list[Diagnostic]:
        """The diagnostics of ``text`` (the editor's buffer for ``path``); one EXP000 if it failed.

        ``from_disk`` (on open and save): when the buffer is the file on disk, go through the
        results cache ``check`` uses."""
        value = self._call("lint", text, path, settings, from_disk)
        return [value.diagnostic(path)] if isinstance(value, Failure) else value  # type: ignore[return-value]

    def forget(self) -> None:
        """Files changed on disk: the projects' indexes and reaches are rebuilt on the next lint."""
        self._call("forget")

    def fix(self, text: str, path: str, settings: Settings, unsafe: bool = False) -> str | Failure:
        """``text`` with every applicable fix applied (re-linted to a fixpoint, as ``fix`` does)."""
        return self._call("fix", text, path, settings, unsafe)  # type: ignore[return-value]
