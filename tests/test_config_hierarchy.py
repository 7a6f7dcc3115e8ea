"""Each file gets its nearest config, as in ruff (issue 15): argument order never matters, nested
projects in a monorepo keep their own settings, and ``extend`` layers one config on another."""

from __future__ import annotations

import json

import pytest
from test_cli import HAZARD, codes, run, write

from export_lint import lint_paths
from export_lint.config import ConfigError, SettingsResolver

#: Two projects: pkga ignores EXP001, pkgb keeps the defaults.
TWO_PROJECTS = {
    "pkga/pyproject.toml": '[tool.export-lint]\nignore = ["EXP001"]\n',
    "pkga/m.py": HAZARD,
    "pkgb/pyproject.toml": "[tool.export-lint]\n",
    "pkgb/m.py": HAZARD,
}


def test_argument_order_does_not_change_the_result(tmp_path):
    write(tmp_path, TWO_PROJECTS)
    ab = run("check", "--output-format", "json", "pkga", "pkgb", cwd=tmp_path)
    ba = run("check", "--output-format", "json", "pkgb", "pkga", cwd=tmp_path)
    assert codes(ab.stdout) == codes(ba.stdout) == [("pkgb/m.py", 8, 21, "EXP001")]


def test_one_call_with_files_of_two_projects_uses_each_files_config(tmp_path):
    # pre-commit passes every staged file in one call.
    write(tmp_path, TWO_PROJECTS)
    result = run("check", "--force-exclude", "--output-format", "json", "pkga/m.py", "pkgb/m.py", cwd=tmp_path)
    assert codes(result.stdout) == [("pkgb/m.py", 8, 21, "EXP001")]


def test_a_nested_project_in_a_walked_tree_keeps_its_config_and_excludes(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.export-lint]\n",
            "top.py": HAZARD,
            "libs/inner/pyproject.toml": '[tool.export-lint]\nignore = ["EXP001"]\nextend-exclude = ["gen"]\n',
            "libs/inner/m.py": HAZARD,
            "libs/inner/gen/g.py": HAZARD.replace("import torch", "import torch\nimport os"),
        },
    )
    result = run("check", "--output-format", "json", cwd=tmp_path)
    assert codes(result.stdout) == [("top.py", 8, 21, "EXP001")]
    files = run("check", "--show-files", cwd=tmp_path).stdout.splitlines()
    assert str(tmp_path / "libs" / "inner" / "gen" / "g.py") not in files
    assert str(tmp_path / "libs" / "inner" / "m.py") in files


def test_extend_layers_a_config_on_its_base(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.export-lint]\nignore = ["EXP4"]\nextend-exclude = ["vendored"]\n',
            "sub/pyproject.toml": '[tool.export-lint]\nextend = "../pyproject.toml"\nignore = ["EXP001"]\n',
        },
    )
    settings = SettingsResolver().for_path(str(tmp_path / "sub" / "m.py"))
    assert settings.ignore == ("EXP4", "EXP001")
    assert settings.extend_exclude == ("vendored",)
    assert settings.config_file == str(tmp_path / "sub" / "pyproject.toml")
    assert settings.project_root == str(tmp_path / "sub")


def test_extend_select_in_the_extending_config_starts_from_the_base_selection(tmp_path):
    write(
        tmp_path,
        {
            "base.toml": '[tool.export-lint]\nselect = ["EXP1"]\n',
            "pyproject.toml": '[tool.export-lint]\nextend = "base.toml"\nextend-select = ["EXP001"]\n',
            "fresh/pyproject.toml": '[tool.export-lint]\nextend = "../base.toml"\nselect = ["EXP4"]\n',
        },
    )
    resolver = SettingsResolver()
    assert resolver.for_path(str(tmp_path / "m.py")).select == ("EXP1",)
    assert resolver.for_path(str(tmp_path / "m.py")).extend_select == ("EXP001",)
    assert resolver.for_path(str(tmp_path / "fresh" / "m.py")).select == ("EXP4",)


def test_extend_cycles_and_missing_bases_are_config_errors(tmp_path):
    write(
        tmp_path,
        {
            "a/pyproject.toml": '[tool.export-lint]\nextend = "../b/pyproject.toml"\n',
            "b/pyproject.toml": '[tool.export-lint]\nextend = "../a/pyproject.toml"\n',
            "c/pyproject.toml": '[tool.export-lint]\nextend = "nowhere.toml"\n',
            "c/m.py": HAZARD,
        },
    )
    with pytest.raises(ConfigError, match="cycle"):
        SettingsResolver().for_path(str(tmp_path / "a" / "m.py"))
    result = run("check", "c", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.toml, which does not exist" in result.stderr


def test_check_fix_fixes_each_file_under_its_own_config(tmp_path):
    write(tmp_path, TWO_PROJECTS)
    result = run("check", "--fix", "pkga", "pkgb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ExportWrapper" not in (tmp_path / "pkga" / "m.py").read_text()
    assert "ExportWrapper(f)" in (tmp_path / "pkgb" / "m.py").read_text()


def test_fix_command_uses_each_files_config(tmp_path):
    write(tmp_path, TWO_PROJECTS)
    result = run("fix", "pkga/m.py", "pkgb/m.py", cwd=tmp_path)
    assert "+++ b/pkgb/m.py" in result.stdout
    assert "pkga/m.py" not in result.stdout


def test_cli_config_flag_applies_to_every_file(tmp_path):
    write(tmp_path, {**TWO_PROJECTS, "strict.toml": '[tool.export-lint]\nselect = ["EXP001"]\n'})
    result = run("check", "--config", "strict.toml", "--output-format", "json", "pkgb", "pkga", cwd=tmp_path)
    assert [entry[0] for entry in codes(result.stdout)] == ["pkga/m.py", "pkgb/m.py"]


def test_python_api_lint_paths_uses_each_files_config(tmp_path):
    write(tmp_path, TWO_PROJECTS)
    found = lint_paths([tmp_path / "pkgb", tmp_path / "pkga"])
    assert [(d.path, d.code) for d in found] == [(str(tmp_path / "pkgb" / "m.py"), "EXP001")]


def test_show_settings_names_the_config_of_the_first_path(tmp_path):
    write(tmp_path, TWO_PROJECTS)
    result = run("check", "--show-settings", "pkga/m.py", cwd=tmp_path)
    assert f"Settings path: {tmp_path / 'pkga' / 'pyproject.toml'}" in result.stdout
    assert 'ignore = ["EXP001"]' in result.stdout.splitlines()
    assert json.dumps(str(tmp_path / "pkga")) in result.stdout
