"""A slice of the real corpus in CI: no internal error, no hang, no broken or unstable fix (issue 8).

``scripts/corpus.py`` runs the four whole trees (torch, torchvision, transformers, sam2) by hand;
this runs its ``--slice``: transformers' whisper, blip, bert and llama, and torchvision/models.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "scripts" / "corpus.py"


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torchvision") is None,
    reason="needs transformers and torchvision installed (their sources are the corpus)",
)
def test_the_corpus_slice_lints_and_fixes_cleanly(tmp_path):
    spec = importlib.util.spec_from_file_location("corpus", CORPUS)
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    report_file = tmp_path / "report.json"
    status = corpus.main(["--slice", "-j", "2", "--timeout", "120", "--json", str(report_file)])
    report = json.loads(report_file.read_text())
    assert set(report) == {"transformers", "torchvision"}
    for name, entry in report.items():
        check, fix = entry["check"], entry["fix"]
        assert check["files"] > 20 and check["lines"] > 10_000, name
        assert check["internal_errors"] == [] and check["hangs"] == [], name
        assert check["syntax_errors"] == [], name  # installed sources are valid Python
        assert fix["broken_fixes"] == [] and fix["not_idempotent"] == [] and fix["tracebacks"] == [], name
    assert status == 0
