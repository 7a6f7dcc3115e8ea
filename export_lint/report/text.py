"""Human output: ``full`` (with a code frame under each diagnostic) and ``concise`` (one line each).

With ``color`` (the CLI turns it on for terminals only, never when ``NO_COLOR`` is set), paths are
bold, codes red, and the offending span is underlined in the code frame as well as marked by carets.
"""

from __future__ import annotations

from collections.abc import Sequence

from export_lint.diagnostics import Applicability, Diagnostic, FileResult

BOLD, RED, CYAN, BLUE, UNDERLINE, RESET = "\x1b[1m", "\x1b[1;31m", "\x1b[36m", "\x1b[34m", "\x1b[4m", "\x1b[0m"


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.color and text else text


def _headline(d: Diagnostic, style: _Style, unsafe_fixes: bool = False) -> str:
    # Like ruff, [*] marks what `--fix` will do: safe fixes only, unsafe ones too with --unsafe-fixes.
    marked = (Applicability.SAFE, Applicability.UNSAFE) if unsafe_fixes else (Applicability.SAFE,)
    fixable = d.fix is not None and d.fix.applicability in marked
    marker = f" {style('[*]', CYAN)}" if fixable else ""
    cell = f":cell {d.cell}" if d.cell is not None else ""
    location = style(d.path, BOLD) + f"{cell}:{d.start.row}:{d.start.column}:"
    return f"{location} {style(d.code, RED)}{marker} {d.message}"


def _span_on(d: Diagnostic, row: int, text: str) -> tuple[int, int]:
    """The [start, end) columns (0-based) of the diagnostic on one row of its frame."""
    start = d.start.column - 1 if row == d.start.row else len(text) - len(text.lstrip())
    end = d.end.column - 1 if row == d.end.row else len(text)
    return start, max(end, start + 1)


def _frame(d: Diagnostic, lines: dict[int, str], style: _Style) -> list[str]:
    rows = [row for row in range(d.start.row - 1, d.end.row + 2) if row in lines]
    if not rows:
        return []
    width = len(str(rows[-1]))
    gutter = " " * width
    bar = style("|", BLUE)
    out = [f"{gutter} {bar}"]
    for row in rows:
        text = lines[row].expandtabs(1)
        inside = d.start.row <= row <= d.end.row
        shown = text
        if inside and style.color:
            start, end = _span_on(d, row, text)
            shown = text[:start] + style(text[start:end], UNDERLINE) + text[end:]
        out.append(f"{style(str(row).rjust(width), BLUE)} {bar} {shown}" if text else f"{row:>{width}} {bar}")
        if inside:
            start, end = _span_on(d, row, text)
            label = f" {d.code}" if row == d.end.row else ""
            out.append(f"{gutter} {bar} {' ' * start}{style('^' * (end - start) + label, RED)}")
    out.append(f"{gutter} {bar}")
    if d.fix is not None:
        out.append(f"{gutter} {style('=', BLUE)} help: {d.fix.message}")
    return out


def render(
    results: Sequence[FileResult],
    output_format: str = "full",
    color: bool = False,
    unsafe_fixes: bool = False,
    **_: object,
) -> str:
    style = _Style(color)
    lines: list[str] = []
    for result in results:
        for d in result.diagnostics:
            lines.append(_headline(d, style, unsafe_fixes))
            if output_format == "full":
                lines.extend(_frame(d, result.frame_lines(d), style))
                lines.append("")
    return "".join(line + "\n" for line in lines)
