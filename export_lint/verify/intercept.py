"""Run a user's export script as ``python script.py ARGS`` would, checking every export call it makes.

``torch.export.export``, ``torch.export.draft_export`` and ``torch._dynamo.export`` are replaced
while the script runs; each call is checked (``check_export``) and then answered as torch would
answer it: the program, or the original exception, so the script behaves as it does without us.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import runpy
import sys
import traceback
from collections.abc import Callable, Iterator

from export_lint.verify import check_export as checking
from export_lint.verify.locate import Frame, is_user_code
from export_lint.verify.targets import ExportRequest


@dataclasses.dataclass
class ScriptRun:
    exit_code: int = 0
    error: str | None = None  # the script's uncaught exception, if any
    #: The script's uncaught exception when an exported program raised it (called after export).
    program_error: BaseException | None = None


def caller_frame() -> Frame | None:
    """The innermost user frame of the current stack: the line of the intercepted call."""
    for summary in reversed(traceback.extract_stack()):
        if is_user_code(summary.filename):
            return Frame(os.path.abspath(summary.filename), summary.lineno or 1, summary.name)
    return None


@contextlib.contextmanager
def intercepting(on_export: Callable[[str, ExportRequest, Frame | None], checking.ExportCheck]) -> Iterator[None]:
    """Patch the three export entry points; ``on_export(kind, request, call site)`` checks each call."""
    import torch._dynamo
    import torch.export

    export, draft = checking.real("export"), checking.real("draft_export")
    dynamo_export = torch._dynamo.export

    @functools.wraps(export)
    def export_wrapper(mod, args=(), kwargs=None, *, dynamic_shapes=None, strict=None, **options):
        if options:  # options verify does not model: check the call as made, answer with torch's own
            return export(mod, args, kwargs, dynamic_shapes=dynamic_shapes, **_strict(strict), **options)
        request = ExportRequest(mod, tuple(args), dict(kwargs or {}), dynamic_shapes, strict)
        check = on_export("torch.export.export", request, caller_frame())
        if check.raised is not None:
            raise check.raised
        if check.program is not None:
            return check.program
        return export(mod, args, kwargs, dynamic_shapes=dynamic_shapes, **_strict(strict))

    @functools.wraps(draft)
    def draft_wrapper(mod, args=(), kwargs=None, *, dynamic_shapes=None, strict=False, **options):
        request = ExportRequest(mod, tuple(args), dict(kwargs or {}), dynamic_shapes, strict)
        on_export("torch.export.draft_export", request, caller_frame())
        return draft(mod, args, kwargs, dynamic_shapes=dynamic_shapes, strict=strict, **options)

    @functools.wraps(dynamo_export)
    def dynamo_wrapper(f, *extra_args, **options):
        inner = dynamo_export(f, *extra_args, **options)
        site = caller_frame()

        @functools.wraps(inner)
        def run(*args, **kwargs):
            if isinstance(f, torch.nn.Module):
                on_export("torch._dynamo.export", ExportRequest(f, args, kwargs, None, True), site)
            return inner(*args, **kwargs)

        return run

    saved = (torch.export.export, torch.export.draft_export, torch._dynamo.export)
    torch.export.export, torch.export.draft_export, torch._dynamo.export = export_wrapper, draft_wrapper, dynamo_wrapper
    try:
        yield
    finally:
        torch.export.export, torch.export.draft_export, torch._dynamo.export = saved


def raised_by_exported_program(error: BaseException) -> bool:
    """Whether the exception came out of calling an ExportedProgram's module (a guard, an input check)."""
    marks = (
        os.path.join("torch", "fx", "graph_module.py"),
        os.path.join("torch", "export", "_unlift.py"),
        os.path.join("torch", "_export", ""),
    )
    return any(any(mark in frame.filename for mark in marks) for frame in traceback.extract_tb(error.__traceback__))


def _strict(strict: bool | None) -> dict:
    return {} if strict is None else {"strict": strict}


def run_script(path: str, argv: list[str], on_export) -> ScriptRun:
    """Run the script as ``__main__`` with ``sys.argv = [path, *argv]`` and its folder first on sys.path."""
    outcome = ScriptRun()
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        with intercepting(on_export):
            runpy.run_path(path, run_name="__main__")
    except SystemExit as done:
        code = done.code
        outcome.exit_code = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except Exception as error:
        outcome.exit_code = 1
        outcome.error = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[0]
        if raised_by_exported_program(error):
            outcome.program_error = error
        traceback.print_exc()
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return outcome
