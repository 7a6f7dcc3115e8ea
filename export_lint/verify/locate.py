"""Which source line a runtime failure belongs to: the innermost frame in the user's code.

User code is any file outside torch, the standard library, installed packages and export-lint.
When a failure has no such frame (a model from a library), the innermost frame outside torch, the
standard library and export-lint is taken, so a library's own line is reported. Frames inside a
decorator's wrapper (``wrappers``) are passed over: the failure belongs to the code they wrap, or
to the model's ``forward`` when no other frame is left.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Sequence

from export_lint.verify.wrappers import is_wrapper_frame

_CASES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "verify", "cases")
_DYNAMO_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\s]+)')


@dataclasses.dataclass(frozen=True)
class Frame:
    """A 1-based line (and, when known, 1-based columns) in a file."""

    path: str
    line: int
    function: str = ""
    column: int | None = None
    end_column: int | None = None


@functools.lru_cache(maxsize=1)
def _roots() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(torch and export-lint folders, standard-library folders, installed-package folders)."""
    import export_lint

    tools = [os.path.dirname(os.path.abspath(export_lint.__file__))]
    spec = importlib.util.find_spec("torch")
    if spec is not None and spec.origin:
        torch_root = os.path.dirname(os.path.abspath(spec.origin))
        tools += [torch_root, os.path.join(os.path.dirname(torch_root), "functorch")]
    paths = sysconfig.get_paths()
    stdlib = {os.path.abspath(paths[key]) for key in ("stdlib", "platstdlib") if key in paths}
    installed = {os.path.abspath(paths[key]) for key in ("purelib", "platlib") if key in paths}
    installed |= {
        os.path.abspath(entry) for entry in sys.path if os.path.basename(entry) in ("site-packages", "dist-packages")
    }
    return tuple(tools), tuple(sorted(stdlib)), tuple(sorted(installed))


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def is_framework(path: str) -> bool:
    """torch, export-lint or the standard library (installed packages are not framework code)."""
    if path.startswith("<"):
        return True
    path = os.path.abspath(path)
    tools, stdlib, installed = _roots()
    if _under(path, tools):
        return not _under(path, (_CASES,))  # the reference cases are user code, shipped in the package
    return _under(path, stdlib) and not _under(path, installed)


def is_user_code(path: str) -> bool:
    """Code the user wrote: not framework code and not an installed package."""
    return not is_framework(path) and not _under(os.path.abspath(path), _roots()[2])


def culprit(frames: Sequence[Frame], wrapped: Frame | None = None) -> Frame | None:
    """The innermost user frame, else the innermost frame outside torch and the standard library;
    never a decorator's wrapper function: when wrappers are all there is, ``wrapped`` (the model's
    ``forward``, which they wrap)."""
    for predicate in (is_user_code, lambda path: not is_framework(path)):
        for frame in reversed(frames):
            if predicate(frame.path) and not is_wrapper_frame(frame.path, frame.line):
                return frame
    if wrapped is not None and any(not is_framework(f.path) and is_wrapper_frame(f.path, f.line) for f in frames):
        return wrapped
    return None


def traceback_frames(error: BaseException) -> list[Frame]:
    """The frames of an exception's traceback, outermost first, with 3.11+ column positions."""
    frames = []
    for summary in traceback.extract_tb(error.__traceback__):
        column = getattr(summary, "colno", None)
        end = getattr(summary, "end_colno", None)
        same_line = getattr(summary, "end_lineno", summary.lineno) == summary.lineno
        frames.append(
            Frame(
                summary.filename,
                summary.lineno or 1,
                summary.name,
                column + 1 if column is not None else None,
                end + 1 if end is not None and same_line else None,
            )
        )
    return frames


def message_frames(error: BaseException) -> list[Frame]:
    """Frames quoted in the message (dynamo's ``from user code:`` section), outermost first."""
    text = str(error)
    start = text.find("from user code:")
    section = text[start:] if start >= 0 else text
    return [Frame(path, int(line), name) for path, line, name in _DYNAMO_FRAME.findall(section)]


def error_frame(error: BaseException, wrapped: Frame | None = None) -> Frame | None:
    """Where an exception from torch.export belongs: the user frame quoted by dynamo, else the
    traceback's (``wrapped``: see ``culprit``)."""
    quoted = culprit(message_frames(error), wrapped)
    if quoted is not None and is_user_code(quoted.path):
        return quoted
    chained = [error]
    cause = error.__cause__ or error.__context__
    while cause is not None and len(chained) < 8:
        chained.append(cause)
        cause = cause.__cause__ or cause.__context__
    frames: list[Frame] = []
    for item in reversed(chained):  # the innermost cause's traceback holds the deepest frames
        frames += traceback_frames(item)
    found = culprit(frames, wrapped)
    if quoted is not None and (found is None or not is_user_code(found.path)):
        return quoted
    return found


def stack_frames(stack: Sequence[dict], filenames: dict) -> list[Frame]:
    """draft_export's user stack (``{"filename": id, "line": n, "name": f}`` items) as Frames."""
    frames = []
    for item in stack:
        name = filenames.get(item.get("filename"), item.get("filename"))
        if isinstance(name, str):
            frames.append(Frame(name, int(item.get("line") or 1), str(item.get("name", ""))))
    return frames
