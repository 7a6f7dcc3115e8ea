"""The four reference cases, end to end with the real torch.export (slow: one process per model).

Each test runs ``export-lint verify --model NAME --json`` exactly as a user would and reads the
report: the linter's findings, the real outcome of the original code on the installed torch, the
fixed code's export, and eager-vs-exported agreement.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from export_lint import versions

pytestmark = [pytest.mark.slow]

torch_version = versions.installed_torch_version()
if torch_version is None:  # pragma: no cover
    pytest.skip("needs torch", allow_module_level=True)
AT_LEAST_2_6 = versions.matches(versions.parse_version(torch_version), ">=2.6")


def verify(tmp_path, *argv: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    process = subprocess.run(
        [sys.executable, "-m", "export_lint", "verify", *argv, "--json", str(report), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert report.exists(), process.stderr
    return process, json.loads(report.read_text(encoding="utf-8"))


def run_model(tmp_path, name: str) -> dict:
    process, report = verify(tmp_path, "--model", name)
    (case,) = report["cases"]
    assert case["problems"] == [], process.stdout
    assert process.returncode == 0, process.stdout + process.stderr
    assert case["fixed"]["status"] == "exports"
    assert case["agreement"] and all(a["agree"] for a in case["agreement"])
    assert case["peak_rss_bytes"] < 6 * 2**30
    return case


def test_mvit_static_batch_fails_when_called_and_the_dynamic_batch_fix_holds(tmp_path):
    case = run_model(tmp_path, "mvit")
    assert case["found_codes"] == ["EXP101"]
    assert case["original"]["stage"] == "after export"
    assert case["original"]["error"].startswith("AssertionError: Guard failed: x.size()[0] == 2")
    assert 'dynamic_shapes={"x": {0: torch.export.Dim("batch", min=2, max=4)}}' in case["fix_diff"]
    (dim,) = case["dynamic_dims"]
    assert dim["example"] == 2 and dim["range"] == [2, 4] and dim["sizes"] == [3, 4] and dim["agree"] == [True, True]


def test_whisper_cache_output_fails_and_the_registration_fix_holds(tmp_path):
    case = run_model(tmp_path, "whisper")
    assert "EXP002" in case["found_codes"]
    assert case["original"]["stage"] == "export"
    assert "EncoderDecoderCache" in case["original"]["error"]
    assert "register_cache_pytrees_for_model(model)" in case["fix_diff"]


def test_blip_tokenizer_in_forward_is_baked_and_frozen_storage_is_gone_since_2_6(tmp_path):
    case = run_model(tmp_path, "blip")
    assert "EXP202" in case["found_codes"]
    assert ("EXP201" in case["expected_codes"]) is not AT_LEAST_2_6
    if AT_LEAST_2_6:  # the cookbook's error is gone: the original exports, and verify says so
        assert case["original"]["status"] == "exports"
    (claim,) = case["claims"]
    assert claim["code"] == "EXP202" and claim["holds"]


def test_sam2_method_target_fails_and_the_wrapper_module_fix_holds(tmp_path):
    case = run_model(tmp_path, "sam2")
    assert case["found_codes"] == ["EXP001"]
    assert case["original"]["error"].startswith(
        "ValueError: Expected `mod` to be an instance of `torch.nn.Module`, got <class 'method'>"
    )
    assert "ExportWrapper(self._predict)" in case["fix_diff"]


def test_verify_rules_proves_every_rule(tmp_path):
    from export_lint.rules import all_rules

    process, report = verify(tmp_path, "--rules")
    assert [rule["code"] for rule in report["rules"]] == [rule.code for rule in all_rules()]
    broken = [(r["code"], p["example"], p["error"]) for r in report["rules"] for p in r["proofs"] if not p["holds"]]
    assert broken == [], process.stdout
    assert process.returncode == 0
