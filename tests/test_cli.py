"""The ``export-lint`` command as users run it: the installed console script, in a subprocess.

Each test states one user-facing contract of the CLI (issue 2 and issue 6): output shapes, exit
codes, rule selection, stdin, bad input, determinism, never importing torch, terminals.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXPORT_LINT = shutil.which("export-lint")
pytestmark = pytest.mark.skipif(EXPORT_LINT is None, reason="export-lint is not installed (pip install -e .)")

#: One EXP001 hazard (a plain function as the export target), reported at 8:21.
HAZARD = """\
import torch


def f(x):
    return x


torch.export.export(f, (torch.ones(1),))
"""
CLEAN = "import torch\n\nx = torch.ones(1)\n"


def run(*args: str, cwd: Path, stdin: bytes | None = None, env: dict[str, str] | None = None, **kwargs):
    """Run the installed console script; stdout and stderr as text."""
    environment = {**os.environ, "NO_COLOR": "", **(env or {})}
    process = subprocess.run(
        [EXPORT_LINT, *args], cwd=cwd, input=stdin, capture_output=True, env=environment, timeout=120, **kwargs
    )
    return subprocess.CompletedProcess(
        process.args,
        process.returncode,
        process.stdout.decode("utf-8", "replace"),
        process.stderr.decode("utf-8", "replace"),
    )


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def codes(stdout: str) -> list[tuple[str, int, int, str]]:
    """(filename, row, column, code) of each diagnostic in JSON output."""
    return [(d["filename"], d["location"]["row"], d["location"]["column"], d["code"]) for d in json.loads(stdout)]


# -- output ---------------------------------------------------------------------------------


def test_full_format_prints_location_code_frame_and_summary(tmp_path):
    write(tmp_path, {"model.py": HAZARD})
    result = run("check", "--select", "EXP001", "model.py", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"model\.py:8:21: EXP001 \[\*\] Export target `f` is a function, not an `nn\.Module`.*", lines[0]
    )
    # The code frame: the offending line with a caret under the span, then the fix's help.
    assert "8 | torch.export.export(f, (torch.ones(1),))" in result.stdout
    caret_line = next(line for line in lines if line.strip().endswith("^ EXP001"))
    assert caret_line.index("^") == lines[lines.index(caret_line) - 1].index("f, (")
    assert "= help: Wrap the target" in result.stdout
    assert lines[-2:] == ["Found 1 error.", "[*] 1 fixable with `export-lint fix --apply`."]


def test_concise_format_is_one_line_per_diagnostic(tmp_path):
    write(tmp_path, {"a.py": HAZARD, "b.py": HAZARD})
    result = run("check", "--select", "EXP001", "--output-format", "concise", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "a.py:8:21: EXP001 [*] Export target `f` is a function, not an `nn.Module`: torch.export rejects it",
        "b.py:8:21: EXP001 [*] Export target `f` is a function, not an `nn.Module`: torch.export rejects it",
        "Found 2 errors.",
        "[*] 2 fixable with `export-lint fix --apply`.",
    ]


def test_clean_tree_exits_zero_and_says_so(tmp_path):
    write(tmp_path, {"clean.py": CLEAN})
    result = run("check", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "All checks passed! (1 file analysed)\n")


def test_no_path_lints_the_current_folder(tmp_path):
    write(tmp_path, {"pkg/deep/model.py": HAZARD})
    result = run("check", "--select", "EXP001", "--output-format", "json", cwd=tmp_path)
    assert codes(result.stdout) == [("pkg/deep/model.py", 8, 21, "EXP001")]


def test_stdin_with_stdin_filename(tmp_path):
    result = run(
        "check", "--select", "EXP001", "--output-format", "concise", "--stdin-filename", "src/m.py", "-",
        cwd=tmp_path, stdin=HAZARD.encode(),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith("src/m.py:8:21: EXP001 ")
    fixed = run(
        "fix", "--apply", "--select", "EXP001", "--stdin-filename", "m.py", "-", cwd=tmp_path, stdin=HAZARD.encode()
    )
    assert "ExportWrapper(f)" in fixed.stdout


def test_stdin_filename_honours_force_exclude(tmp_path):
    write(tmp_path, {"pyproject.toml": '[tool.export-lint]\nextend-exclude = ["generated"]\n'})
    args = ("check", "--force-exclude", "--stdin-filename", "generated/m.py", "-")
    excluded = run(*args, cwd=tmp_path, stdin=HAZARD.encode())
    assert (excluded.returncode, excluded.stdout) == (0, "")
    kept = run("check", "--stdin-filename", "src/m.py", "--force-exclude", "-", cwd=tmp_path, stdin=HAZARD.encode())
    assert kept.returncode == 1


def test_output_file_gets_the_report_and_stdout_stays_empty(tmp_path):
    write(tmp_path, {"m.py": HAZARD})
    result = run("check", "--select", "EXP001", "--output-format", "json", "-o", "report.json", "m.py", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert codes((tmp_path / "report.json").read_text()) == [("m.py", 8, 21, "EXP001")]


def test_statistics_counts_per_rule(tmp_path):
    write(tmp_path, {"a.py": HAZARD, "b.py": HAZARD + "torch.export.export(lambda x: x, (1,))\n"})
    result = run("check", "--select", "EXP001", "--statistics", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].split() == ["3", "EXP001", "[*]", "non-module-export-target"]


def test_exit_zero_keeps_the_report(tmp_path):
    write(tmp_path, {"m.py": HAZARD})
    result = run("check", "--select", "EXP001", "--exit-zero", cwd=tmp_path)
    assert result.returncode == 0
    assert "m.py:8:21: EXP001" in result.stdout


UNSAFE_EXP001 = """\
from export_lint.diagnostics import Applicability
from export_lint.rules import exp001_non_module_export_target as module

