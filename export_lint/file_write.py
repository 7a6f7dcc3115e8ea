"""Writing a fixed file back: the same file, its mode, owner and links, or a clear refusal.

How a file is replaced:

- a symlink is written through: its target is replaced, the link stays a link;
- a file with one name (``st_nlink == 1``) gets a temporary file in its folder, fsynced, given the
  original's mode and owner, then renamed over it: a crash leaves the old or the new file whole;
- a file with several hard links (or another owner, unless export-lint runs as root) is rewritten
  in place, since a rename would split the links (or change the owner): the
  original bytes go to a backup file beside it first, which is restored if the write fails and
  removed once the new bytes are synced;
- a read-only file (no write bit, as in 0444) is refused, as is a file whose bytes changed since
  they were read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from typing import TextIO

from export_lint.source import read_source_file

_PREFIX = ".export-lint-"


class ConcurrentModification(Exception):
    """The file changed between reading and writing; it was left alone."""


class WriteRefused(OSError):
    """export-lint will not write this file (read-only, not a regular file); it was left alone."""


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe_write_error(error: BaseException) -> str:
    """The reason a write failed, for people: ``Read-only file system``, ``the file is read-only (mode 0444)``."""
    if isinstance(error, ConcurrentModification):
        return "changed on disk while export-lint was editing it; left untouched"
    if isinstance(error, UnicodeEncodeError):
        return f"the new text cannot be written in the file's encoding ({error.encoding}); left untouched"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened or synced
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _replace_by_rename(target: str, data: bytes, before: os.stat_result) -> None:
    folder = os.path.dirname(target)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if (before.st_uid, before.st_gid) != (os.getuid(), os.getgid()):
            os.chown(temporary, before.st_uid, before.st_gid)
        os.chmod(temporary, stat.S_IMODE(before.st_mode))  # after chown, which clears setuid bits
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _rewrite_in_place(target: str, data: bytes, original: bytes) -> None:
    descriptor, backup = tempfile.mkstemp(dir=os.path.dirname(target), prefix=_PREFIX, suffix=".bak")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(original)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        with open(target, "r+b") as handle:
            try:
                handle.write(data)
                handle.truncate()
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                handle.seek(0)
                handle.write(original)
                handle.truncate()
                raise
    except BaseException as error:
        with open(target, "rb") as handle:
            restored = handle.read() == original
        if not restored:
            raise OSError(f"{describe_write_error(error)}; the original bytes are in {backup}") from error
        os.unlink(backup)
        raise
    os.unlink(backup)


def write_atomic(path: str, text: str, encoding: str, expected_hash: str | None = None) -> None:
    """Replace a file's text (see the module docstring for how), keeping mode, owner, links and bytes conventions.

    ``encoding`` keeps the BOM (``utf-8-sig``) and codecs; line endings are the text's own. With
    ``expected_hash``, a file whose bytes changed since they were read is not touched. Raises
    ``WriteRefused`` for a read-only or special file, ``OSError`` when the write fails.
    """
    target = os.path.realpath(path)
    before = os.stat(target)
    if not stat.S_ISREG(before.st_mode):
        raise WriteRefused(f"not a regular file; left untouched ({os.path.basename(target)})")
    mode = stat.S_IMODE(before.st_mode)
    if not mode & 0o222:
        raise WriteRefused(f"the file is read-only (mode {mode:04o}); left untouched")
    if not os.access(target, os.W_OK):  # a rename would still succeed in a folder one can write
        read_only_fs = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
        code = errno.EROFS if read_only_fs else errno.EACCES
        raise OSError(code, os.strerror(code), path)
    original = read_source_file(target, 2**62)  # never blocks: a FIFO swapped in is refused
    if expected_hash is not None and content_hash(original) != expected_hash:
        raise ConcurrentModification(path)
    data = text.encode(encoding)
    owned_by_other = (before.st_uid, before.st_gid) != (os.getuid(), os.getgid())
    if before.st_nlink > 1 or (owned_by_other and os.geteuid() != 0):  # only root can chown a copy
        _rewrite_in_place(target, data, original)
    else:
        _replace_by_rename(target, data, before)


def write_source(stream: TextIO, text: str, encoding: str) -> None:
    """Write source to a text stream as the file's bytes would be: its coding cookie's codec, its BOM."""
    stream.flush()
    stream.buffer.write(text.encode(encoding))
    stream.buffer.flush()
