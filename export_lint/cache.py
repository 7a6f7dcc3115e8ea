"""The results cache: a file's diagnostics, keyed by its bytes and everything else they depend on.

One JSON file per *run key* (export-lint's version and sources, the effective settings, the rule
set, and the environment rules read: Python, LibCST, the installed torch, torchvision and
transformers) under ``.export_lint_cache/`` in the project root, tagged with ``CACHEDIR.TAG`` so
backup tools skip it. Each file's entry holds the SHA-256 of its bytes, the hashes of the other
files the semantic model read to lint it (a base class defined next door), how each import it
looked up resolved (found where, or not found) and the result. An entry is used only when all of
them still match.

The cache lives in the linted tree, so nothing in it is trusted: it is plain data (no pickle, no
code), authenticated with an HMAC under a per-user secret kept outside the project
(``$XDG_CACHE_HOME/export-lint/cache-key``, mode 0600), so a cache file committed to a repository
or edited by hand is a miss, never a hidden finding. Every entry is validated on load (anything
malformed is a miss). No symlink is followed: a symlinked cache folder is refused with a warning
(the run goes uncached), files are opened with ``O_NOFOLLOW`` relative to the folder's descriptor,
non-regular files are skipped, writes are atomic (temporary file + rename), and eviction deletes
only files whose header carries this user's tag for their own name.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import stat as stat_module
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from export_lint.config import Settings
from export_lint.diagnostics import Applicability, Diagnostic, Edit, FileResult, Fix, Location
from export_lint.source import read_source_file
from export_lint.versions import dist_info_folders

CACHE_DIR_NAME = ".export_lint_cache"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by export-lint.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
GITIGNORE = "# Created by export-lint automatically.\n*\n"
#: Older run keys (other settings, older versions) beyond this many are deleted on save.
KEEP_RUN_KEYS = 8
SCHEMA = 3
_MAGIC = "export-lint-cache"
_SUFFIX = ".json"
_KEY_LENGTH = 32  # hex characters of a run key, the name of its file
#: A cache file larger than this is not read (a planted file cannot exhaust memory).
MAX_CACHE_BYTES = 256 * 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


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


#: Distributions whose installed version or files rules read (EXP002 reads transformers' version
#: and exporter module; the default target torch is the installed one; LibCST parses).
ENVIRONMENT_DISTRIBUTIONS = ("torch", "torchvision", "transformers", "libcst")


def code_fingerprint() -> str:
    """What every cache of export-lint's (results, project index) depends on of its own code."""
    return _code_fingerprint()


def _environment_fingerprint() -> str:
    """Python, and each distribution's ``*.dist-info`` (name, version, mtime) first on ``sys.path``:
    found from folder names in about a millisecond; a reinstall moves the mtime."""
    parts = [sys.version, sys.implementation.name]
    wanted = {name.lower(): None for name in ENVIRONMENT_DISTRIBUTIONS}
    for folder, name in dist_info_folders():
        distribution = name[: -len(".dist-info")].rsplit("-", 1)[0].lower().replace("_", "-")
        if distribution in wanted and wanted[distribution] is None:
            try:
                mtime = os.stat(os.path.join(folder, name)).st_mtime_ns
            except OSError:
                mtime = 0
            wanted[distribution] = f"{name}:{mtime}"
    parts += [f"{name}={found}" for name, found in wanted.items()]
    return "\n".join(parts)


def run_key(settings: Settings) -> str:
    """What every cached result of one run depends on besides the file itself."""
    text = f"{SCHEMA}\n{_code_fingerprint()}\n{_environment_fingerprint()}\n{settings.cache_key()}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_KEY_LENGTH]


def cache_dir(settings: Settings) -> Path:
    return Path(settings.project_root).absolute() / CACHE_DIR_NAME


# -- the per-user secret ---------------------------------------------------------------------


