"""The Python API: ``from export_lint import lint_source, lint_paths, fix_source``."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing

import pytest
from test_cli import HAZARD, run, write

import export_lint
from export_lint import fix_source, lint_paths, lint_source
from export_lint.config import ConfigError, Settings
from export_lint.diagnostics import Diagnostic
from export_lint.fixer import FixResult


def test_lint_source_returns_the_diagnostics_the_cli_prints(tmp_path):
    write(tmp_path, {"m.py": HAZARD})
    cli = json.loads(run("check", "--select", "EXP001", "--output-format", "json", "m.py", cwd=tmp_path).stdout)
    found = lint_source(HAZARD, "m.py", select=["EXP001"])
    assert [(d.code, d.path, d.start.row, d.start.column, d.end.row, d.end.column, d.message) for d in found] == [
        (d["code"], d["filename"], d["location"]["row"], d["location"]["column"], d["end_location"]["row"],
         d["end_location"]["column"], d["message"])
        for d in cli
    ]  # fmt: skip
    assert all(isinstance(d, Diagnostic) for d in found)


def test_lint_source_accepts_bytes_and_settings():
    found = lint_source(b"\xef\xbb\xbf" + HAZARD.encode(), "m.py", Settings(select=("EXP001",)))
    assert [(d.code, d.start.row, d.start.column) for d in found] == [("EXP001", 8, 21)]
    assert all(d.code != "EXP001" for d in lint_source(HAZARD, settings=Settings(ignore=("EXP001",))))
    with pytest.raises(ConfigError):
        lint_source(HAZARD, select=["NOPE1"])
    with pytest.raises(TypeError):
        lint_source(HAZARD, settings=Settings(), select=["EXP001"])


def test_lint_paths_walks_folders_reads_config_and_reports_missing_paths(tmp_path):
    write(tmp_path, {"pyproject.toml": '[tool.export-lint]\nselect = ["EXP001"]\n'})
    write(tmp_path, {"pkg/a.py": HAZARD, "pkg/b.py": "import torch\n", "pkg/c.py": HAZARD})
    found = lint_paths([tmp_path / "pkg", tmp_path / "missing.py"])
    assert [(d.code, d.path.rsplit("/", 1)[-1]) for d in found] == [
        ("EXP000", "missing.py"),
        ("EXP001", "a.py"),
        ("EXP001", "c.py"),
    ]


def test_fix_source_returns_fixed_text_and_what_remains():
    result = fix_source(HAZARD, "m.py", select=["EXP001"])
    assert isinstance(result, FixResult)
    assert result.applied == 1
    assert "torch.export.export(ExportWrapper(f), (torch.ones(1),))" in result.text
    assert result.remaining == []
    assert lint_source(result.text, "m.py", select=["EXP001"]) == []
    assert fix_source(result.text, "m.py", select=["EXP001"]).text == result.text


def test_api_is_typed_documented_and_importing_it_stays_light():
    for function in (lint_source, lint_paths, fix_source):
        assert function.__doc__ and len(function.__doc__) > 80, function.__name__
        hints = typing.get_type_hints(function)
        assert "return" in hints, function.__name__
        assert all(name in hints for name in inspect.signature(function).parameters), function.__name__
    assert typing.get_type_hints(lint_paths)["return"] == list[Diagnostic]
    assert set(export_lint.__all__) >= {"lint_source", "lint_paths", "fix_source"}
    light = "import sys, export_lint; print(sorted(m for m in ('libcst', 'torch') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", light], capture_output=True, text=True).stdout.strip() == "[]"
