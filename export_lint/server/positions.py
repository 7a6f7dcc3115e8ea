"""Character offsets in a document <-> LSP positions (lines and code units of the negotiated encoding).

LSP counts lines split at ``\\n``, ``\\r\\n`` and ``\\r`` only, as Python and the engine do (not
the other line breaks ``str.splitlines`` knows), and columns in UTF-16 code units unless the client agreed to UTF-8 or
UTF-32. The engine reports character offsets; this is the one place they are converted.
"""

from __future__ import annotations

import bisect

from lsprotocol import types

from export_lint.source import line_starts


def _units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class PositionMap:
    """Converts between offsets into ``text`` and LSP positions in ``encoding``."""

    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.text = text
        self.encoding = encoding
        self.line_starts = line_starts(text)  # the lines Python (and so the engine) sees: LSP's too

    def _line_end(self, line: int) -> int:
        """Offset of the end of a line's content (before its line break)."""
        if line + 1 < len(self.line_starts):
            end = self.line_starts[line + 1]
            while end > self.line_starts[line] and self.text[end - 1] in "\r\n":
                end -= 1
            return end
        return len(self.text)

    def position(self, offset: int) -> types.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        offset = min(offset, self._line_end(line))  # an offset inside a line break ends the line
        return types.Position(line=line, character=_units(self.text[start:offset], self.encoding))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def offset(self, position: types.Position) -> int:
        """The offset of an LSP position; a column past the line's end clamps to it."""
        if position.line >= len(self.line_starts):
            return len(self.text)
        start = self.line_starts[max(position.line, 0)]
        end = self._line_end(position.line)
        if self.encoding == types.PositionEncodingKind.Utf32:
            return min(start + position.character, end)
        units = 0
        for index in range(start, end):
            if units >= position.character:
                return index
            units += _units(self.text[index], self.encoding)
        return end
