"""Installed torch, torchvision and transformers sources under the per-file budget (issue 12): each
tree's largest and most regex-hostile files (longest runs of ``#``, blanks, continuation lines)
lint with no EXP000 timeout and no internal error. ``python scripts/corpus.py`` runs the whole
trees by hand."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "scripts" / "corpus.py"
PACKAGES = ["torch", "torchvision", "transformers"]


@pytest.mark.slow
@pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in PACKAGES),
    reason="needs torch, torchvision and transformers installed (their sources are the corpus)",
)
def test_the_most_hostile_installed_files_lint_within_the_budget(tmp_path):
    spec = importlib.util.spec_from_file_location("corpus", CORPUS)
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    report_file = tmp_path / "report.json"
    arguments = ["--packages", *PACKAGES, "--sample", "2", "--no-fix", "-j", "2", "--timeout", "60"]
    status = corpus.main([*arguments, "--json", str(report_file)])
    report = json.loads(report_file.read_text())
    assert set(report) == set(PACKAGES)
    for name, entry in report.items():
        check = entry["check"]
        assert check["files"] >= 4, name
        assert check["hangs"] == [] and check["internal_errors"] == [], name
    assert status == 0
