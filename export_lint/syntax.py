"""CPython's own verdict on a file's syntax, and where it puts the error.

Cheap enough for every file (``compile`` is ~15x faster than LibCST's parse), so a file that
never mentions torch, which no rule reads, still gets its syntax error reported. LibCST's row
for an unclosed bracket is the line after the error; CPython's is the one a user expects.
"""

from __future__ import annotations

import ast
import warnings

from export_lint.diagnostics import Diagnostic, file_error

#: Larger texts are not judged (the engine skips files over 5 MiB too: ``engine.MAX_SOURCE_CHARS``).
MAX_JUDGED_CHARS = 5 * 2**20


def cpython_syntax_error(text: str, path: str, *, grammar_checked: bool = False) -> Diagnostic | None:
    """The syntax error CPython's ``compile()`` finds in ``text``, at CPython's location; None
    when it compiles (or when CPython cannot judge it: nesting too deep for its parser).

    ``grammar_checked``: LibCST parsed the file. Then only errors of CPython's compiler stage count
    (a repeated keyword argument, ``return`` outside a function: wrong in every Python), not those
    of its grammar: the file may be written for a newer Python than the one running."""
    if len(text) > MAX_JUDGED_CHARS:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like are not our report
            compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as error:  # IndentationError and TabError too
        if grammar_checked and not _parses(text):
            return None
        message = error.msg or "invalid syntax"
        return file_error(
            path,
            "syntax-error",
            f"{type(error).__name__}: {message}",
            max(error.lineno or 1, 1),
            max(error.offset or 1, 1),
        )
    except (ValueError, RecursionError, MemoryError, OverflowError):
        return None
    return None


def _parses(text: str) -> bool:
    """Whether CPython's grammar accepts the text (its compiler may still reject it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True
