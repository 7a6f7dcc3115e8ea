"""Paths as shown to people and written to reports: never a raw control character or undecodable byte.

A file name is bytes on POSIX; Python hands undecodable ones over as lone surrogates, which no
UTF-8 stream can carry, and a name holding ``\\x1b`` would drive the terminal. Both are escaped
the way Python writes them in a ``bytes`` literal (``\\xff``, ``\\x1b``).
"""

from __future__ import annotations

import os
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def display_path(path: str) -> str:
    """``path`` with undecodable bytes and control characters escaped (``\\xff``, ``\\x1b``, ``\\n``)."""
    if path.isprintable() and path.isascii():
        return path
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
