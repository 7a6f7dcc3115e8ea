"""Every file's syntax error is reported, at the place CPython puts it (issue 15): files that never
mention torch included (no rule reads them, but Python would not run them)."""

from __future__ import annotations

import sys

import pytest
from test_cli import run, write

from export_lint import lint_source


def concise(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if ": EXP000 " in line]


@pytest.mark.parametrize("cache", [[], ["--no-cache"]])
def test_a_file_without_torch_reports_its_syntax_error(tmp_path, cache):
    write(tmp_path, {"broken.py": "def f(:\n    pass\n", "fine.py": "x = 1\n"})
    for _ in range(2):  # the second run answers from the cache
        result = run("check", "--output-format", "concise", *cache, cwd=tmp_path)
        assert result.returncode == 1
        assert concise(result) == ["broken.py:1:7: EXP000 SyntaxError: invalid syntax"]


def test_the_row_is_cpythons_not_one_line_late(tmp_path):
    write(tmp_path, {"m.py": "import torch\nx = (1,\ny = 2\n"})
    result = run("check", "--output-format", "concise", "m.py", cwd=tmp_path)
    assert concise(result) == ["m.py:2:5: EXP000 SyntaxError: '(' was never closed"]


def test_what_only_cpythons_compiler_rejects_is_reported():
    # LibCST parses a repeated keyword argument; Python refuses to compile it.
    found = lint_source("import torch\n\ntorch.ones(1, dtype=None, dtype=None)\n")
    assert [(d.code, d.start.row, d.message) for d in found] == [
        ("EXP000", 3, "SyntaxError: keyword argument repeated: dtype")
    ]
    assert [d.start.row for d in lint_source("def f():\n    pass\nreturn 1\n")] == [3]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="needs a Python older than the syntax")
def test_syntax_newer_than_the_running_python_is_not_an_error():
    # PEP 695 (Python 3.12): CPython 3.11's grammar rejects it, LibCST knows it.
    assert lint_source("type Alias = list[int]\n") == []
    assert lint_source("import torch\n\ntype Alias = list[int]\n") == []


def test_compile_warnings_never_reach_the_terminal(tmp_path):
    write(tmp_path, {"re_use.py": 'import re\n\nPATTERN = re.compile("\\d+")\n'})
    result = run("check", cwd=tmp_path, env={"PYTHONWARNINGS": "error"})
    assert result.returncode == 0
    assert "Warning" not in result.stderr and "invalid escape" not in result.stderr, result.stderr
