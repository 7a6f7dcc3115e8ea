"""Torch version detection and the small version specifiers rules are gated on."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterator

#: The releases docs/torch-versions.json proves every rule on (scripts/torch_matrix.py), oldest first.
KNOWN_RELEASES = (
    "2.4.1",
    "2.5.1",
    "2.6.0",
    "2.7.1",
    "2.8.0",
    "2.9.1",
    "2.10.0",
    "2.11.0",
    "2.12.1",
    "2.13.0",
    "2.14.1",
    "2.15.0",
)

#: The newest torch release export-lint knows about; used when none is installed.
NEWEST_KNOWN_TORCH = "2.15"

#: The first release whose ``torch.export.export`` defaults to ``strict=False``: the 2.7.0 wheel's
#: signature still reads ``strict: bool = True``, 2.8.0's reads ``strict: bool = False``
#: (pytorch/pytorch#148790 landed after the 2.7 branch cut).
NON_STRICT_DEFAULT_SINCE = "2.8"

Version = tuple[int, ...]

_SPEC = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*([0-9]+(?:\.[0-9]+)*)\s*$")


def parse_version(text: str) -> Version:
    """``"2.7.0+cpu"`` -> ``(2, 7, 0)``; raises ValueError on text that is not a version."""
    match = re.match(r"^\s*v?([0-9]+(?:\.[0-9]+)*)", text)
    if not match:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def _compare(left: Version, right: Version) -> int:
    width = max(len(left), len(right))
    a = left + (0,) * (width - len(left))
    b = right + (0,) * (width - len(right))
    return (a > b) - (a < b)


@functools.lru_cache(maxsize=256)
def _clauses(spec: str) -> tuple[tuple[str, Version], ...]:
    clauses = []
    for part in spec.split(","):
        if not part.strip():
            continue
        match = _SPEC.match(part)
        if not match:
            raise ValueError(f"not a version specifier: {spec!r}")
        clauses.append((match.group(1), parse_version(match.group(2))))
    return tuple(clauses)


def validate_specifier(spec: str) -> None:
    _clauses(spec)


def matches(version: Version, spec: str) -> bool:
    """Whether ``version`` satisfies a specifier such as ``"<2.7"`` or ``">=2.0,<2.5"``; ``""`` matches all."""
    tests = {
        "<": lambda c: c < 0,
        "<=": lambda c: c <= 0,
        ">": lambda c: c > 0,
        ">=": lambda c: c >= 0,
        "==": lambda c: c == 0,
        "!=": lambda c: c != 0,
    }
    return all(tests[op](_compare(version, bound)) for op, bound in _clauses(spec))


def dist_info_folders() -> Iterator[tuple[str, str]]:
    """``(folder, name)`` of each ``*.dist-info`` on ``sys.path``, in import order: installed
    distributions read from folder names in about a millisecond, without importing them."""
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                yield folder, name


@functools.lru_cache(maxsize=1)
def installed_torch_version() -> str | None:
    """The installed torch's version from package metadata, without importing torch.

    The ``torch-X.Y.Z.dist-info`` folder name on ``sys.path`` answers in about a millisecond;
    ``importlib.metadata`` (tens of milliseconds at every start-up) is the fallback.
    """
    for _, name in dist_info_folders():
        if name.startswith("torch-"):
            return name[len("torch-") : -len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=8)
def installed_version(distribution: str) -> str | None:
    """An installed distribution's version from package metadata, without importing it."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def strict_by_default(torch_version: str) -> bool:
    """Whether ``torch.export.export`` without ``strict=`` traces strictly on that torch."""
    return not matches(parse_version(torch_version), f">={NON_STRICT_DEFAULT_SINCE}")


def default_torch_version() -> str:
    return installed_torch_version() or NEWEST_KNOWN_TORCH


def default_torch_source() -> str:
    """Where :func:`default_torch_version` came from."""
    return "installed torch" if installed_torch_version() else "newest release export-lint knows (no torch installed)"