module.NonModuleExportTarget.fix_applicability = Applicability.UNSAFE
"""


def test_unsafe_fixes_are_hinted_and_applied_only_on_request(tmp_path):
    # No shipped rule may have an unsafe fix yet: make EXP001's unsafe from the test side.
    hooks = write(tmp_path / "hooks", {"sitecustomize.py": UNSAFE_EXP001})
    write(tmp_path / "src", {"m.py": HAZARD, "n.py": HAZARD})
    env = {"PYTHONPATH": str(hooks)}
    result = run("check", "--select", "EXP001", "--output-format", "concise", "src", cwd=tmp_path, env=env)
    assert result.stdout.splitlines() == [
        "src/m.py:8:21: EXP001 Export target `f` is a function, not an `nn.Module`: torch.export rejects it",
        "src/n.py:8:21: EXP001 Export target `f` is a function, not an `nn.Module`: torch.export rejects it",
        "Found 2 errors.",
        "2 more fixes available with `--unsafe-fixes`.",
    ]
    safe_only = run("fix", "--apply", "--select", "EXP001", "src", cwd=tmp_path, env=env)
    assert safe_only.returncode == 1
    assert "2 more fixes available with `--unsafe-fixes`." in safe_only.stdout
    assert "ExportWrapper" not in (tmp_path / "src" / "m.py").read_text()
    unsafe = run("fix", "--apply", "--unsafe-fixes", "--select", "EXP001", "src", cwd=tmp_path, env=env)
    assert unsafe.returncode == 0, unsafe.stdout + unsafe.stderr
    assert "ExportWrapper(f)" in (tmp_path / "src" / "m.py").read_text()


# -- selection ------------------------------------------------------------------------------

SELECTION = {"m.py": HAZARD + "x = 1  # noqa: EXP001\n"}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--select", "EXP001"], {"EXP001"}),
        (["--select", "EXP9"], {"EXP900"}),
        (["--select", "ALL"], {"EXP001", "EXP900"}),
        (["--select", "all"], {"EXP001", "EXP900"}),
        (["--select", "EXP001", "--extend-select", "EXP900"], {"EXP001", "EXP900"}),
        (["--select", "ALL", "--ignore", "EXP9"], {"EXP001"}),
    ],
)
def test_select_extend_select_and_ignore_take_codes_prefixes_and_all(tmp_path, flags, expected):
    write(tmp_path, SELECTION)
    result = run("check", *flags, "--output-format", "json", cwd=tmp_path)
    assert {code for *_, code in codes(result.stdout)} & {"EXP001", "EXP900"} == expected


@pytest.mark.parametrize("flag", ["--select", "--ignore"])
def test_unknown_code_on_the_command_line_is_a_usage_error(tmp_path, flag):
    write(tmp_path, {"m.py": HAZARD})
    result = run("check", flag, "EXQ123", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown rule selector `EXQ123`" in result.stderr
    assert result.stdout == ""


# -- commands -------------------------------------------------------------------------------


def test_version(tmp_path):
    from export_lint import __version__

    result = run("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, f"export-lint {__version__}")


def test_rule_prints_documentation(tmp_path):
    result = run("rule", "EXP001", cwd=tmp_path)
    assert result.returncode == 0
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
        assert section in result.stdout
    assert "non-module-export-target (EXP001)" in result.stdout
    unknown = run("rule", "EXP999", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown rule code `EXP999`" in unknown.stderr


def test_rule_all_lists_every_rule_as_text_and_json(tmp_path):
    from export_lint.rules import all_rules

    text = run("rule", "--all", cwd=tmp_path)
    assert text.returncode == 0
    listed = [line.split()[0] for line in text.stdout.splitlines()[1:]]
    assert listed == [rule.code for rule in all_rules()]
    data = json.loads(run("rule", "--all", "--output-format", "json", cwd=tmp_path).stdout)
    by_code = {entry["code"]: entry for entry in data}
    assert set(by_code) == {rule.code for rule in all_rules()}
    assert by_code["EXP001"]["name"] == "non-module-export-target"
    assert by_code["EXP001"]["fix"] == "safe"
    assert by_code["EXP001"]["torch_versions"] == "all"
    assert by_code["EXP900"]["name"] == "unused-noqa"


def test_no_command_is_a_usage_error(tmp_path):
    assert run(cwd=tmp_path).returncode == 2
    assert run("check", "--output-format", "yaml", cwd=tmp_path).returncode == 2


# -- internal failures and bad input --------------------------------------------------------

CRASHING_RULE = """\
from export_lint.rules import exp001_non_module_export_target as module

