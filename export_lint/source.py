"""Reading a source file as Python does, and the cheap test of whether it needs linting at all.

Nothing here imports LibCST: a warm run, or one whose changed files say nothing about torch,
answers without it.
"""

from __future__ import annotations

import io
import tokenize

#: A file that says none of these cannot hold a hazard export-lint knows: every name rules resolve
#: (``torch.export.export``, ``torch.nn.Module``, ``torch.cuda``) is imported from torch, and a
#: module class's base is spelled ``nn.`` when ``nn`` comes from elsewhere (a re-export).
PREFILTER = ("torch", "nn.")


def decode_source(data: bytes) -> tuple[str, str]:
    """Decode bytes as Python does: BOM, PEP 263 coding cookie, else UTF-8. Returns (text, encoding)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding), encoding


def needs_linting(text: str) -> bool:
    """Whether any rule could report something in the text: it names torch or ``nn.``, or
    holds a ``noqa`` comment (whose use EXP900 judges)."""
    return "noqa" in text or any(marker in text for marker in PREFILTER)
