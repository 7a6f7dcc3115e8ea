"""Record every ``torch.export.export`` call a piece of user code makes, calling the real function."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
import traceback
from collections.abc import Iterator
from typing import Any


def first_line(error: BaseException) -> str:
    """``TypeName: first line of the message``, as a report shows an exception."""
    text = traceback.format_exception_only(type(error), error)[-1].strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclasses.dataclass
class ExportCall:
    """One call of ``torch.export.export``: what was exported, with which inputs, and what came of it."""

    target: Any
    args: tuple
    kwargs: dict
    options: dict
    program: Any = None
    error: str | None = None
    seconds: float = 0.0


@contextlib.contextmanager
def recording_exports() -> Iterator[list[ExportCall]]:
    """Patch ``torch.export.export`` with a recorder that calls the real one (restored on exit).

    User code looks the function up at call time (``torch.export.export(...)``), so every export it
    makes goes through the recorder; the compiler's behaviour is untouched.
    """
    import torch.export

    real = torch.export.export
    calls: list[ExportCall] = []

    @functools.wraps(real)
    def export(mod, args=(), kwargs=None, **options):
        call = ExportCall(mod, tuple(args), dict(kwargs or {}), options)
        calls.append(call)
        start = time.perf_counter()
        try:
            call.program = real(mod, args, kwargs, **options)
        except Exception as error:
            call.error = first_line(error)
            raise
        finally:
            call.seconds = time.perf_counter() - start
        return call.program

    torch.export.export = export
    try:
        yield calls
    finally:
        torch.export.export = real
