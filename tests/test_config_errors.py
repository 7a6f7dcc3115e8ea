"""A broken configuration is an error with exit code 2 and a message naming it, never a crash
and never silently accepted (issue 12)."""

from __future__ import annotations

import pytest

from export_lint import cli

DEEP = "[tool.export-lint]\nselect = " + "[" * 5000 + "]" * 5000 + "\n"
CASES = {
    "tool-not-a-table": ('tool = "x"\n', "`tool` must be a table"),
    "5000-deep-array": (DEEP, "nested too deeply"),
    "empty-selector": ('[tool.export-lint]\nselect = [""]\n', "empty rule selector"),
    "empty-ignore": ('[tool.export-lint]\nignore = ["  "]\n', "empty rule selector"),
    "torch-version-garbage": (
        '[tool.export-lint]\ntorch-version = "2.6garbage"\n',
        "invalid torch-version '2.6garbage'",
    ),
}


def _check(folder, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    (folder / "m.py").write_text("import torch\n")
    monkeypatch.chdir(folder)
    code = cli.main(["check", "--no-cache", *args, "m.py"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("config", "message"), CASES.values(), ids=CASES.keys())
def test_a_broken_config_is_an_error(tmp_path, monkeypatch, capsys, config, message):
    (tmp_path / "pyproject.toml").write_text(config)
    code, err = _check(tmp_path, monkeypatch, capsys)
    assert code == 2 and message in err and "crashed" not in err, err


def test_a_malformed_pyproject_in_a_parent_folder_is_an_error_as_in_ruff(tmp_path, monkeypatch, capsys):
    """ruff also fails on any pyproject.toml it meets on the way up, with or without its table."""
    (tmp_path / "pyproject.toml").write_text('[project\nname = "x"\n')
    (tmp_path / "pkg").mkdir()
    code, err = _check(tmp_path / "pkg", monkeypatch, capsys)
    assert code == 2 and f"cannot read {tmp_path / 'pyproject.toml'}" in err and "crashed" not in err, err


@pytest.mark.parametrize(
    "good", ["2.6", "2.6.0", "2.7.0rc1", "2.8.0.dev20250301", "2.6.0+cu124", "v2.5.1"], ids=lambda v: v
)
def test_real_torch_versions_are_accepted(tmp_path, monkeypatch, capsys, good):
    (tmp_path / "pyproject.toml").write_text(f'[tool.export-lint]\ntorch-version = "{good}"\n')
    code, err = _check(tmp_path, monkeypatch, capsys)
    assert code == 0, err


def test_a_garbage_torch_version_flag_is_an_error(tmp_path, monkeypatch, capsys):
    code, err = _check(tmp_path, monkeypatch, capsys, "--torch-version", "2.6x")
    assert code == 2 and "invalid torch-version '2.6x'" in err, err


def test_an_empty_select_flag_is_a_usage_error(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exited:
        _check(tmp_path, monkeypatch, capsys, "--select", "")
    assert exited.value.code == 2 and "empty rule selector" in capsys.readouterr().err
