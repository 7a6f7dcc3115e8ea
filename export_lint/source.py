"""Reading a source file as Python does, and the cheap test of whether it needs linting at all.

Nothing here imports LibCST: a warm run, or one whose changed files say nothing about torch,
answers without it.
"""

from __future__ import annotations

import io
import os
import re
import stat
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


#: Larger files are not read (the biggest in torch is 1.3 MB); the engine's own limit is in characters.
MAX_SOURCE_BYTES = 8 * 2**20
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class UnreadableSource(OSError):
    """A path export-lint will not read: not a regular file, or over the size cap."""


def _check_regular(found: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(found.st_mode):
        kind = _KINDS.get(stat.S_IFMT(found.st_mode), "not a regular file")
        raise UnreadableSource(f"not a regular file ({kind}); only regular files are linted")
    if found.st_size > limit:
        raise UnreadableSource(_too_large(found.st_size, limit))


def _too_large(size: int, limit: int) -> str:
    return f"file too large to lint ({_bytes(size)} > the {_bytes(limit)} cap, max-file-size); skipped"


def _bytes(size: int) -> str:
    return f"{size / 2**20:.3g} MiB" if size >= 2**20 else f"{size:,} bytes"


def read_source_file(path: str, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """A regular file's bytes, at most ``limit`` of them; raises OSError (``UnreadableSource``) otherwise.

    A symlink is followed only to a regular file: a FIFO would block the read forever and
    ``/dev/zero`` would fill memory. The kind and size are checked before opening (opening a
    device can act on it), then again on the open descriptor, and the read stops past ``limit``.
    """
    _check_regular(os.stat(path), limit)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as handle:
        found = os.fstat(descriptor)
        _check_regular(found, limit)  # the path may have been swapped since
        chunks, size, want = [], 0, min(found.st_size, limit) + 1  # buffers sized by the file, not the cap
        while size <= limit and (chunk := handle.read(want)):
            chunks.append(chunk)
            size += len(chunk)
            want = min(2**20, limit + 1 - size)
        data = b"".join(chunks)
    if len(data) > limit:
        raise UnreadableSource(_too_large(len(data), limit))
    return data


def decode_source(data: bytes) -> tuple[str, str]:
    """Decode bytes as Python does: BOM, PEP 263 coding cookie, else UTF-8. Returns (text, encoding)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding), encoding


def needs_linting(text: str) -> bool:
    """Whether any rule could report something in the text: it names torch or ``nn.``, or
    holds a ``noqa`` comment (whose use EXP900 judges)."""
    return "noqa" in text or any(marker in text for marker in PREFILTER)
