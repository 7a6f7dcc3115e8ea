"""Any file name reaches every report intact and harmless (issue 12).

A non-UTF-8 file name once crashed SARIF and every text format with ``-o`` (leaving a 0-byte
file) and made the JUnit XML invalid; control characters in names reached the terminal raw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from xml.etree import ElementTree

import pytest

from export_lint import cli
from export_lint.display import display_path
from export_lint.report import FORMATS

HAZARD = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"
NAMES = {
    os.fsdecode(b"caf\xe9.py"): "caf\\xe9.py",
    "red\x1b[31m.py": "red\\x1b[31m.py",
    "new\nline.py": "new\\nline.py",
}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    for name in NAMES:
        (tmp_path / name).write_text(HAZARD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_display_path_escapes_only_what_must_be_escaped():
    assert display_path("src/café.py") == "src/café.py"
    for name, shown in NAMES.items():
        assert display_path(name) == shown


@pytest.mark.parametrize("output_format", sorted(FORMATS))
def test_every_format_writes_a_whole_report_with_escaped_names(tree, output_format):
    report = tree / "report.out"
    assert cli.main(["check", "--no-cache", "--output-format", output_format, "-o", str(report), "."]) == 1
    text = report.read_bytes().decode("utf-8")  # strict: no surrogate, valid UTF-8
    assert not any(raw in text for raw in ("\x1b", "new\nline"))
    if output_format == "junit":
        suites = ElementTree.fromstring(text).findall("testsuite")
        assert sorted(suite.get("name") for suite in suites) == sorted(NAMES.values())
    elif output_format == "sarif":
        results = json.loads(text)["runs"][0]["results"]
        uris = sorted(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results)
        assert uris == ["caf%E9.py", "new%0Aline.py", "red%1B%5B31m.py"]
    elif output_format.startswith("json"):
        items = json.loads(text) if output_format == "json" else [json.loads(line) for line in text.splitlines()]
        assert sorted(item["filename"] for item in items) == sorted(NAMES.values())
    else:
        assert all(shown in text for shown in NAMES.values()), text


def test_the_terminal_never_sees_a_raw_control_character(tree):
    process = subprocess.run(
        [sys.executable, "-m", "export_lint", "fix", "--no-cache", "."], capture_output=True, cwd=tree, timeout=60
    )
    output = process.stdout + process.stderr
    assert process.returncode == 1 and b"Traceback" not in output, output
    assert b"\x1b" not in output and b"red\\x1b[31m.py" in output and b"caf\\xe9.py" in output
