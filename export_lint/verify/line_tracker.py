"""Which of a few chosen lines run while torch.export traces (``sys.monitoring`` on 3.12+, else ``sys.settrace``).

Only the lines asked about are watched (``None`` for a file: all its lines): other code objects get
no line events, so the trace costs one cheap call event per Python call. Strict export runs the code under dynamo, which does not execute
it frame by frame; only a non-strict trace says what ran.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping


class _Every(set):
    """Stands for every line of a file."""

    def __contains__(self, line: object) -> bool:
        return True


_EVERY = _Every()


class LineTracker:
    """``with LineTracker({path: {lines} or None}) as seen: ...`` then ``seen.executed``: {path: {lines that ran}}."""

    def __init__(
        self, wanted: Mapping[str, set[int] | None], every_line_of: Callable[[str], bool] | None = None
    ) -> None:
        #: Files not in ``wanted`` for which this says yes have every line watched.
        self.every_line_of = every_line_of
        self.wanted = {
            os.path.abspath(path): _EVERY if lines is None else set(lines)
            for path, lines in wanted.items()
            if lines is None or lines
        }
        self.executed: dict[str, set[int]] = {}
        self._previous = None
        self._codes: dict[object, set[int] | None] = {}
        self._tool: int | None = None

    # -- sys.settrace (Python < 3.12) ------------------------------------------------------
    def _lines_of(self, code) -> set[int] | None:
        try:
            return self._codes[code]
        except KeyError:
            lines = None
            if code.co_filename[:1] != "<":
                path = os.path.abspath(code.co_filename)
                lines = self.wanted.get(path)
                if lines is None and self.every_line_of is not None and self.every_line_of(path):
                    lines = _EVERY
            self._codes[code] = lines
            return lines

    def _global(self, frame, event, arg):
        lines = self._lines_of(frame.f_code)
        if lines is None:
            return None
        path = os.path.abspath(frame.f_code.co_filename)
        seen = self.executed.setdefault(path, set())

        def local(frame, event, arg):
            if event == "line" and frame.f_lineno in lines:
                seen.add(frame.f_lineno)
            return local

        def every(frame, event, arg):
            if event == "line":
                seen.add(frame.f_lineno)
            return every

        if lines is _EVERY:
            return every

        return local

    # -- sys.monitoring (Python >= 3.12) ---------------------------------------------------
    def _start_monitoring(self) -> bool:
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is None:
            return False
        for tool in (monitoring.PROFILER_ID, monitoring.OPTIMIZER_ID, 4, 5):
            if monitoring.get_tool(tool) is None:
                monitoring.use_tool_id(tool, "export-lint")
                self._tool = tool
                break
        else:
            return False
        events = monitoring.events

        def on_line(code, line):
            lines = self._lines_of(code)
            if lines is None:
                return monitoring.DISABLE
            if lines is _EVERY or line in lines:
                self.executed.setdefault(os.path.abspath(code.co_filename), set()).add(line)
            return None

        monitoring.register_callback(self._tool, events.LINE, on_line)
        monitoring.set_events(self._tool, events.LINE)
        return True

    def __enter__(self) -> LineTracker:
        if not self.wanted and self.every_line_of is None:
            return self
        if self._start_monitoring():
            return self
        self._previous = sys.gettrace()
        sys.settrace(self._global)
        threading.settrace(self._global)
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.wanted and self.every_line_of is None:
            return
        if self._tool is not None:
            monitoring = sys.monitoring
            monitoring.set_events(self._tool, 0)
            monitoring.register_callback(self._tool, monitoring.events.LINE, None)
            monitoring.free_tool_id(self._tool)
            self._tool = None
            return
        sys.settrace(self._previous)
        threading.settrace(self._previous)  # type: ignore[arg-type]