_original = module.NonModuleExportTarget.visit_Call


def visit_Call(self, node):
    if self.context.path.endswith("crash.py"):
        raise RuntimeError("rule exploded on purpose")
    return _original(self, node)


module.NonModuleExportTarget.visit_Call = visit_Call
"""


def test_a_crashing_rule_is_reported_for_its_file_and_the_run_goes_on(tmp_path):
    """21 files: enough for the process pool, so the crash happens in a worker."""
    hooks = write(tmp_path / "hooks", {"sitecustomize.py": CRASHING_RULE})
    # The noqa in crash.py must not be called unused (EXP900) when the rule it names crashed.
    files = {"crash.py": HAZARD + "y = 1  # noqa: EXP001\n", **{f"ok_{i:02}.py": HAZARD for i in range(20)}}
    write(tmp_path / "src", files)
    env = {"PYTHONPATH": str(hooks)}
    result = run(
        "check", "--select", "EXP001,EXP900", "-j", "2", "--output-format", "json", "src", cwd=tmp_path, env=env
    )
    assert result.returncode == 2, result.stderr
    found = json.loads(result.stdout)
    crash = [d for d in found if d["filename"] == "src/crash.py"]
    assert len(crash) == 1
    assert crash[0]["name"] == "internal-error"
    assert "EXP001" in crash[0]["message"]
    assert "RuntimeError: rule exploded on purpose" in crash[0]["message"]
    assert sorted(d["filename"] for d in found if d["code"] == "EXP001") == [f"src/ok_{i:02}.py" for i in range(20)]
    # --exit-zero does not hide an internal failure.
    assert run("check", "--select", "EXP001", "--exit-zero", "src", cwd=tmp_path, env=env).returncode == 2


def _locked_folder_check(root: Path) -> subprocess.CompletedProcess:
    """Run the CLI without the capabilities that let root read anything (chmod 000 binds again)."""
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a folder unreadable")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]
    else:
        prefix = []
    process = subprocess.run(
        [*prefix, EXPORT_LINT, "check", "--select", "EXP001", "--output-format", "json", "."],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return process


def test_bad_input_gets_one_diagnostic_each_and_the_rest_is_linted(tmp_path):
    write(
        tmp_path,
        {
            "good.py": HAZARD,
            "syntax.py": "import torch\ndef f(:\n    pass\n",
            "latin.py": b"import torch\nname = '\xff\xfe'\n",  # not UTF-8 and no coding cookie
            "nul.py": b"import torch\x00\nx = 1\n",
            "locked/inner.py": HAZARD,
        },
    )
    (tmp_path / "locked").chmod(0)
    try:
        process = _locked_folder_check(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert process.returncode == 1, process.stderr
    found = {d["filename"]: d for d in json.loads(process.stdout)}
    assert set(found) == {"good.py", "syntax.py", "latin.py", "nul.py", "locked"}
    assert found["good.py"]["code"] == "EXP001"
    assert found["syntax.py"]["code"] == "EXP000" and found["syntax.py"]["name"] == "syntax-error"
    assert found["syntax.py"]["location"]["row"] in (2, 3)  # libcst points at or just after `def f(:`
    assert found["latin.py"]["name"] == "syntax-error" and "decode" in found["latin.py"]["message"]
    assert found["nul.py"]["name"] == "syntax-error" and "null bytes" in found["nul.py"]["message"]
    assert found["locked"]["name"] == "io-error" and "Permission denied" in found["locked"]["message"]


def test_missing_paths_are_reported_and_the_rest_is_linted(tmp_path):
    write(tmp_path, {"good.py": HAZARD, "afile.py": CLEAN})
    result = run(
        "check",
        "--select",
        "EXP001",
        "--output-format",
        "json",
        "nope.py",
        "afile.py/inner.py",
        "good.py",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    found = {d["filename"]: (d["code"], d["name"]) for d in json.loads(result.stdout)}
    assert found == {
        "afile.py/inner.py": ("EXP000", "io-error"),
        "good.py": ("EXP001", "non-module-export-target"),
        "nope.py": ("EXP000", "io-error"),
    }


def test_coding_cookie_and_bom_are_honoured_and_kept_by_fix(tmp_path):
    latin = "# -*- coding: latin-1 -*-\n" + HAZARD.replace("torch.export.export(f", "é = 1; torch.export.export(f")
    write(tmp_path, {"latin.py": latin.encode("latin-1"), "bom.py": b"\xef\xbb\xbf" + HAZARD.encode()})
    result = run("check", "--select", "EXP001", "--output-format", "json", cwd=tmp_path)
    assert codes(result.stdout) == [("bom.py", 8, 21, "EXP001"), ("latin.py", 9, 28, "EXP001")]
    assert run("fix", "--apply", "--select", "EXP001", cwd=tmp_path).returncode == 0
    assert (tmp_path / "bom.py").read_bytes().startswith(b"\xef\xbb\xbfimport torch")
    fixed = (tmp_path / "latin.py").read_bytes()
    assert b"\xe9 = 1; torch.export.export(ExportWrapper(f)" in fixed
    assert run("check", "--select", "EXP001", cwd=tmp_path).returncode == 0


def test_output_order_is_the_same_whatever_the_parallelism(tmp_path):
    files = {
        f"pkg{i % 3}/m{(i * 7) % 24:02}.py": HAZARD + "torch.export.export(lambda x: x, (1,))\n" for i in range(24)
    }
    write(tmp_path, files)
    serial = run("check", "--select", "EXP001", "-j", "1", "--output-format", "json", cwd=tmp_path)
    parallel = run("check", "--select", "EXP001", "-j", "2", "--output-format", "json", cwd=tmp_path)
    assert serial.stdout == parallel.stdout
    found = codes(serial.stdout)
    assert len(found) == 48
    assert found == sorted(found)


def test_check_and_fix_never_import_torch(tmp_path):
    poison = write(tmp_path / "poison", {"torch/__init__.py": "raise ImportError('poisoned torch was imported')\n"})
    env = {"PYTHONPATH": str(poison)}
    sanity = subprocess.run(
        [sys.executable, "-c", "import torch"], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert "poisoned torch" in sanity.stderr  # the poison works
    write(tmp_path / "src", {f"m{i:02}.py": HAZARD for i in range(20)})
    checked = run("check", "--output-format", "json", "src", cwd=tmp_path, env=env)
    assert checked.returncode == 1, checked.stderr
    assert len([d for d in json.loads(checked.stdout) if d["code"] == "EXP001"]) == 20
    fixed = run("fix", "--apply", "src", cwd=tmp_path, env=env)
    assert "poisoned" not in checked.stderr + fixed.stderr
    assert "ExportWrapper" in (tmp_path / "src" / "m00.py").read_text()


# -- ruff users keep RUF100 -----------------------------------------------------------------


def test_export_lint_codes_never_collide_with_ruffs():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    rules = json.loads(
        subprocess.run([ruff, "rule", "--all", "--output-format", "json"], capture_output=True, check=True).stdout
    )
    linters = json.loads(
        subprocess.run([ruff, "linter", "--output-format", "json"], capture_output=True, check=True).stdout
    )
    ruff_codes = [rule["code"] for rule in rules if rule.get("code")]
    assert len(ruff_codes) > 500
    assert [code for code in ruff_codes if code.startswith("EXP")] == []
    prefixes = [linter["prefix"] for linter in linters if linter.get("prefix")]
    assert "EXP" not in prefixes and not any(prefix.startswith("EXP") for prefix in prefixes)


def test_ruff_unused_noqa_leaves_export_lint_codes_alone(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    source = "import os  # noqa: F401, EXP001\nx = 1  # noqa: EXP001\ny = 2  # noqa: E501\n"
    write(tmp_path, {"m.py": source, "pyproject.toml": '[tool.ruff.lint]\nexternal = ["EXP"]\n'})
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--select", "F401,RUF100,RUF102", "--output-format", "json", "m.py"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    reported = [(d["code"], d["location"]["row"]) for d in json.loads(result.stdout)]
    # RUF100 still works (the stale E501 is found) and never touches an EXP code.
    assert reported == [("RUF100", 3)]


# -- terminals ------------------------------------------------------------------------------


def run_on_terminal(*args: str, cwd: Path, stream: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run with ``stream`` ("stdout" or "stderr") attached to a pseudo-terminal; (terminal text, other)."""
    leader, follower = pty.openpty()
    other = subprocess.PIPE
    streams = {"stdout": follower, "stderr": other} if stream == "stdout" else {"stdout": other, "stderr": follower}
    environment = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    process = subprocess.Popen([EXPORT_LINT, *args], cwd=cwd, env={**environment, **(env or {})}, **streams)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    piped = (process.stdout or process.stderr).read()
    process.wait(timeout=120)
    return b"".join(chunks).decode("utf-8", "replace"), piped.decode("utf-8", "replace")


