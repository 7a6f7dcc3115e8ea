"""``[tool.export-lint]`` as users write it: discovery, CLI precedence, errors, and ruff-compatible globs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_cli import HAZARD, run, write

from export_lint.config import ConfigError, Settings, glob_matches, load_settings

#: A file both tools report: ruff's F401 on `os`, export-lint's EXP001 on the export call.
BOTH = "import os\n" + HAZARD

TREE = [
    "src/pkg/model.py",
    "src/pkg/sub/model.py",
    "src/pkg/api_pb2.py",
    "src/legacy/keep.py",
    "tests/test_model.py",
    "tests/unit/test_x.py",
    "scripts/run.py",
    "legacy/old.py",
    "docs/conf.py",
    "build2/x.py",
]


def reported(stdout: str, root: Path | None = None) -> set[str]:
    """Reported file names, relative to ``root`` (ruff's JSON has absolute paths)."""
    names = {d["filename"] for d in json.loads(stdout)}
    return {Path(name).relative_to(root).as_posix() for name in names} if root else names


def test_config_is_found_upward_from_the_linted_path(tmp_path):
    project = write(tmp_path / "project", {"pyproject.toml": '[tool.export-lint]\nignore = ["EXP001"]\n'})
    write(project, {"src/deep/model.py": HAZARD})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Run from an unrelated folder: the config next to the linted file applies, not the cwd's.
    result = run("check", str(project / "src" / "deep" / "model.py"), cwd=elsewhere)
    assert (result.returncode, result.stdout) == (0, "All checks passed! (1 file analysed)\n")
    # A pyproject.toml without [tool.export-lint] on the way up is skipped.
    write(project, {"src/pyproject.toml": "[project]\nname = 'inner'\n"})
    assert run("check", str(project / "src"), cwd=elsewhere).returncode == 0


def test_cli_flags_win_over_the_config(tmp_path):
    write(tmp_path, {"pyproject.toml": '[tool.export-lint]\nignore = ["EXP001"]\n', "m.py": HAZARD})
    assert run("check", cwd=tmp_path).returncode == 0
    assert run("check", "--select", "EXP001", cwd=tmp_path).returncode == 1
    assert run("check", "--extend-select", "EXP001", cwd=tmp_path).returncode == 1


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('selct = ["EXP001"]', "unknown key(s) in [tool.export-lint]: selct"),
        ('select = ["EXP999"]', "unknown rule selector `EXP999`"),
        ('[tool.export-lint.per-file-ignores]\n"tests/*" = ["EXQ1"]', "unknown rule selector `EXQ1`"),
    ],
)
def test_config_errors_exit_2_with_a_clear_message(tmp_path, table, message):
    write(tmp_path, {"pyproject.toml": f"[tool.export-lint]\n{table}\n", "m.py": HAZARD})
    result = run("check", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def _ruff_and_export_lint(tmp_path, ruff_table: str, our_table: str, *args: str) -> tuple[set[str], set[str]]:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    write(tmp_path, dict.fromkeys(TREE, BOTH))
    write(tmp_path, {"pyproject.toml": f"{ruff_table}\n{our_table}\n"})
    paths = args or (".",)
    ours = run("check", "--output-format", "json", *paths, cwd=tmp_path)
    assert ours.returncode in (0, 1), ours.stderr
    theirs = subprocess.run(
        [ruff, "check", "--no-cache", "--output-format", "json", *paths], cwd=tmp_path, capture_output=True, text=True
    )
    return reported(ours.stdout), reported(theirs.stdout, tmp_path)


def test_per_file_ignores_globs_match_ruffs(tmp_path):
    globs = ["tests/*", "**/sub/*.py", "*_pb2.py", "scripts/**", "docs/conf.py", "src/legacy/*.py"]
    ruff_table = "[tool.ruff.lint]\nselect = ['F401']\n[tool.ruff.lint.per-file-ignores]\n"
    ruff_table += "".join(f'"{glob}" = ["F401"]\n' for glob in globs)
    our_table = "[tool.export-lint]\nselect = ['EXP001']\n[tool.export-lint.per-file-ignores]\n"
    our_table += "".join(f'"{glob}" = ["EXP001"]\n' for glob in globs)
    ours, theirs = _ruff_and_export_lint(tmp_path, ruff_table, our_table)
    assert ours == theirs == {"src/pkg/model.py", "legacy/old.py", "build2/x.py"}


def test_exclude_globs_match_ruffs(tmp_path):
    excludes = '["legacy", "*_pb2.py", "src/pkg/sub", "build2/", "docs/*.py"]'
    per_file = '"src/*.py" = ["{code}"]\n"test_*.py" = ["{code}"]\n'
    ruff_table = f"[tool.ruff]\nextend-exclude = {excludes}\n[tool.ruff.lint]\nselect = ['F401']\n"
    ruff_table += "[tool.ruff.lint.per-file-ignores]\n" + per_file.format(code="F401")
    our_table = f"[tool.export-lint]\nselect = ['EXP001']\nextend-exclude = {excludes}\n"
    our_table += "[tool.export-lint.per-file-ignores]\n" + per_file.format(code="EXP001")
    ours, theirs = _ruff_and_export_lint(tmp_path, ruff_table, our_table)
    assert ours == theirs == {"scripts/run.py"}


def test_force_exclude_applies_excludes_to_explicit_files_like_ruff(tmp_path):
    excludes = '["legacy", "docs/*.py"]'
    ruff_table = f"[tool.ruff]\nextend-exclude = {excludes}\n[tool.ruff.lint]\nselect = ['F401']\n"
    our_table = f"[tool.export-lint]\nselect = ['EXP001']\nextend-exclude = {excludes}\n"
    files = ("legacy/old.py", "src/legacy/keep.py", "docs/conf.py", "scripts/run.py")
    ours, theirs = _ruff_and_export_lint(tmp_path, ruff_table, our_table, "--force-exclude", *files)
    assert ours == theirs == {"scripts/run.py"}
    # Without --force-exclude an explicit file is linted even when excluded (pre-commit relies on the flag).
    assert reported(run("check", "--output-format", "json", "legacy/old.py", cwd=tmp_path).stdout) == {"legacy/old.py"}


# -- the Settings object (in-process, fast) ----------------------------------------------------


def test_settings_layering_of_cli_overrides(tmp_path):
    config = write(tmp_path, {"pyproject.toml": '[tool.export-lint]\nignore = ["EXP001"]\nextend-select = ["EXP9"]\n'})
    codes = ["EXP001", "EXP101", "EXP900"]
    base = load_settings(config)
    assert sorted(base.enabled_codes(codes)) == ["EXP101", "EXP900"]
    assert load_settings(config, overrides={"select": ("EXP001",)}).enabled_codes(codes) == {"EXP001"}
    more_ignores = load_settings(config, overrides={"ignore": ("EXP9",)})
    assert more_ignores.enabled_codes(codes) == {"EXP101"}
    lifted = load_settings(config, overrides={"extend_select": ("EXP001",)})
    assert sorted(lifted.enabled_codes(codes)) == ["EXP001", "EXP101", "EXP900"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('select = "EXP001"', "`select` must be a list of strings"),
        ('torch-version = "banana"', "invalid torch-version"),
        ("per-file-ignores = []", "`per-file-ignores` must be a table"),
        ("select = [", "cannot read"),
    ],
)
def test_malformed_config_raises_config_error(tmp_path, table, message):
    write(tmp_path, {"pyproject.toml": f"[tool.export-lint]\n{table}\n"})
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(tmp_path)