def key_path() -> Path:
    """Where this user's cache key lives: outside every project, in the user cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "export-lint", "cache-key")


def _read_key(path: Path) -> bytes | None:
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError:
        return None
    try:
        found = os.fstat(descriptor)
        private = found.st_mode & 0o077 == 0 and found.st_uid == os.getuid()
        if not stat_module.S_ISREG(found.st_mode) or not private or found.st_size != 64:
            return None
        text = os.read(descriptor, 64).decode("ascii", "replace")
    finally:
        os.close(descriptor)
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def user_key() -> bytes | None:
    """This user's secret (created on first use, 0600); None when it cannot be read or made
    private, and then the run goes uncached."""
    path = key_path()
    found = _read_key(path)
    if found is not None:
        return found
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".cache-key-{os.getpid()}-{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        try:
            os.write(descriptor, secrets.token_hex(32).encode("ascii"))
        finally:
            os.close(descriptor)
        with contextlib.suppress(FileExistsError):  # another run made it first: use theirs
            os.link(temporary, path)
        os.unlink(temporary)
    except OSError:
        return None
    return _read_key(path)


# -- entries: plain data, validated on the way in -----------------------------------------------


class Malformed(ValueError):
    """A cache entry that is not what this version writes: treated as a miss."""


def _require(condition: bool) -> None:
    if not condition:
        raise Malformed


def _string(value: object) -> str:
    _require(type(value) is str)
    return value  # type: ignore[return-value]


def _integer(value: object) -> int:
    _require(type(value) is int)
    return value  # type: ignore[return-value]


def _optional(value: object, read) -> object:
    return None if value is None else read(value)


def _location(value: object) -> Location:
    _require(type(value) is list and len(value) == 2)
    return Location(_integer(value[0]), _integer(value[1]))  # type: ignore[index]


def _encode_location(location: Location | None) -> list[int] | None:
    return None if location is None else [location.row, location.column]


#: The fields the codec writes, per class (a test fails when a class gains one the cache would drop).
CODEC_FIELDS = {
    "FileResult": {"path", "diagnostics", "source_lines", "encoding", "cell_lines"},
    "Diagnostic": {"code", "name", "message", "path", "start", "end", "fix", "noqa_row", "internal_error", "cell"},
    "Fix": {"message", "edits", "applicability"},
    "Edit": {"start", "end", "content", "location", "end_location", "claim"},
    "Location": {"row", "column"},
}


def encode_result(result: FileResult) -> dict:
    """A ``FileResult`` as JSON-ready data."""
    return {
        "path": result.path,
        "encoding": result.encoding,
        "source_lines": _encode_lines(result.source_lines),
        "cell_lines": [[cell, _encode_lines(lines)] for cell, lines in sorted(result.cell_lines.items())],
        "diagnostics": [_encode_diagnostic(diagnostic) for diagnostic in result.diagnostics],
    }


def _encode_diagnostic(diagnostic: Diagnostic) -> dict:
    fix = diagnostic.fix
    return {
        "code": diagnostic.code,
        "name": diagnostic.name,
        "message": diagnostic.message,
        "path": diagnostic.path,
        "start": _encode_location(diagnostic.start),
        "end": _encode_location(diagnostic.end),
        "noqa_row": diagnostic.noqa_row,
        "internal_error": diagnostic.internal_error,
        "cell": diagnostic.cell,
        "fix": None
        if fix is None
        else {
            "message": fix.message,
            "applicability": fix.applicability.value,
            "edits": [
                [e.start, e.end, e.content, _encode_location(e.location), _encode_location(e.end_location), e.claim]
                for e in fix.edits
            ],
        },
    }


def _encode_lines(lines: dict[int, str]) -> list[list]:
    return [[row, line] for row, line in sorted(lines.items())]


def _decode_lines(lines: object) -> dict[int, str]:
    _require(type(lines) is list and all(type(pair) is list and len(pair) == 2 for pair in lines))  # type: ignore[union-attr]
    return {_integer(row): _string(line) for row, line in lines}  # type: ignore[union-attr]


def decode_result(data: object) -> FileResult:
    """The ``FileResult`` that ``encode_result`` wrote; ``Malformed`` for anything else."""
    _require(type(data) is dict and set(data) == {"path", "encoding", "source_lines", "cell_lines", "diagnostics"})
    cells = data["cell_lines"]  # type: ignore[index]
    _require(type(cells) is list and all(type(pair) is list and len(pair) == 2 for pair in cells))
    diagnostics = data["diagnostics"]  # type: ignore[index]
    _require(type(diagnostics) is list)
    return FileResult(
        _string(data["path"]),  # type: ignore[index]
        [_decode_diagnostic(item) for item in diagnostics],
        _decode_lines(data["source_lines"]),  # type: ignore[index]
        _string(data["encoding"]),  # type: ignore[index]
        {_integer(cell): _decode_lines(lines) for cell, lines in cells},
    )


_DIAGNOSTIC_KEYS = {"code", "name", "message", "path", "start", "end", "noqa_row", "internal_error", "fix", "cell"}


def _decode_diagnostic(data: object) -> Diagnostic:
    _require(type(data) is dict and set(data) == _DIAGNOSTIC_KEYS)
    internal = data["internal_error"]  # type: ignore[index]
    _require(type(internal) is bool)
    return Diagnostic(
        _string(data["code"]),  # type: ignore[index]
        _string(data["name"]),  # type: ignore[index]
        _string(data["message"]),  # type: ignore[index]
        _string(data["path"]),  # type: ignore[index]
        _location(data["start"]),  # type: ignore[index]
        _location(data["end"]),  # type: ignore[index]
        _optional(data["fix"], _decode_fix),  # type: ignore[index, arg-type]
        _optional(data["noqa_row"], _integer),  # type: ignore[index, arg-type]
        internal,
        cell=_optional(data["cell"], _integer),  # type: ignore[index, arg-type]
    )


def _decode_fix(data: object) -> Fix:
    _require(type(data) is dict and set(data) == {"message", "applicability", "edits"})
    edits = data["edits"]  # type: ignore[index]
    _require(type(edits) is list and all(type(edit) is list and len(edit) == 6 for edit in edits))
    try:
        applicability = Applicability(data["applicability"])  # type: ignore[index]
    except ValueError as error:
        raise Malformed from error
    return Fix(
        _string(data["message"]),  # type: ignore[index]
        tuple(
            Edit(
                _integer(start),
                _integer(end),
                _string(content),
                _optional(location, _location),  # type: ignore[arg-type]
                _optional(end_location, _location),  # type: ignore[arg-type]
                _optional(claim, _string),  # type: ignore[arg-type]
            )
            for start, end, content, location, end_location, claim in edits
        ),
        applicability,
    )


def _is_digest(value: object) -> bool:
    return type(value) is str and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _triples(value: object) -> list[tuple[str, str | None, str | None]]:
    _require(type(value) is list)
    found = []
    for item in value:  # type: ignore[union-attr]
        _require(type(item) is list and len(item) == 3)
        head, middle, last = item
        _require(type(head) is str and (middle is None or type(middle) is str) and (last is None or type(last) is str))
        found.append((head, middle, last))
    return found


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


def _entry_stat(entry: dict) -> tuple[Stat | None, int]:
    stat, recorded = entry.get("stat"), entry.get("recorded_ns")
    if type(stat) is not list or len(stat) != 4 or not all(type(n) is int for n in stat) or type(recorded) is not int:
        return None, 0
    return tuple(stat), recorded  # type: ignore[return-value]


def _unchanged(entry: dict, stat: Stat | None) -> bool:
    """Whether the file still has the entry's bytes, known without reading it: the same stat,
    last changed well before the entry was recorded."""
    known, recorded = _entry_stat(entry)
    return stat is not None and stat == known and stat[2] < recorded - RACY_NS


# -- the folder, never through a symlink ------------------------------------------------------


def _warn(message: str) -> None:
    print(f"export-lint: warning: {message}", file=sys.stderr)


@contextlib.contextmanager
def _folder_descriptor(folder: Path, create: bool) -> Iterator[int | None]:
    """The cache folder opened without following a symlink (None when absent and not created)."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o755)
    try:
        descriptor = os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        yield None
        return
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _read_regular(name: str, folder: int, limit: int) -> bytes | None:
    """A regular file's bytes (at most ``limit``), opened without following a symlink or
    blocking on a FIFO; None for anything else."""
    try:
        descriptor = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder)
    except OSError:
        return None
    try:
        found = os.fstat(descriptor)
        if not stat_module.S_ISREG(found.st_mode) or found.st_size > limit:
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        return None
    except OSError:
        return None
    finally:
        os.close(descriptor)


