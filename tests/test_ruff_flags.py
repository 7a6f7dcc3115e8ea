"""What a ruff user types works (issue 15): ruff's flag spellings, no abbreviations, "did you
mean", and the small report details (file counts, statistics, ``-o`` folders, stdin names)."""

from __future__ import annotations

import json

import pytest
from test_cli import HAZARD, run, write

from export_lint.config import load_settings
from export_lint.diagnostics import DOCS_URL

UNSAFE_EXP001 = """\
from export_lint.diagnostics import Applicability
from export_lint.rules import exp001_non_module_export_target as module

module.NonModuleExportTarget.fix_applicability = Applicability.UNSAFE
"""


def test_check_fix_applies_the_fixes_then_reports_what_remains(tmp_path):
    write(tmp_path, {"a.py": HAZARD, "b.py": HAZARD, "clean.py": "x = 1\n"})
    result = run("check", "--fix", "--select", "EXP001", "--output-format", "concise", ".", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "Found 2 errors (2 fixed, 0 remaining).\n"), result.stderr
    assert "ExportWrapper(f)" in (tmp_path / "a.py").read_text()
    assert "ExportWrapper(f)" in (tmp_path / "b.py").read_text()
    again = run("check", "--select", "EXP001", ".", cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, "All checks passed! (3 files analysed)\n")


def test_check_fix_with_exit_non_zero_on_fix_and_show_fixes(tmp_path):
    write(tmp_path, {"a.py": HAZARD})
    result = run("check", "--fix", "--show-fixes", "--exit-non-zero-on-fix", "--select", "EXP001", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-3:] == [
        "Fixed 1 error:",
        "- a.py:",
        "    1 \N{MULTIPLICATION SIGN} EXP001 (non-module-export-target)",
    ]


