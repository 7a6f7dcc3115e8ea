"""A linear-time text scan: is one of these names followed by ``(``, with only whitespace, line
continuations and comments between?

A single regex such as ``name(?:\\s|\\\\\\n|#[^\\n]*)*\\(`` backtracks exponentially on a run of ``#``
(``#[^\\n]*`` can split it in 2**n ways) and quadratically on a line where names and comments
alternate. Here every regex is unambiguous (each position has one way to match), a comment is
skipped in one jump to its line end, and a gap already skipped is never skipped again, so the whole
scan costs O(len(text)) plus one search per name occurrence.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from export_lint.source import LINE_BREAK

#: Whitespace and backslash line continuations (``\\`` then ``\\r\\n``, ``\\r`` or ``\\n``). Every
#: iteration starts with a different character class and has one length: no backtracking blow-up.
_BLANKS = re.compile(r"(?:\s|\\(?:\r\n|\r(?!\n)|\n))*")


def name_then_paren(text: str, names: Iterable[str]) -> bool:
    """True when a whole-word occurrence of one of ``names`` is followed by ``(`` (conservative:
    occurrences inside strings and comments count too)."""
    alternatives = "|".join(sorted(map(re.escape, names), key=lambda name: (-len(name), name)))
    if not alternatives:
        return False
    line_ends: list[int] | None = None
    skipped: dict[int, int] = {}  # gap start -> first position after the gap
    for match in re.finditer(rf"\b(?:{alternatives})", text):
        position, visited = match.end(), []
        while position not in skipped:
            visited.append(position)
            position = _BLANKS.match(text, position).end()
            if not text.startswith("#", position):
                break
            if line_ends is None:
                line_ends = [found.start() for found in LINE_BREAK.finditer(text)]
            index = bisect.bisect_left(line_ends, position)
            position = line_ends[index] if index < len(line_ends) else len(text)
        position = skipped.get(position, position)
        for start in visited:
            skipped[start] = position
        if text.startswith("(", position):
            return True
    return False
