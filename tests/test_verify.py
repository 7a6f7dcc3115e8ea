"""export-lint verify: the CLI contract, the case table, and the runner on a tiny real case.

The four reference models run in tests/test_verify_models.py (slow); everything here takes seconds.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import textwrap

import pytest

from export_lint import versions
from export_lint.cli import main
from export_lint.config import Settings
from export_lint.engine import lint_source
from export_lint.rules import by_code
from export_lint.verify import cli as verify_cli
from export_lint.verify.cases import BAKED, CASES, FAILS, Case, Expectation
from export_lint.verify.progress import ProgressPrinter

INSTALLED_TORCH = versions.installed_torch_version()


# -- usage errors exit 2 before anything heavy is imported ---------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "--model", "resnet"], "unknown model resnet; choose from mvit, whisper, blip, sam2"),
        (["verify", "--model", "mvit", "--weights", "/no/such/file.pth"], "/no/such/file.pth does not exist"),
        (["verify", "--model", "mvit,sam2", "--weights", "w.pth"], "say which model"),
        (["verify", "--model", "mvit", "--weights", "sam2=w.pth"], "'sam2' is not a selected model"),
        (["verify", "--rules", "EXP999"], "unknown code EXP999"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_missing_optional_dependency_exits_2_with_the_install_hint(monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):  # sam2 uninstalled, as on a machine without the extra
        return None if name == "sam2" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert main(["verify", "--model", "sam2"]) == 2
    error = capsys.readouterr().err
    assert "needs sam2, which is not installed" in error
    assert "pip install 'export-lint[verify]'" in error


@pytest.mark.skipif(INSTALLED_TORCH is None, reason="needs torch")
def test_cuda_without_cuda_is_a_usage_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["verify", "--model", "blip", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_weights_map_to_their_models(tmp_path):
    state = tmp_path / "mvit.pth"
    state.write_bytes(b"")
    parser = verify_cli.add_parser(__import__("argparse").ArgumentParser().add_subparsers())
    args = parser.parse_args(["--model", "mvit", "--weights", str(state)])
    assert verify_cli._weights(args, verify_cli._selected_cases(args)) == {"mvit": str(state)}
    args = parser.parse_args(["--model", "mvit,sam2", "--weights", f"mvit={state}"])
    assert verify_cli._weights(args, verify_cli._selected_cases(args)) == {"mvit": str(state)}


# -- the fixtures: real code, with the hazards export-lint must report --------------------
def _found(case: Case, torch_version: str) -> set[str]:
    source = case.path.read_text(encoding="utf-8")
    return {
        d.code
        for d in lint_source(
            source, str(case.path), Settings(torch_version=torch_version, traced="all-modules")
        ).diagnostics
    }


def _fixture_params():
    for torch_version in ("2.5", "2.14"):
        for case in CASES:
            yield pytest.param(case, torch_version, id=f"{case.name}-torch{torch_version}")


@pytest.mark.parametrize(("case", "torch_version"), _fixture_params())
def test_each_fixture_reports_its_registered_expected_codes(case, torch_version):
    expected = {e.code for e in case.expected(torch_version)}
    registered = expected & set(by_code())
    assert registered <= _found(case, torch_version)
    if expected - registered:
        pytest.xfail(f"rules not yet in export-lint: {', '.join(sorted(expected - registered))}")


def test_blip_expects_the_frozen_storage_error_only_before_torch_2_6():
    blip = next(case for case in CASES if case.name == "blip")
    assert {e.code for e in blip.expected("2.5.1")} == {"EXP201", "EXP202"}
    assert {e.code for e in blip.expected("2.6.0")} == {"EXP202"}
    assert {e.code: e.claim for e in blip.expected("2.5.1")} == {"EXP201": FAILS, "EXP202": BAKED}


def test_whisper_expects_the_cache_failure_only_where_transformers_returns_its_cache_object():
    # Up to transformers 4.53 Whisper returns legacy cache tuples, which export (the torch matrix
    # measured 4.49 on torch 2.4.1 and 2.5.1); from 4.54 an EncoderDecoderCache, which does not.
    whisper = next(case for case in CASES if case.name == "whisper")
    assert {e.code for e in whisper.expected("2.5.1", "4.49.0")} == {"EXP003"}
    assert {e.code for e in whisper.expected("2.5.1", "4.54.0")} == {"EXP002", "EXP003"}
    assert {e.code for e in whisper.expected("2.14.1", "5.24.0")} == {"EXP002"}
    assert {e.code for e in whisper.expected("2.14.1", None)} == {"EXP002"}  # no transformers: every claim


def test_the_cli_knows_every_case_by_name_without_importing_the_cases():
    from export_lint.verify import CASE_NAMES

    assert tuple(case.name for case in CASES) == CASE_NAMES
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, export_lint.cli as c; c.build_parser(); print('export_lint.verify.cases' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "False"


def test_fixtures_are_importable_without_running_anything():
    # Building and exporting happens only in the entry function, never at import.
    for case in CASES:
        source = case.path.read_text(encoding="utf-8")
        assert f'def {case.entry}(weights: str | None = None, device: str = "cpu")' in source


# -- progress and report -------------------------------------------------------------------
def test_progress_prints_one_line_per_finished_step_when_not_a_terminal():
    stream = io.StringIO()
    printer = ProgressPrinter(stream, live=False)
    printer("mvit", "lint", "start", "mvit_video.py")
    printer("mvit", "lint", "ok", "EXP101")
    printer("mvit", "original", "start", "torch.export")
    printer("mvit", "original", "fail", "AssertionError: Guard failed")
    printer.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("  ok   mvit     lint      EXP101 (")
    assert lines[1].startswith("  FAIL mvit     original  AssertionError: Guard failed (")


# -- the runner on a tiny real case (torch.export for real, a second or two) ---------------
TINY_FIXTURE = """
import torch


