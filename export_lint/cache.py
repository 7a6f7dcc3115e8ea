"""The results cache: a file's diagnostics, keyed by its bytes and everything else they depend on.

One pickle per *run key* (export-lint's version, its own source files, the effective settings and
the rule set) under ``.export_lint_cache/`` in the project root, tagged with ``CACHEDIR.TAG`` so
backup tools skip it. Inside, each file's entry holds the SHA-256 of its bytes, the hashes of the
other files the semantic model read to lint it (a base class defined next door), and the result.
An entry is used only when all of them still match; anything unreadable is treated as a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from export_lint.config import Settings
from export_lint.source import read_source_file

CACHE_DIR_NAME = ".export_lint_cache"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by export-lint.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
#: Older run keys (other settings, older versions) beyond this many are deleted on save.
KEEP_RUN_KEYS = 8
_FORMAT = 1


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _code_fingerprint() -> str:
    """export-lint's version plus the size and mtime of its own sources (edits in a checkout count)."""
    import export_lint
    from export_lint import rules

    parts = [export_lint.__version__, repr(sorted(rules.CODES.items()))]
    for package in (Path(export_lint.__file__).parent, Path(rules.__file__).parent):
        for source in sorted(package.rglob("*.py")):
            try:
                stat = source.stat()
            except OSError:
                continue
            parts.append(f"{source.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def run_key(settings: Settings) -> str:
    """What every cached result of one run depends on besides the file itself."""
    text = f"{_FORMAT}\n{_code_fingerprint()}\n{settings.cache_key()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_dir(settings: Settings) -> Path:
    return Path(settings.project_root).absolute() / CACHE_DIR_NAME


#: A file stored within this long of its last change may have changed again within its
#: timestamps' resolution (git's "racy clean" problem): its bytes are hashed again, not trusted.
RACY_NS = 2_000_000_000

Stat = tuple[int, int, int, int]


def file_stat(path: str) -> Stat | None:
    """Size, modification and change times (ns) and inode: any write changes the change time."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino)


@dataclasses.dataclass
class Entry:
    digest: str
    #: (path, sha256 of its bytes, ``external.summary_digest``) of every other file read while
    #: linting this one: the result stands while either is unchanged.
    dependencies: tuple[tuple[str, str, str | None], ...]
    result: object
    #: The file's ``file_stat`` taken before the bytes hashed into ``digest`` were read, and when.
    stat: Stat | None = None
    recorded_ns: int = 0

    def unchanged(self, stat: Stat | None) -> bool:
        """Whether the file still has the bytes of ``digest``, known without reading it: the same
        stat, last changed well before the entry was recorded."""
        return stat is not None and stat == self.stat and stat[2] < self.recorded_ns - RACY_NS


class Cache:
    """Results of earlier runs with the same run key; ``save`` writes them back atomically."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self.entries: dict[str, Entry] = {}
        self.dirty = False
        self._hashes: dict[str, str | None] = {}
        self._summaries: dict[str, str | None] = {}
        self.settings: Settings | None = None

    @classmethod
    def open(cls, settings: Settings) -> Cache:
        cache = cls(cache_dir(settings), run_key(settings))
        cache.settings = settings
        try:
            with open(cache.file, "rb") as handle:
                stored = pickle.load(handle)
            if isinstance(stored, dict):
                cache.entries = stored
        except Exception:  # missing, truncated or from another Python: start afresh
            cache.entries = {}
        return cache

    @property
    def file(self) -> Path:
        return self.folder / f"{self.key}.pickle"

    def current_hash(self, path: str) -> str | None:
        """The SHA-256 of a file's bytes now (None if unreadable), read only when its stat says it
        may differ from what an entry recorded."""
        key = os.path.abspath(path)
        if key not in self._hashes:
            stat = file_stat(key)
            entry = self.entries.get(key)
            if entry is not None and entry.unchanged(stat):
                self._hashes[key] = entry.digest
            else:
                try:
                    digest = content_hash(read_source_file(key))
                except OSError:
                    digest = None
                if entry is not None and digest == entry.digest and stat is not None:
                    entry.stat, entry.recorded_ns = stat, time.time_ns()  # trusted next time
                    self.dirty = True
                self._hashes[key] = digest
        return self._hashes[key]

    def lookup(self, path: str) -> object | None:
        """The stored result for the file as it is now, or None."""
        digest = self.current_hash(path)
        return self.get(path, digest) if digest is not None else None

    def get(self, path: str, digest: str) -> object | None:
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry.digest != digest:
            return None
        for dependency, known, summary in entry.dependencies:
            if dependency == "<export-roots>":  # what export roots reach: analysis.roots.REACH_DEPENDENCY
                from export_lint.analysis.roots import reach_digest

                if self.settings is None or known != reach_digest(self.settings, path):
                    return None
                continue
            if self.current_hash(dependency) != known and (summary is None or self._summary(dependency) != summary):
                return None
        return entry.result

    def _summary(self, path: str) -> str | None:
        from export_lint.analysis import external

        if path not in self._summaries:
            self._summaries[path] = external.summary_digest(path)
        return self._summaries[path]

    def put(
        self,
        path: str,
        digest: str,
        dependencies: Iterable[tuple[str, str, str | None]],
        result: object,
        stat: Stat | None = None,
    ) -> None:
        key = os.path.abspath(path)
        self.entries[key] = Entry(digest, tuple(dependencies), result, stat, time.time_ns())
        self._hashes.pop(key, None)
        self.dirty = True

    def save(self) -> None:
        """Write the entries (temporary file + rename); a read-only project just goes uncached."""
        if not self.dirty:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tag = self.folder / "CACHEDIR.TAG"
            if not tag.exists():
                tag.write_text(CACHEDIR_TAG, encoding="utf-8")
            gitignore = self.folder / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# Created by export-lint automatically.\n*\n", encoding="utf-8")
            descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".pickle")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    pickle.dump(self.entries, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(temporary, self.file)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise
            self._prune()
        except OSError:
            return
        self.dirty = False

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.pickle"), key=lambda f: f.stat().st_mtime, reverse=True)
        cutoff = time.time() - 60  # never race a concurrent run that just wrote its own
        for old in files[KEEP_RUN_KEYS:]:
            if old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)


def clean(folders: Iterable[Path]) -> list[Path]:
    """Delete the cache folders found in ``folders``; returns the ones removed."""
    removed = []
    for folder in folders:
        target = Path(folder) / CACHE_DIR_NAME
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            removed.append(target)
    return removed
