"""Only regular files are read, and never more than the size cap (issue 12).

A FIFO named ``*.py`` in a walked tree once hung ``check``; a committed symlink ``z.py -> /dev/zero``
read until memory ran out. Each now gets one EXP000 io-error and the run goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from export_lint import source
from export_lint.config import Settings
from export_lint.fixer import fix_file
from export_lint.runner import lint_file

HAZARD = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"


def export_lint(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "export_lint", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


@pytest.fixture
def tree(tmp_path):
    """A project with one real hazard, a FIFO, a link to /dev/zero and a link to a real file."""
    (tmp_path / "model.py").write_text(HAZARD)
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    (tmp_path / "linked.py").symlink_to(tmp_path / "model.py")
    return tmp_path


def _errors(stdout: str) -> dict[str, str]:
    return {d["filename"]: d["message"] for d in json.loads(stdout) if d["code"] == "EXP000"}


@pytest.mark.parametrize("options", [["-j", "1"], ["-j", "2", "--no-cache"]], ids=" ".join)
def test_check_skips_a_fifo_and_a_link_to_dev_zero_and_lints_the_rest(tree, options):
    process = export_lint("check", "--output-format", "json", *options, ".", cwd=tree)
    assert process.returncode == 1, process.stderr
    errors = _errors(process.stdout)
    assert "a FIFO" in errors["pipe.py"] and "a character device" in errors["zero.py"]
    codes = sorted((d["filename"], d["code"]) for d in json.loads(process.stdout) if d["code"] != "EXP000")
    assert codes == [("linked.py", "EXP001"), ("model.py", "EXP001")]


def test_fix_leaves_special_files_alone(tree):
    process = export_lint("fix", "--apply", "--no-cache", ".", cwd=tree)
    assert "a FIFO" in process.stdout and "a character device" in process.stdout, process.stdout + process.stderr
    assert (tree / "zero.py").is_symlink() and os.readlink(tree / "zero.py") == "/dev/zero"
    assert not (tree / "pipe.py").is_file()


def test_an_imported_module_linked_to_dev_zero_is_not_read(tmp_path):
    (tmp_path / "helpers.py").symlink_to("/dev/zero")
    (tmp_path / "model.py").write_text("import torch\nfrom helpers import Net\n\ntorch.export.export(Net(), ())\n")
    result = lint_file(str(tmp_path / "model.py"), Settings())
    assert not any(d.internal_error for d in result.diagnostics)


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.py"
    with open(path, "wb") as handle:
        handle.truncate(source.MAX_SOURCE_BYTES + 1)  # sparse: nothing is written
    read = []
    monkeypatch.setattr(os, "read", lambda *args: read.append(args) or b"")
    (error,) = lint_file(str(path), Settings()).diagnostics
    assert error.code == "EXP000" and error.name == "io-error"
    assert f"{source.MAX_SOURCE_BYTES / 2**20:g} MiB cap" in error.message and read == []
    assert fix_file(str(path), Settings()).remaining[0].message == error.message


def test_a_read_stops_at_the_cap(tmp_path):
    path = tmp_path / "long.py"
    path.write_bytes(b"x = 1\n" * 100)
    with pytest.raises(OSError, match="cap"):
        source.read_source_file(str(path), limit=100)


def test_the_size_cap_is_configurable(tmp_path, monkeypatch, capsys):
    from export_lint import cli

    (tmp_path / "pyproject.toml").write_text("[tool.export-lint]\nmax-file-size = 1_000\n")
    (tmp_path / "small.py").write_text(HAZARD)
    (tmp_path / "big.py").write_text(HAZARD + "# padding\n" * 200)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--no-cache", "--output-format", "json", "."]) == 1
    found = {(d["filename"], d["code"]): d["message"] for d in json.loads(capsys.readouterr().out)}
    assert sorted(found) == [("big.py", "EXP000"), ("small.py", "EXP001")]
    assert "(2,081 bytes > the 1,000 bytes cap, max-file-size)" in found[("big.py", "EXP000")]


@pytest.mark.parametrize("value", ["0", "-1", '"8MiB"', "true"])
def test_a_bad_size_cap_is_a_config_error(tmp_path, monkeypatch, capsys, value):
    from export_lint import cli

    (tmp_path / "pyproject.toml").write_text(f"[tool.export-lint]\nmax-file-size = {value}\n")
    (tmp_path / "m.py").write_text("import torch\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--no-cache", "m.py"]) == 2
    assert "`max-file-size` must be a positive number of bytes" in capsys.readouterr().err