class Scaler:
    def __init__(self) -> None:
        self.model = torch.nn.Linear(4, 3)

    def _predict(self, x):
        return self.model(x).relu()

    def export(self, x):
        return torch.export.export(self._predict, (x,), strict=False)


def export_tiny(weights=None, device="cpu"):
    torch.manual_seed(0)
    return Scaler().export(torch.randn(2, 4, device=device))
"""


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    pytest.importorskip("torch")
    from export_lint.verify.reference import run_case

    path = tmp_path_factory.mktemp("tiny") / "tiny_case.py"
    path.write_text(textwrap.dedent(TINY_FIXTURE).lstrip(), encoding="utf-8")
    case = Case("tiny", "tiny", "tiny_case", "export_tiny", (Expectation("EXP001", FAILS),), (), "", source=path)
    events = []
    result = run_case(case, progress=lambda *event: events.append(event))
    return result, events


@pytest.mark.slow
def test_tiny_case_is_verified_end_to_end(tiny_result):
    result, _ = tiny_result
    assert result.problems == []
    assert result.found_codes == ["EXP001"]
    assert result.original.status == "fails" and result.original.stage == "export"
    assert result.original.error.startswith("ValueError: Expected `mod` to be an instance of `torch.nn.Module`")
    assert result.fixes_applied == 1 and "ExportWrapper(self._predict)" in result.fix_diff
    assert result.fixed.status == "exports"
    assert [a.agree for a in result.agreement] == [True]
    assert result.peak_rss_bytes > 0 and result.export_seconds > 0
    data = json.loads(json.dumps(result.to_json()))
    assert data["passed"] is True and data["tolerance"] == {"rtol": 1e-4, "atol": 1e-5}


@pytest.mark.slow
def test_tiny_case_reports_every_step(tiny_result):
    _, events = tiny_result
    finished = [(step, state) for _, step, state, _ in events if state != "start"]
    # "ok": each step behaved as claimed (the original failing to export is what EXP001 claims)
    assert finished == [("lint", "ok"), ("original", "ok"), ("fix", "ok"), ("fixed", "ok"), ("compare", "ok")]


def test_the_table_names_every_claim_that_did_not_hold():
    from export_lint.verify.reference import CaseResult, Outcome

    good = CaseResult("sam2", "SAM2", "2.14.1", ["EXP001"], found_codes=["EXP001"])
    good.original = Outcome("fails", "export", "ValueError: Expected `mod` to be an instance of `torch.nn.Module`")
    good.fixed = Outcome("exports", export_seconds=1.5)
    bad = CaseResult("mvit", "MViT", "2.14.1", ["EXP101"], found_codes=[])
    bad.original = Outcome("exports")
    bad.problems.append("expected codes not reported: EXP101")
    table = verify_cli.render_table([good, bad], "2.14.1")
    rows = table.splitlines()
    assert rows[0].split()[:6] == ["case", "codes", "original", "(torch", "2.14.1)", "fixed"]
    assert rows[2].startswith("sam2") and rows[2].endswith("ok")
    assert rows[3].startswith("mvit") and rows[3].endswith("MISMATCH")
    assert rows[-1] == "mvit: expected codes not reported: EXP101"


@pytest.mark.slow
def test_verify_rules_proves_the_selected_rules_and_writes_json(tmp_path, capsys):
    pytest.importorskip("torch")
    report = tmp_path / "rules.json"
    assert main(["verify", "--rules", "EXP001", "--json", str(report), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "EXP001 non-module-export-target (torch all): " in out and ", holds" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["passed"] is True
    assert [rule["code"] for rule in data["rules"]] == ["EXP001"]
    assert data["rules"][0]["proofs"] and all(proof["holds"] for proof in data["rules"][0]["proofs"])


@pytest.mark.parametrize(
    ("name", "torch_version", "error", "matches"),
    [
        ("mvit", "2.14", "AssertionError: Guard failed: x.size()[0] == 2", True),
        ("mvit", "2.14", "RuntimeError: Expected input at *args[0].shape[0] to be equal to 2, but got 4", True),
        (
            "whisper",
            "2.14",
            "RuntimeError: Found <class 'transformers.cache_utils.EncoderDecoderCache'> in output",
            True,
        ),
        ("blip", "2.5", "RuntimeError: cannot mutate tensors with frozen storage", True),
        (
            "sam2",
            "2.14",
            "ValueError: Expected `mod` to be an instance of `torch.nn.Module`, got <class 'method'>.",
            True,
        ),
        ("sam2", "2.14", "RuntimeError: view size is not compatible with input tensor's size and stride", False),
    ],
)
def test_a_failure_counts_only_for_the_reason_the_codes_give(name, torch_version, error, matches):
    from export_lint.verify.cases import by_name
    from export_lint.verify.reference import _for_the_claimed_reason

    assert _for_the_claimed_reason(error, by_name()[name].expected(torch_version)) is matches
