"""The project index cached per file hash: what export roots reach, reused while no project file
changed, and each file's scan (can it hold an export call, does it define a ``forward``) reused
while its bytes are the same.

Stored with the results cache's machinery (:class:`export_lint.cache.Cache`): plain JSON in the
project's ``.export_lint_cache/``, authenticated with the per-user key, every entry validated on
load (anything malformed is a miss), no symlink followed. Its key covers export-lint's own sources,
so another version never reads it. Nothing from the linted tree is executed or trusted.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from export_lint import cache as results_cache
from export_lint.analysis.index import ProjectIndex
from export_lint.analysis.roots import Reach, compute_reach

#: The entry holding the reach itself (file entries are keyed by absolute paths, never like this).
_REACH_ENTRY = "<reach>"
_SCHEMA = 6


def _key(root: str) -> str:
    text = f"project-index {_SCHEMA}\n{os.path.realpath(root)}\n{results_cache.code_fingerprint()}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def open_cache(folder: Path, root: str) -> results_cache.Cache | None:
    """The project index's cache in ``folder`` (a project's ``.export_lint_cache``), or None when it
    cannot be used (no private key, a symlinked folder: the results cache warns about those)."""
    store = results_cache.Cache.open_keyed(folder, _key(root), warn=False, suffix=".index")
    return store if store.enabled else None


def cached_reach(root: str, patterns: Iterable[str], folder: Path | None) -> Reach:
    """:func:`compute_reach` over the project at ``root``, through the cache in ``folder`` (None: no cache)."""
    patterns = tuple(patterns)
    index = ProjectIndex(root)
    store = open_cache(folder, root) if folder is not None else None
    if store is None:
        return compute_reach(index, patterns)
    paths = sorted(set(index.files.values()))
    digests = {path: store.current_hash(path) for path in paths}
    state = hashlib.sha256(repr((sorted(digests.items()), patterns)).encode("utf-8", "surrogatepass")).hexdigest()
    stored = _decode_reach(store.entries.get(_REACH_ENTRY), state)
    if stored is not None:
        if store.dirty:  # stats refreshed for files whose bytes were the same
            store.save()
        return stored
    scans: dict[str, tuple[bool, bool]] = {}
    for path in paths:
        entry = store.entries.get(os.path.abspath(path)) or {}
        scan = entry.get("scan")
        if digests[path] is not None and entry.get("digest") == digests[path] and _is_scan(scan):
            scans[path] = (scan[0], scan[1])  # type: ignore[index]
    reach = compute_reach(index, patterns, scans)
    now = time.time_ns()
    for path in paths:
        if digests[path] is None or path not in scans:
            continue
        key = os.path.abspath(path)
        entry = store.entries.get(key)
        if entry is None or entry.get("digest") != digests[path] or entry.get("scan") != list(scans[path]):
            stat = results_cache.file_stat(key)
            store.entries[key] = {
                "digest": digests[path],
                "stat": None if stat is None else list(stat),
                "recorded_ns": now,
                "scan": list(scans[path]),
            }
    store.entries[_REACH_ENTRY] = _encode_reach(reach, state)
    store.dirty = True
    store.save()
    return reach


def _is_scan(value: object) -> bool:
    return type(value) is list and len(value) == 2 and all(type(v) is bool for v in value)


def _encode_reach(reach: Reach, state: str) -> dict:
    return {
        "state": state,
        "project": reach.project,
        "roots": list(reach.roots),
        "files": [[path, [list(pair) for pair in entries]] for path, entries in reach.files],
        "has_forwards": reach.has_forwards,
        "external": list(reach.external),
        "outputs": [[path, [list(fact) for fact in facts]] for path, facts in reach.outputs],
        "export_free": [list(pair) for pair in reach.export_free],
        "callers": [
            [path, [[qualname, [list(site) for site in sites]] for qualname, sites in entries]]
            for path, entries in reach.callers
        ],
        "blanks": [[path, digest, [list(lines) for lines in ranges]] for path, digest, ranges in reach.blanks],
    }


def _decode_reach(data: object, state: str) -> Reach | None:
    """The stored reach when it is for this state of the project and well formed, else None."""
    if type(data) is not dict or data.get("state") != state:
        return None
    project, roots, files, forwards = (
        data.get("project"),
        data.get("roots"),
        data.get("files"),
        data.get("has_forwards"),
    )
    if type(project) is not str or type(roots) is not list or type(files) is not list or type(forwards) is not bool:
        return None
    external = data.get("external")
    if type(external) is not list or not all(type(label) is str for label in [*roots, *external]):
        return None
    decoded = _decode_per_file(files, 2)
    outputs = _decode_per_file(data.get("outputs"), 5)
    callers = _decode_callers(data.get("callers"))
    export_free = _decode_rows(data.get("export_free"), 2)  # (path, digest) pairs
    blanks = _decode_blanks(data.get("blanks"))
    if decoded is None or outputs is None or callers is None or export_free is None or blanks is None:
        return None
    return Reach(
        project,
        tuple(roots),
        decoded,  # type: ignore[arg-type]
        forwards,
        tuple(external),
        outputs,  # type: ignore[arg-type]
        export_free,  # type: ignore[arg-type]
        callers=callers,
        blanks=blanks,
    )


def _decode_blanks(data: object) -> tuple | None:
    """``Reach.blanks`` from its JSON form (``[[path, digest, [[first, last], ...]], ...]``, lines
    ascending); None when malformed."""
    if type(data) is not list:
        return None
    decoded = []
    for item in data:
        if type(item) is not list or len(item) != 3 or type(item[0]) is not str or type(item[1]) is not str:
            return None
        if type(item[2]) is not list:
            return None
        ranges = []
        previous = 0
        for lines in item[2]:
            if type(lines) is not list or len(lines) != 2 or not all(type(line) is int for line in lines):
                return None
            if not previous < lines[0] <= lines[1]:
                return None
            previous = lines[1]
            ranges.append((lines[0], lines[1]))
        decoded.append((item[0], item[1], tuple(ranges)))
    return tuple(decoded)


def _decode_per_file(data: object, width: int) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] | None:
    """Stored ``[[path, [[str * width], ...]], ...]`` (what roots reach, what they return) as tuples;
    None when malformed."""
    if type(data) is not list:
        return None
    decoded = []
    for item in data:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not str:
            return None
        rows = _decode_rows(item[1], width)
        if rows is None:
            return None
        decoded.append((item[0], rows))
    return tuple(decoded)


def _decode_rows(data: object, width: int) -> tuple[tuple[str, ...], ...] | None:
    """Stored ``[[str * width], ...]`` as tuples; None when malformed."""
    if type(data) is not list or not all(
        type(r) is list and len(r) == width and all(type(v) is str for v in r) for r in data
    ):
        return None
    return tuple(tuple(r) for r in data)


def _is_site(site: object) -> bool:
    return (
        type(site) is list
        and len(site) == 4
        and all(type(part) is str for part in site[:3])
        and type(site[3]) is int
        and site[3] >= 0
    )


def _decode_callers(data: object) -> tuple | None:
    """``Reach.callers`` from its JSON form; None when malformed."""
    if type(data) is not list:
        return None
    decoded = []
    for item in data:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not str or type(item[1]) is not list:
            return None
        entries = []
        for entry in item[1]:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str or type(entry[1]) is not list:
                return None
            if not all(_is_site(site) for site in entry[1]):
                return None
            entries.append((entry[0], tuple((s[0], s[1], s[2], s[3]) for s in entry[1])))
        decoded.append((item[0], tuple(entries)))
    return tuple(decoded)
