"""Reading a source file as Python does, and the cheap test of whether it needs linting at all.

Nothing here imports LibCST: a warm run, or one whose changed files say nothing about torch,
answers without it.
"""

from __future__ import annotations

import io
import re
import tokenize

#: A file that says none of these cannot hold a hazard export-lint knows: every name rules resolve
#: (``torch.export.export``, ``torch.nn.Module``, ``torch.cuda``) is imported from torch, and a
#: module class's base is spelled ``nn.`` when ``nn`` comes from elsewhere (a re-export).
PREFILTER = ("torch", "nn.")


#: What ends a line for Python: ``\r\n``, ``\r`` or ``\n``. Nothing else does, whatever
#: ``str.splitlines`` says (it also splits on form feed, ``\x1c``-``\x1e``, U+0085, U+2028, U+2029).
LINE_BREAK = re.compile(r"\r\n?|\n")
_LONE_CR = re.compile(r"\r(?!\n)")


def line_starts(text: str) -> list[int]:
    r"""Offsets where each line begins, splitting as Python does (``\r\n``, ``\r``, ``\n``)."""
    return [0, *(match.end() for match in LINE_BREAK.finditer(text))]


def split_lines(text: str) -> list[str]:
    """The lines of a text, each with its line ending, split as Python does."""
    starts = line_starts(text)
    return [text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=True) if start < end]


def python_newlines(text: str) -> str:
    r"""The text with each lone ``\r`` turned into ``\n``: same length, offsets, rows and meaning.

    LibCST drops a file's final lone ``\r`` and rules look for ``\n``; the analysis therefore
    reads this text, while fixes are applied to the original bytes.
    """
    return _LONE_CR.sub("\n", text) if "\r" in text else text


def first_newline(text: str) -> str:
    r"""The file's line ending (its first, as LibCST decides), ``\n`` for a single-line file."""
    match = LINE_BREAK.search(text)
    return match.group() if match else "\n"


def decode_source(data: bytes) -> tuple[str, str]:
    """Decode bytes as Python does: BOM, PEP 263 coding cookie, else UTF-8. Returns (text, encoding)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding), encoding


def needs_linting(text: str) -> bool:
    """Whether any rule could report something in the text: it names torch or ``nn.``, or
    holds a ``noqa`` comment (whose use EXP900 judges)."""
    return "noqa" in text or any(marker in text for marker in PREFILTER)
