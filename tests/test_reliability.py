"""Bad input never crashes export-lint: one clear diagnostic per bad file, the rest linted (issue 8).

tests/test_cli.py covers invalid UTF-8, NUL bytes, a plain syntax error, an unreadable folder,
missing paths and a crashing rule; this file covers the rest of issue 8's list, at the engine
level and through the installed CLI, and the worker pool's survival of crashes and hangs.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from export_lint.config import Settings
from export_lint.engine import MAX_SOURCE_CHARS, lint_source
from export_lint.runner import TaskFailed, lint_failure, lint_file, run_parallel

HAZARD = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"
ALL = Settings(select=("ALL",))
EXPORT_LINT = shutil.which("export-lint")


def only(source: str | bytes, name: str = "t.py") -> tuple[str, str]:
    """The (name, message) of the one diagnostic a file gets."""
    (diagnostic,) = lint_source(source, name, ALL).diagnostics
    assert diagnostic.code == "EXP000" and not diagnostic.internal_error
    return diagnostic.name, diagnostic.message


# -- the engine ---------------------------------------------------------------------------------


def test_python_2_code_is_a_syntax_error():
    name, message = only("import torch\nprint 'hello'\nexec 'x = 1'\n")
    assert name == "syntax-error" and message.startswith("SyntaxError")


def test_a_truncated_file_is_a_syntax_error():
    truncated = HAZARD[: HAZARD.index("(torch.ones")] + "(torch.on"
    assert only(truncated)[0] == "syntax-error"


def test_an_empty_file_is_clean():
    assert lint_source(b"", "empty.py", ALL).diagnostics == []
    assert lint_source("\n\n", "blank.py", ALL).diagnostics == []


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("x = " + "(" * 3000 + "1" + ")" * 3000, id="brackets-3000"),  # LibCST segfaults here
        pytest.param("x = " + "[" * 250 + "]" * 250, id="brackets-250"),  # over CPython's limit of 200
        pytest.param("x = " + "1+" * 3000 + "1", id="operators-3000"),  # LibCST takes minutes here
        pytest.param("x = " + "-" * 50_000 + "1", id="unary-50000"),
        pytest.param("x = a" + ".b" * 50_000, id="attributes-50000"),
    ],
)
def test_nesting_beyond_the_recursion_limit_is_refused_quickly(source):
    start = time.monotonic()
    name, message = only("import torch\n" + source + "\n")
    assert name == "syntax-error"
    assert "nested" in message
    assert time.monotonic() - start < 60


def test_nesting_a_real_file_could_have_is_still_linted():
    deep = "import torch\n\n\ndef f(x):\n    return " + "(" * 150 + "x" + ")" * 150 + "\n\n\n"
    diagnostics = lint_source(deep + "torch.export.export(f, (torch.ones(1),))\n", "t.py", ALL).diagnostics
    assert [d.code for d in diagnostics] == ["EXP001"]


def test_a_10_mb_generated_file_is_skipped_with_a_diagnostic():
    rows = "".join(f"TABLE_{i} = torch.tensor([{i}, {i + 1}])\n" for i in range(300_000))
    source = "import torch\n" + rows
    assert len(source) > 10 * 2**20 > MAX_SOURCE_CHARS
    start = time.monotonic()
    name, message = only(source, "generated.py")
    assert name == "file-too-large" and "MiB" in message
    assert time.monotonic() - start < 30


def test_a_10_mb_file_that_never_mentions_torch_costs_nothing():
    source = "".join(f"ROW_{i} = {i}\n" for i in range(800_000))
    assert len(source) > 10 * 2**20
    start = time.monotonic()
    assert lint_source(source, "table.py", ALL).diagnostics == []
    assert time.monotonic() - start < 10


def test_garbage_noqa_comments_do_not_break_linting():
    garbage = "x = 1  # noqa: ???, EXP, 12, $$$\ny = 2  # noqa:\nz = 3  # NoQa : ,,,\n"
    diagnostics = lint_source(garbage + HAZARD, "t.py", ALL).diagnostics
    assert "EXP001" in [d.code for d in diagnostics]  # a garbage comment elsewhere silences nothing
    assert not any(d.internal_error for d in diagnostics)


def test_crlf_and_missing_final_newline_lint_like_lf():
    lf = [(d.code, d.start, d.end) for d in lint_source(HAZARD, "t.py", ALL).diagnostics]
    crlf = [(d.code, d.start, d.end) for d in lint_source(HAZARD.replace("\n", "\r\n"), "t.py", ALL).diagnostics]
    bare = [(d.code, d.start, d.end) for d in lint_source(HAZARD.rstrip("\n"), "t.py", ALL).diagnostics]
    assert lf == crlf == bare and lf


def test_a_directory_named_like_a_python_file_is_an_io_error(tmp_path):
    (tmp_path / "x.py").mkdir()
    (diagnostic,) = lint_file(str(tmp_path / "x.py"), ALL).diagnostics
    assert diagnostic.name == "io-error" and "directory" in diagnostic.message.lower()


# -- the worker pool ----------------------------------------------------------------------------


def _segfault_on(bad: str, path: str) -> str:
    if path == bad:
        os.kill(os.getpid(), signal.SIGSEGV)
    return path.upper()


def _sleep_on(bad: str, path: str) -> str:
    if path == bad:
        time.sleep(600)
    return path.upper()


def _fail(path: str, reason: str) -> str:
    return f"FAILED {path}: {reason}"


_segfault_on.on_failure = _fail  # type: ignore[attr-defined]
_sleep_on.on_failure = _fail  # type: ignore[attr-defined]


def test_a_worker_that_segfaults_becomes_a_result_for_its_file_and_the_run_goes_on():
    paths = [f"f{i:02}.py" for i in range(40)]
    results = run_parallel(functools.partial(_segfault_on, "f07.py"), paths, jobs=2)
    assert results[7].startswith("FAILED f07.py") and "SIGSEGV" in results[7]
    assert [r for i, r in enumerate(results) if i != 7] == [p.upper() for i, p in enumerate(paths) if i != 7]


def test_a_worker_that_hangs_is_stopped_by_the_timeout():
    paths = [f"f{i:02}.py" for i in range(20)]
    start = time.monotonic()
    results = run_parallel(functools.partial(_sleep_on, "f03.py"), paths, jobs=2, timeout=2)
    assert time.monotonic() - start < 60
    assert results[3].startswith("FAILED f03.py") and "took over 2 s" in results[3]
    assert results[4] == "F04.PY"


def test_a_task_without_a_failure_result_raises_a_clear_error():
    with pytest.raises(TaskFailed, match=r"f05\.py"):
        run_parallel(functools.partial(_crash_plain, "f05.py"), _many(), jobs=2)


def _crash_plain(bad: str, path: str) -> str:
    if path == bad:
        os._exit(3)
    return path


def _many() -> list[str]:
    return [f"f{i:02}.py" for i in range(20)]


def test_lint_failures_are_internal_errors_that_name_the_file_and_ask_for_a_report():
    (diagnostic,) = lint_failure("pkg/m.py", "the worker linting this file crashed (SIGSEGV)").diagnostics
    assert diagnostic.internal_error and diagnostic.path == "pkg/m.py"
    assert "SIGSEGV" in diagnostic.message and "report" in diagnostic.message


# -- the installed CLI: no traceback, whatever the input ------------------------------------------


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXPORT_LINT, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"}
    )


@pytest.mark.skipif(EXPORT_LINT is None, reason="export-lint is not installed")
def test_a_tree_of_bad_files_gets_one_diagnostic_each_and_no_traceback(tmp_path):
    import json

    files = {
        "good.py": HAZARD,
        "py2.py": "import torch\nprint 'x'\n",
        "truncated.py": HAZARD[:-20],
        "empty.py": "",
        "deep.py": "import torch\nx = " + "(" * 3000 + ")" * 3000 + "\n",
        "chain.py": "import torch\nx = " + "1+" * 3000 + "1\n",
        "noqa.py": HAZARD.replace("))\n", "))  # noqa: ???,, EXP\n"),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "big.py").write_text("import torch\n" + "x = 1\n" * 1_000_000)
    (tmp_path / "dir.py").mkdir()
    os.symlink("loop_b.py", tmp_path / "loop_a.py")
    os.symlink("loop_a.py", tmp_path / "loop_b.py")
    result = run("check", "--select", "ALL", "--output-format", "json", "--no-cache", ".", cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 1, result.stderr
    found: dict[str, list[str]] = {}
    for d in json.loads(result.stdout):
        found.setdefault(d["filename"], []).append(d["name"])
    assert found["good.py"] == ["non-module-export-target"]
    assert found["py2.py"] == ["syntax-error"]
    assert found["truncated.py"] == ["syntax-error"]
    assert found["deep.py"] == ["syntax-error"]
    assert found["chain.py"] == ["syntax-error"]
    assert found["big.py"] == ["file-too-large"]
    assert "empty.py" not in found and "dir.py" not in found
    # Garbage codes after `noqa:` are read as a bare noqa today (the suppression module's call): no crash.
    assert "internal-error" not in found.get("noqa.py", [])
    # A symlink loop passed explicitly is one io-error.
    looped = run("check", "--select", "ALL", "--no-cache", "loop_a.py", "good.py", cwd=tmp_path)
    assert "Traceback" not in looped.stderr + looped.stdout
    assert "loop_a.py" in looped.stdout and "EXP001" in looped.stdout


@pytest.mark.skipif(EXPORT_LINT is None, reason="export-lint is not installed")
def test_explicit_non_python_files_and_directories_named_x_py(tmp_path):
    (tmp_path / "notes.txt").write_text("torch.export.export(f)\n")
    (tmp_path / "x.py").mkdir()
    (tmp_path / "x.py" / "inner.py").write_text(HAZARD)
    result = run("check", "--select", "ALL", "--no-cache", "notes.txt", "x.py", cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    assert "notes.txt" in result.stderr and "not a Python file" in result.stderr
    assert "x.py/inner.py" in result.stdout and result.returncode == 1


@pytest.mark.skipif(EXPORT_LINT is None, reason="export-lint is not installed")
@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        ("[tool.export-lint\nselect = [", "cannot read"),
        ('[tool.export-lint]\nselect = "EXP001"\n', "must be a list"),
        ('[tool.export-lint]\nselect = ["EXP9999"]\n', "unknown rule selector"),
        ('[tool.export-lint]\nignore = ["NOPE"]\n', "unknown rule selector"),
        ('[tool.export-lint]\nper-file-ignores = {"*.py" = ["BAD1"]}\n', "unknown rule selector"),
        ('[tool.export-lint]\ntorch-version = "banana"\n', "torch-version"),
        ('[tool.export-lint]\nselecct = ["EXP001"]\n', "unknown key"),
    ],
)
def test_bad_configuration_is_a_clear_usage_error(tmp_path, pyproject, expected):
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "a.py").write_text(HAZARD)
    result = run("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert expected in result.stderr


def test_a_linted_file_leaves_nothing_behind(monkeypatch):
    """Memory stays flat over a tree: once a file is linted, nothing keeps its semantic model (and
    with it the whole syntax tree) alive, whatever the rules cached for it (a per-file cache keyed
    by the model whose value holds the model would); workers collect what cycles leave."""
    import gc
    import weakref

    from export_lint import engine
    from export_lint.config import Settings
    from export_lint.rules import by_code

    models: list[weakref.ref] = []

    class Tracked(engine.SemanticModel):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            models.append(weakref.ref(self))

    monkeypatch.setattr(engine, "SemanticModel", Tracked)
    # Flow analyses (dynamic dims, tensor kinds), module state and call sites all run on these.
    sources = [case.code for code in ("EXP104", "EXP205", "EXP301", "EXP402") for case in by_code()[code].INVALID]
    for source in sources:
        lint_source(source, "model.py", Settings(select=("ALL",)))
    gc.collect()
    assert models and all(ref() is None for ref in models)
