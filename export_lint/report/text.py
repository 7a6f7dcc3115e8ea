"""Human output: ``full`` (with a code frame under each diagnostic) and ``concise`` (one line each)."""

from __future__ import annotations

from collections.abc import Sequence

from export_lint.diagnostics import Diagnostic
from export_lint.engine import FileResult


def _headline(d: Diagnostic) -> str:
    marker = " [*]" if d.fixable else ""
    return f"{d.path}:{d.start.row}:{d.start.column}: {d.code}{marker} {d.message}"


def _frame(d: Diagnostic, lines: dict[int, str]) -> list[str]:
    rows = [row for row in range(d.start.row - 1, d.end.row + 2) if row in lines]
    if not rows:
        return []
    width = len(str(rows[-1]))
    gutter = " " * width
    out = [f"{gutter} |"]
    for row in rows:
        text = lines[row].expandtabs(1)
        out.append(f"{row:>{width}} | {text}" if text else f"{row:>{width}} |")
        if d.start.row <= row <= d.end.row:
            start = d.start.column - 1 if row == d.start.row else len(text) - len(text.lstrip())
            end = d.end.column - 1 if row == d.end.row else len(text)
            carets = "^" * max(1, end - start)
            label = f" {d.code}" if row == d.end.row else ""
            out.append(f"{gutter} | {' ' * start}{carets}{label}")
    out.append(f"{gutter} |")
    if d.fix is not None:
        out.append(f"{gutter} = help: {d.fix.message}")
    return out


def render(results: Sequence[FileResult], output_format: str = "full", **_: object) -> str:
    lines: list[str] = []
    for result in results:
        for d in result.diagnostics:
            lines.append(_headline(d))
            if output_format == "full":
                lines.extend(_frame(d, result.source_lines))
                lines.append("")
    return "".join(line + "\n" for line in lines)
