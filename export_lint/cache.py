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


@dataclasses.dataclass
class Entry:
    digest: str
    #: (path, sha256) of every other file read while linting this one.
    dependencies: tuple[tuple[str, str], ...]
    result: object


class Cache:
    """Results of earlier runs with the same run key; ``save`` writes them back atomically."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self.entries: dict[str, Entry] = {}
        self.dirty = False
        self._dependency_hashes: dict[str, str | None] = {}

    @classmethod
    def open(cls, settings: Settings) -> Cache:
        cache = cls(cache_dir(settings), run_key(settings))
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

    def _current_hash(self, path: str) -> str | None:
        if path not in self._dependency_hashes:
            try:
                with open(path, "rb") as handle:
                    self._dependency_hashes[path] = content_hash(handle.read())
            except OSError:
                self._dependency_hashes[path] = None
        return self._dependency_hashes[path]

    def get(self, path: str, digest: str) -> object | None:
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry.digest != digest:
            return None
        if any(self._current_hash(dependency) != known for dependency, known in entry.dependencies):
            return None
        return entry.result

    def put(self, path: str, digest: str, dependencies: Iterable[tuple[str, str]], result: object) -> None:
        self.entries[os.path.abspath(path)] = Entry(digest, tuple(dependencies), result)
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