def test_check_diff_prints_the_fix_and_changes_nothing(tmp_path):
    write(tmp_path, {"a.py": HAZARD})
    result = run("check", "--diff", "--select", "EXP001", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("--- a/a.py\n+++ b/a.py\n")
    assert "+torch.export.export(ExportWrapper(f), (torch.ones(1),))" in result.stdout
    assert "Would fix 1 error." in result.stderr
    assert (tmp_path / "a.py").read_text() == HAZARD
    silent = run("check", "--diff", "-s", "--select", "EXP001", cwd=tmp_path)
    assert (silent.returncode, silent.stdout, silent.stderr) == (1, "", "")


def test_check_fix_only_reports_nothing_that_remains_and_exits_zero(tmp_path):
    write(tmp_path, {"a.py": HAZARD + "y = torch.ones(1).cuda()\n"})
    result = run("check", "--fix-only", "--select", "EXP001,EXP4", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "Fixed 1 error.\n"), result.stderr


def test_unsafe_fixes_count_as_fixable_and_apply_only_with_the_flag(tmp_path):
    hooks = write(tmp_path / "hooks", {"sitecustomize.py": UNSAFE_EXP001})
    write(tmp_path / "src", {"m.py": HAZARD})
    env = {"PYTHONPATH": str(hooks)}
    safe = run("check", "--fix", "--select", "EXP001", "src", cwd=tmp_path, env=env)
    assert safe.returncode == 1
    assert "ExportWrapper" not in (tmp_path / "src" / "m.py").read_text()
    hinted = run(
        "check", "--unsafe-fixes", "--select", "EXP001", "--output-format", "concise", "src", cwd=tmp_path, env=env
    )
    assert "src/m.py:8:21: EXP001 [*]" in hinted.stdout
    assert "[*] 1 fixable" in hinted.stdout
    stats = run("check", "--statistics", "--select", "EXP001", "src", cwd=tmp_path, env=env)
    assert stats.stdout.split() == ["1", "EXP001", "[", "]", "non-module-export-target"]
    applied = run("check", "--fix", "--unsafe-fixes", "--select", "EXP001", "src", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "ExportWrapper(f)" in (tmp_path / "src" / "m.py").read_text()


def test_check_fix_on_stdin_prints_the_fixed_source(tmp_path):
    result = run("check", "--fix", "--select", "EXP001", "-", cwd=tmp_path, stdin=HAZARD.encode())
    assert result.returncode == 0
    assert "torch.export.export(ExportWrapper(f), (torch.ones(1),))" in result.stdout


def test_quiet_prints_only_diagnostics_and_silent_nothing(tmp_path):
    write(tmp_path, {"a.py": HAZARD, "clean.py": "import torch\n"})
    quiet = run("check", "-q", "--select", "EXP001", "--output-format", "concise", cwd=tmp_path)
    assert quiet.returncode == 1
    assert [line.split(":")[0] for line in quiet.stdout.splitlines()] == ["a.py"]
    assert run("check", "--quiet", "clean.py", cwd=tmp_path).stdout == ""
    silent = run("check", "-s", "--select", "EXP001", cwd=tmp_path)
    assert (silent.returncode, silent.stdout, silent.stderr) == (1, "", "")
    assert run("check", "-e", "-s", cwd=tmp_path).returncode == 0


def test_show_files_lists_what_would_be_checked(tmp_path):
    write(tmp_path, {"pkg/a.py": HAZARD, "pkg/b.pyi": "", "notes.txt": ""})
    result = run("check", "--show-files", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [str(tmp_path / "pkg" / "a.py"), str(tmp_path / "pkg" / "b.pyi")]


def test_show_settings_prints_the_effective_settings_and_their_source(tmp_path):
    write(tmp_path, {"pyproject.toml": '[tool.export-lint]\nignore = ["EXP9"]\ntorch-version = "2.5"\n', "a.py": ""})
    result = run("check", "--show-settings", "--extend-select", "EXP001", "a.py", cwd=tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Resolved settings for: a.py"
    assert lines[1] == f"Settings path: {tmp_path / 'pyproject.toml'}"
    assert 'ignore = ["EXP9"]' in lines
    assert 'extend-select = ["EXP001"]' in lines
    assert 'torch-version = "2.5"' in lines
    assert 'torch-version-source = "' + str(tmp_path / "pyproject.toml") + ' [tool.export-lint] torch-version"' in lines


@pytest.mark.parametrize("flag", ["--sel", "--output", "--stat", "--exit"])
def test_long_flags_are_never_abbreviated(tmp_path, flag):
    write(tmp_path, {"a.py": HAZARD})
    result = run("check", flag, "EXP001", cwd=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_unknown_flags_get_did_you_mean(tmp_path):
    result = run("check", "--selct", "EXP001", cwd=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --selct (did you mean `--select`?)" in result.stderr
    fix = run("fix", "--aply", cwd=tmp_path)
    assert "did you mean `--apply`?" in fix.stderr


def test_output_file_in_a_missing_folder_is_created(tmp_path):
    write(tmp_path, {"a.py": HAZARD})
    result = run("check", "--select", "EXP001", "--output-format", "json", "-o", "out/deep/r.json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert json.loads((tmp_path / "out" / "deep" / "r.json").read_text())[0]["code"] == "EXP001"


def test_output_file_that_cannot_be_written_is_a_clear_error(tmp_path):
    write(tmp_path, {"a.py": HAZARD, "blocker": "a file, not a folder"})
    result = run("check", "-o", "blocker/r.json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot write the report to blocker/r.json")
    assert "crashed" not in result.stderr


def test_stdin_filename_without_dash_reads_stdin(tmp_path):
    write(tmp_path, {"other.py": HAZARD.replace("(f,", "(g,")})
    result = run(
        "check", "--select", "EXP001", "--output-format", "concise", "--stdin-filename", "m.py",
        cwd=tmp_path, stdin=HAZARD.encode(),
    )  # fmt: skip
    assert result.stdout.splitlines()[0].startswith("m.py:8:21: EXP001 ")
    assert "other.py" not in result.stdout


def test_statistics_as_json(tmp_path):
    write(tmp_path, {"a.py": HAZARD, "b.py": HAZARD})
    result = run("check", "--statistics", "--select", "EXP001", "--output-format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout) == [
        {"code": "EXP001", "name": "non-module-export-target", "count": 2, "fixable": True}
    ]


def test_rule_all_marks_preview_rules(tmp_path):
    from export_lint.rules import all_rules

    preview = [rule for rule in all_rules() if rule.preview]
    assert preview, "no preview rule to show"
    result = run("rule", "--all", cwd=tmp_path)
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    for rule in all_rules():
        assert ("(preview)" in rows[rule.code]) == rule.preview


def test_all_checks_passed_counts_the_files(tmp_path):
    write(tmp_path, {"a.py": "x = 1\n", "b.py": "import torch\n"})
    assert run("check", cwd=tmp_path).stdout == "All checks passed! (2 files analysed)\n"
    assert run("check", "-", cwd=tmp_path, stdin=b"x = 1\n").stdout == "All checks passed! (1 file analysed)\n"


def test_load_settings_takes_a_str(tmp_path):
    write(tmp_path, {"pyproject.toml": '[tool.export-lint]\nignore = ["EXP9"]\n'})
    assert load_settings(str(tmp_path / "pyproject.toml")).ignore == ("EXP9",)
    assert load_settings(config_file=str(tmp_path / "pyproject.toml")).ignore == ("EXP9",)


def test_diagnostic_urls_point_at_the_rule_pages_in_the_repository():
    assert DOCS_URL.format(code="EXP001").endswith("/docs/rules/EXP001.md")