def test_colour_on_a_terminal_with_the_span_underlined(tmp_path):
    write(tmp_path, {"m.py": HAZARD})
    terminal, _ = run_on_terminal("check", "--select", "EXP001", cwd=tmp_path, stream="stdout")
    assert "\x1b[" in terminal
    assert "\x1b[4mf\x1b[0m, (torch.ones(1),))" in terminal  # the span `f`, underlined
    piped = run("check", "--select", "EXP001", cwd=tmp_path, env={"NO_COLOR": ""})
    assert "\x1b[" not in piped.stdout


def test_no_color_turns_colour_off_on_a_terminal(tmp_path):
    write(tmp_path, {"m.py": HAZARD})
    terminal, _ = run_on_terminal("check", "--select", "EXP001", cwd=tmp_path, stream="stdout", env={"NO_COLOR": "1"})
    assert "EXP001" in terminal
    assert "\x1b[" not in terminal


def test_progress_on_a_terminal_stderr_only_for_large_trees(tmp_path):
    # Files the byte prefilter skips: the test is about the indicator, not about linting.
    write(tmp_path / "big", {f"m{i:03}.py": "x = 1\n" for i in range(120)})
    write(tmp_path / "small", {f"m{i:03}.py": "x = 1\n" for i in range(5)})
    terminal, stdout = run_on_terminal("check", "big", cwd=tmp_path, stream="stderr")
    assert "checked 120/120 files" in terminal
    assert "checked" not in stdout and stdout.strip() == "All checks passed! (120 files analysed)"
    small, _ = run_on_terminal("check", "small", cwd=tmp_path, stream="stderr")
    assert "checked" not in small
    piped = run("check", "big", cwd=tmp_path)
    assert "checked" not in piped.stderr