def test_unknown_selector_raises_config_error():
    with pytest.raises(ConfigError, match="EXP77"):
        Settings(select=("EXP77",)).enabled_codes(["EXP001"])


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("tests/*", "tests/unit/test_x.py", True),
        ("*_pb2.py", "src/pkg/api_pb2.py", True),
        ("legacy", "src/legacy/keep.py", True),
        ("src/pkg/sub", "src/pkg/sub/model.py", True),
        ("build2/", "build2/x.py", True),
        ("./scripts/*.py", "scripts/run.py", True),
        ("docs/*.py", "src/docs.py", False),
        ("test_*.py", "tests/conftest.py", False),
    ],
)
def test_glob_matching(pattern, path, matches):
    assert glob_matches(pattern, path) is matches


def test_folders_above_the_walked_path_never_exclude_it(tmp_path):
    # `export-lint check <venv>/site-packages/pkg`: the default exclude names `site-packages`, but
    # only folders met while walking are matched, not the ancestors of the path the user gave.
    package = tmp_path / "venv" / "site-packages" / "pkg"
    write(package, {"model.py": HAZARD, "build/generated.py": HAZARD})
    result = run("check", "--output-format", "json", str(package), cwd=tmp_path)
    assert {Path(d["filename"]).name for d in json.loads(result.stdout)} == {"model.py"}
