"""Writes never fail quietly and never change what a file is (issue 12).

On a read-only file system ``fix --apply`` once printed "cannot write", then "0 remaining", and
exited 0; ``--add-noqa`` crashed; ``fix`` replaced a symlink by a regular file, split hard links,
gave the file to root and rewrote a 0444 file; ``fix --apply -`` wrote UTF-8 under a latin-1
coding line and dropped the BOM.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys

import pytest

from export_lint import cli
from export_lint.config import Settings
from export_lint.fixer import fix_file

#: One safe fix (export_for_training -> export), one diagnostic.
HAZARD = "import torch\n\nep = torch.export.export_for_training(torch.nn.Linear(3, 3), (torch.randn(2, 3),))\n"
FIXED = HAZARD.replace("export_for_training", "export")
#: One diagnostic without a fix (a plain function exported): --add-noqa silences it.
UNFIXABLE = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"


def export_lint(*args: str, cwd, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "export_lint", *args], input=stdin, capture_output=True, cwd=cwd, timeout=60
    )


def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "mount", "--bind", "-o", "ro", "/", "/"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs unshare -m and mount (root in a mount namespace)")
@pytest.mark.parametrize(
    ("command", "content"), [(["fix", "--apply"], HAZARD), (["check", "--add-noqa"], UNFIXABLE)], ids=["fix", "noqa"]
)
def test_a_read_only_file_system_is_an_error_with_exit_2(tmp_path, command, content):
    (tmp_path / "model.py").write_text(content)
    script = f'mount --bind -o ro "$0" "$0" && exec "{sys.executable}" -m export_lint "$@"'
    process = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(tmp_path), *command, "--no-cache", "model.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert process.returncode == 2, process.stdout + process.stderr
    assert "model.py: cannot" in process.stderr and "Read-only file system" in process.stderr
    assert "crashed" not in process.stderr and "Traceback" not in process.stderr
    assert (tmp_path / "model.py").read_text() == content


def test_a_failed_write_exits_2_and_still_counts_what_remains(tmp_path, monkeypatch, capsys):
    (tmp_path / "model.py").write_text(HAZARD)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", read_only)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fix", "--apply", "--no-cache", "model.py"]) == 2
    out, err = capsys.readouterr()
    assert "model.py: cannot write: Read-only file system" in err
    assert "Fixed 0 errors, 1 remaining." in out
    assert (tmp_path / "model.py").read_text() == HAZARD


def test_a_symlinked_file_is_fixed_through_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.py"
    target.write_text(HAZARD)
    target.chmod(0o640)
    (tmp_path / "model.py").symlink_to(target)
    assert fix_file(str(tmp_path / "model.py"), Settings(), write=True).written
    assert (tmp_path / "model.py").is_symlink() and target.read_text() == FIXED
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["model.py"]


def test_hard_links_stay_one_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(HAZARD)
    os.link(path, tmp_path / "other_name.py")
    inode = path.stat().st_ino
    assert fix_file(str(path), Settings(), write=True).written
    assert path.stat().st_ino == inode and path.stat().st_nlink == 2
    assert (tmp_path / "other_name.py").read_text() == FIXED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py", "other_name.py"]  # no backup left


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_the_owner_is_kept(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(HAZARD)
    os.chown(path, 4321, 4321)
    assert fix_file(str(path), Settings(), write=True).written
    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4321) and path.read_text() == FIXED


@pytest.mark.parametrize(
    ("command", "content"), [(["fix", "--apply"], HAZARD), (["check", "--add-noqa"], UNFIXABLE)], ids=["fix", "noqa"]
)
def test_a_read_only_file_is_refused_with_exit_2(tmp_path, command, content):
    path = tmp_path / "model.py"
    path.write_text(content)
    path.chmod(0o444)
    process = export_lint(*command, "--no-cache", "model.py", cwd=tmp_path)
    assert process.returncode == 2, process.stdout + process.stderr
    assert b"read-only (mode 0444)" in process.stderr and b"Traceback" not in process.stderr
    assert path.read_text() == content and stat.S_IMODE(path.stat().st_mode) == 0o444


@pytest.mark.parametrize("command", [["fix", "--apply", "-"], ["check", "--fix", "-"]], ids=" ".join)
@pytest.mark.parametrize(
    ("prefix", "encoding"),
    [("# -*- coding: latin-1 -*-\n# café\n", "latin-1"), ("# café\n", "utf-8-sig")],
    ids=["latin-1", "bom"],
)
def test_stdin_comes_back_in_its_own_encoding(tmp_path, command, prefix, encoding):
    process = export_lint(*command, "--no-cache", cwd=tmp_path, stdin=(prefix + HAZARD).encode(encoding))
    assert process.stdout == (prefix + FIXED).encode(encoding), process.stderr