def _create_once(name: str, folder: int, text: str) -> None:
    """Write a small file unless something (a file, a symlink, a dangling one) has the name."""
    try:
        descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=folder)
    except OSError:
        return
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _mac(secret: bytes, *parts: bytes) -> str:
    return hmac.new(secret, b"\0".join([_MAGIC.encode(), *parts]), hashlib.sha256).hexdigest()


def _header(data: bytes) -> tuple[dict, bytes] | None:
    line, newline, payload = data.partition(b"\n")
    if not newline or len(line) > 1024:
        return None
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if type(header) is not dict or header.get("format") != _MAGIC or header.get("schema") != SCHEMA:
        return None
    return header, payload


def _is_own_name(name: str, suffix: str = _SUFFIX) -> bool:
    stem = name[: -len(suffix)]
    return name.endswith(suffix) and len(stem) == _KEY_LENGTH and all(c in "0123456789abcdef" for c in stem)


class Cache:
    """Results of earlier runs with the same run key; ``save`` writes them back atomically.

    ``entries`` hold plain JSON data, decoded and validated only when a file asks for its own."""

    def __init__(self, folder: Path, key: str, secret: bytes | None = None, suffix: str = _SUFFIX) -> None:
        self.folder = folder
        self.key = key
        #: What the file's name ends with: ``.json`` for results, ``.index`` for the project index.
        self.suffix = suffix
        self.secret = secret
        #: False when the folder is refused (a symlink) or no secret exists: nothing is read or written.
        self.enabled = secret is not None
        self.entries: dict[str, dict] = {}
        self.dirty = False
        self._hashes: dict[str, str | None] = {}
        self._summaries: dict[str, str | None] = {}
        self.settings: Settings | None = None

    @classmethod
    def open(cls, settings: Settings) -> Cache:
        cache = cls.open_keyed(cache_dir(settings), run_key(settings))
        cache.settings = settings
        return cache

    @classmethod
    def open_keyed(cls, folder: Path, key: str, warn: bool = True, suffix: str = _SUFFIX) -> Cache:
        """The entries stored under ``key`` in ``folder``, read as :meth:`open` reads a run's
        (the project index's cache uses its own key and suffix: ``analysis.reach_cache``)."""
        cache = cls(folder, key, user_key(), suffix)
        if not cache.enabled:
            if warn:
                _warn(
                    f"cannot use the cache key {key_path()} (missing, not private, or not yours): "
                    "running without the cache"
                )
            return cache
        try:
            found = os.lstat(cache.folder)
        except FileNotFoundError:
            return cache
        except OSError:
            found = None
        if found is None or not stat_module.S_ISDIR(found.st_mode):
            what = "a symlink" if found is not None and stat_module.S_ISLNK(found.st_mode) else "not a folder"
            if warn:
                _warn(f"{cache.folder} is {what}: not following it, running without the cache")
            cache.enabled = False
            return cache
        try:
            with _folder_descriptor(cache.folder, create=False) as folder:
                data = None if folder is None else _read_regular(cache.name, folder, MAX_CACHE_BYTES)
        except OSError:
            data = None
        if data is not None:
            cache.entries = cache._load(data)
        return cache

    @property
    def name(self) -> str:
        return f"{self.key}{self.suffix}"

    @property
    def file(self) -> Path:
        return self.folder / self.name

    def _load(self, data: bytes) -> dict[str, dict]:
        """The entries of an authentic file for this run key; nothing for anything else."""
        found = _header(data)
        if found is None or self.secret is None:
            return {}
        header, payload = found
        expected = _mac(self.secret, b"payload", self.key.encode(), payload)
        if header.get("key") != self.key or not hmac.compare_digest(str(header.get("mac")), expected):
            return {}
        try:
            entries = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return {}
        if type(entries) is not dict:
            return {}
        return {path: entry for path, entry in entries.items() if type(entry) is dict}

    def current_hash(self, path: str) -> str | None:
        """The SHA-256 of a file's bytes now (None if unreadable), read only when its stat says it
        may differ from what an entry recorded."""
        key = os.path.abspath(path)
        if key not in self._hashes:
            stat = file_stat(key)
            entry = self.entries.get(key)
            if entry is not None and _is_digest(entry.get("digest")) and _unchanged(entry, stat):
                self._hashes[key] = entry["digest"]
            else:
                try:
                    digest = content_hash(read_source_file(key))
                except OSError:
                    digest = None
                if entry is not None and digest == entry.get("digest") and stat is not None:
                    entry["stat"], entry["recorded_ns"] = list(stat), time.time_ns()  # trusted next time
                    self.dirty = True
                self._hashes[key] = digest
        return self._hashes[key]

    def lookup(self, path: str) -> FileResult | None:
        """The stored result for the file as it is now, or None."""
        if not self.enabled or os.path.abspath(path) not in self.entries:
            return None
        digest = self.current_hash(path)
        return self.get(path, digest) if digest is not None else None

    def get(self, path: str, digest: str) -> FileResult | None:
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry.get("digest") != digest:
            return None
        try:
            dependencies = _triples(entry.get("dependencies"))
            resolutions = _triples(entry.get("resolutions"))
            result = decode_result(entry.get("result"))
        except Malformed:
            return None
        for dependency, known, summary in dependencies:
            if dependency == "<export-roots>":  # what export roots reach: analysis.roots.REACH_DEPENDENCY
                from export_lint.analysis.roots import reach_digest

                if self.settings is None or known != reach_digest(self.settings, path):
                    return None
                continue
            if self.current_hash(dependency) != known and (summary is None or self._summary(dependency) != summary):
                return None
        if resolutions:
            from export_lint.analysis import external

            if any(external.resolve_module(dotted, anchor) != found for dotted, anchor, found in resolutions):
                return None  # a module appeared, vanished or is shadowed now (PYTHONPATH, a new file)
        return result

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
        result: FileResult,
        stat: Stat | None = None,
        resolutions: Iterable[tuple[str, str, str | None]] = (),
    ) -> None:
        if not self.enabled:
            return
        key = os.path.abspath(path)
        self.entries[key] = {
            "digest": digest,
            "stat": None if stat is None else list(stat),
            "recorded_ns": time.time_ns(),
            "dependencies": [list(d) for d in dependencies],
            "resolutions": [list(r) for r in resolutions],
            "result": encode_result(result),
        }
        self._hashes.pop(key, None)
        self.dirty = True

    def save(self) -> None:
        """Write the entries (temporary file + rename); a read-only project just goes uncached."""
        if not self.dirty or not self.enabled or self.secret is None:
            return
        payload = json.dumps(self.entries, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        header = {
            "format": _MAGIC,
            "schema": SCHEMA,
            "key": self.key,
            "tag": _mac(self.secret, b"name", self.name.encode()),
            "mac": _mac(self.secret, b"payload", self.key.encode(), payload),
        }
        data = json.dumps(header).encode("ascii") + b"\n" + payload
        try:
            with _folder_descriptor(self.folder, create=True) as folder:
                if folder is None:
                    return
                _create_once("CACHEDIR.TAG", folder, CACHEDIR_TAG)
                _create_once(".gitignore", folder, GITIGNORE)
                _write_atomic(self.name, folder, data)
                self._prune(folder)
        except OSError:
            return
        self.dirty = False

    def _prune(self, folder: int) -> None:
        """Delete the oldest run keys' files beyond ``KEEP_RUN_KEYS``: only regular files with this
        cache's name pattern whose header carries this user's tag for that very name."""
        own = []
        for name in os.listdir(folder):
            if not _is_own_name(name, self.suffix) or name == self.name:
                continue
            try:
                found = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except OSError:
                continue
            if stat_module.S_ISREG(found.st_mode) and self._tagged(name, folder):
                own.append((found.st_mtime, name))
        cutoff = time.time() - 60  # never race a concurrent run that just wrote its own
        for mtime, name in sorted(own, reverse=True)[KEEP_RUN_KEYS - 1 :]:
            if mtime < cutoff:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=folder)

    def _tagged(self, name: str, folder: int) -> bool:
        try:
            descriptor = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder)
        except OSError:
            return False
        try:
            found = _header(os.read(descriptor, 2048))
        except OSError:
            return False
        finally:
            os.close(descriptor)
        return (
            found is not None
            and self.secret is not None
            and hmac.compare_digest(str(found[0].get("tag")), _mac(self.secret, b"name", name.encode()))
        )


def _write_atomic(name: str, folder: int, data: bytes) -> None:
    temporary = f".tmp-{os.getpid()}-{secrets.token_hex(6)}{_SUFFIX}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)  # replaces a symlink, never follows it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder)
        raise


def clean(folders: Iterable[Path]) -> list[Path]:
    """Delete the cache folders found in ``folders``; returns the ones removed. A symlinked cache
    folder is left alone (with a warning): its target is not export-lint's."""
    removed = []
    for folder in folders:
        target = Path(folder) / CACHE_DIR_NAME
        try:
            found = os.lstat(target)
        except OSError:
            continue
        if stat_module.S_ISLNK(found.st_mode):
            _warn(f"{target} is a symlink: not following it, left alone")
        elif stat_module.S_ISDIR(found.st_mode):
            shutil.rmtree(target, ignore_errors=True)  # rmtree removes symlinks inside, never their targets
            removed.append(target)
    return removed
