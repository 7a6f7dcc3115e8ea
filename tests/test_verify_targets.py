"""``export-lint verify TARGET`` / ``--script`` on the user's own code (fixtures in tests/fixtures/verify_targets).

Bad inputs are checked without torch doing any work (a second each); the tests that export are
marked slow and use models of a few parameters.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from export_lint import versions
from export_lint.cli import main
from export_lint.verify import runtime_codes
from export_lint.verify.targets import TargetError, as_request, parse_spec

FIXTURES = Path(__file__).parent / "fixtures" / "verify_targets"
needs_torch = pytest.mark.skipif(versions.installed_torch_version() is None, reason="needs torch")


@pytest.fixture
def in_fixtures(monkeypatch):
    monkeypatch.chdir(FIXTURES)
    return FIXTURES


def _verify(*argv: str) -> int:
    return main(["verify", "--no-progress", *argv])


# -- specs and factory results: no import, no torch --------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind"),
    [("src/model.py:make", "path"), ("model.py:Factory.build", "path"), ("pkg.models:make_export", "module")],
)
def test_specs_name_a_file_or_a_module(text, kind):
    spec = parse_spec(text)
    assert (spec.path if kind == "path" else spec.module) == text.rpartition(":")[0]


@pytest.mark.parametrize("text", ["model.py", ":make", "model.py:", "pkg-name:make", "model.py:1st"])
def test_a_malformed_spec_is_rejected_with_its_text(text):
    with pytest.raises(TargetError, match="^" + text.replace(".", r"\.")):
        parse_spec(text)


def test_factory_results_in_every_documented_shape():
    assert as_request("t", ("m", (1,))).kwargs == {}
    assert as_request("t", ("m", [1], {"k": 2})).args == (1,)
    request = as_request("t", {"model": "m", "args": (1,), "dynamic_shapes": {"x": None}, "strict": True})
    assert (request.strict, request.dynamic_shapes) == (True, {"x": None})
    for wrong in (42, ("m",), {"model": "m"}, {"model": "m", "args": (), "extra": 1}, ("m", 3)):
        with pytest.raises(TargetError):
            as_request("t", wrong)


def test_runtime_codes_map_failure_categories_to_static_families():
    assert runtime_codes.code_for(runtime_codes.DATA_DEPENDENT, "        if x.sum() > 0:") == "EXP301"
    assert runtime_codes.code_for(runtime_codes.DATA_DEPENDENT, "        n = int(x.max())") == "EXP303"
    assert runtime_codes.code_for(runtime_codes.DATA_DEPENDENT, "    for i in range(n):") == "EXP302"
    assert runtime_codes.code_for(runtime_codes.DATA_DEPENDENT, "    a, b = x.split(sizes.tolist())") == "EXP304"
    assert runtime_codes.name_of("EXP304") == "data-dependent-split"  # names come from the rules registry
    assert runtime_codes.name_of("EXP601") == "export-error"
    assert runtime_codes.code_for(runtime_codes.SPECIALIZED, "    if x.shape[0] == 4:").startswith("EXP10")
    assert runtime_codes.code_for(runtime_codes.UNSUPPORTED, "    y = np.sin(x)").startswith("EXP4")
    text = "Expected `mod` to be an instance of `torch.nn.Module`, got <class 'method'>."
    assert runtime_codes.code_for(runtime_codes.OTHER, "", "ValueError", text) == "EXP001"
    found = "Found <class 'transformers.cache_utils.EncoderDecoderCache'> in output"
    assert runtime_codes.code_for(runtime_codes.OTHER, "", "RuntimeError", found) == "EXP002"
    assert runtime_codes.code_for(runtime_codes.OTHER, "", "RuntimeError", "odd") in runtime_codes.RUNTIME_CODES


# -- bad inputs: one clear error per target, exit 2, the others still run -------------------------
@needs_torch
def test_every_bad_input_is_one_error_naming_its_target(in_fixtures, capsys, tmp_path):
    report = tmp_path / "report.json"
    targets = [
        "missing.py:make",
        "broken_import.py:make",
        "bad_targets.py:absent",
        "bad_targets.py:NOT_CALLABLE",
        "bad_targets.py:raises",
        "bad_targets.py:wrong_shape",
        "bad_targets.py:wrong_mapping",
        "bad_targets.py:needs_cuda",
        "no_such_package_export_lint.models:make",
    ]
    assert _verify(*targets, "--json", str(report)) == 2
    err = capsys.readouterr().err
    expected = {
        "missing.py:make": "missing.py does not exist",
        "broken_import.py:make": "cannot import broken_import.py: ModuleNotFoundError",
        "bad_targets.py:absent": "has no callable 'absent'",
        "bad_targets.py:NOT_CALLABLE": "NOT_CALLABLE is a int, not a callable",
        "bad_targets.py:raises": "the factory raised RuntimeError: no weights here",
        "bad_targets.py:wrong_shape": "the factory returned a int; expected (model, args)",
        "bad_targets.py:wrong_mapping": "a mapping with keys ['module']",
        "bad_targets.py:needs_cuda": "needs CUDA, which this host does not have",
        "no_such_package_export_lint.models:make": "cannot import no_such_package_export_lint.models",
    }
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(targets), err
    for target, message in expected.items():
        assert any(line.startswith(f"error: {target}: ") and message in line for line in errors), (target, err)
    data = json.loads(report.read_text())
    assert [t["target"] for t in data["targets"]] == targets
    assert all(t["error"] and not t["exports"] for t in data["targets"])


def test_a_target_past_its_timeout_is_killed(in_fixtures, capsys):
    assert _verify("bad_targets.py:hangs", "--timeout", "3") == 2
    assert "error: bad_targets.py:hangs: export did not finish within --timeout 3 s" in capsys.readouterr().err


def test_a_script_that_exits_before_exporting_is_an_error(in_fixtures, capsys):
    assert _verify("--script", "exits_early.py") == 2
    err = capsys.readouterr().err
    assert "error: exits_early.py: exited with status 4 before any export call" in err
    assert "checking the environment" in err  # the script's own output, shown apart


def test_fix_needs_targets_and_apply_needs_fix(in_fixtures, capsys):
    assert _verify("gate.py:make", "--apply") == 2
    assert "--apply needs --fix" in capsys.readouterr().err


# -- real exports (slow) -------------------------------------------------------------------------
@pytest.mark.slow
@needs_torch
def test_two_data_dependent_failures_are_both_reported_at_their_lines(in_fixtures, capsys, tmp_path):
    report = tmp_path / "report.json"
    assert _verify("two_failures.py:make", "--output-format", "json", "--json", str(report)) == 1
    items = json.loads(capsys.readouterr().out)
    assert [(i["filename"], i["location"]["row"], i["code"]) for i in items] == [
        ("two_failures.py", 8, "EXP301"),
        ("two_failures.py", 13, "EXP303"),
    ]
    assert all(set(i) >= {"code", "name", "message", "location", "end_location", "fix", "url"} for i in items)
    assert "GuardOnDataDependentSymNode" in items[0]["message"]
    assert all("found statically" in i["message"] for i in items)
    data = json.loads(report.read_text())
    (target,) = data["targets"]
    (check,) = target["exports"]
    assert check["status"] == "fails" and check["mode"] == "non-strict"
    assert {"export", "draft_export"} <= set(check["seconds"]) and target["peak_rss_bytes"] > 0


@pytest.mark.slow
@needs_torch
def test_sarif_and_concise_reports_of_runtime_findings(in_fixtures, capsys):
    assert _verify("two_failures.py:make", "--output-format", "sarif") == 1
    sarif = json.loads(capsys.readouterr().out)
    results = sarif["runs"][0]["results"]
    assert sarif["version"] == "2.1.0" and len(results) == 2
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results]
    assert lines == [8, 13]


@pytest.mark.slow
@needs_torch
def test_a_clean_model_exits_0_after_matching_eager_at_other_sizes(in_fixtures, capsys, tmp_path):
    report = tmp_path / "report.json"
    assert _verify("clean.py:make", "bad_targets.py:raises", "--json", str(report)) == 2  # the bad one: 2
    data = json.loads(report.read_text())
    clean = data["targets"][0]
    assert clean["error"] is None
    (check,) = clean["exports"]
    assert check["status"] == "exports" and not check["findings"]
    labels = [c["inputs"] for c in check["comparisons"]]
    assert labels[0] == "fresh inputs at the example shapes" and len(labels) == 3  # + two other batch sizes
    assert all(c["agree"] for c in check["comparisons"])
    assert _verify("clean.py:make") == 0
    assert "All exports verified" in capsys.readouterr().out


@pytest.mark.slow
@needs_torch
def test_divergence_from_eager_is_a_finding_at_forward(in_fixtures, capsys):
    assert _verify("diverges.py:make", "--output-format", "concise") == 1
    out = capsys.readouterr().out
    assert "diverges.py:9:5: EXP602 the exported program differs from eager" in out


@pytest.mark.slow
@needs_torch
def test_a_script_is_run_with_its_arguments_and_every_export_checked(in_fixtures, capsys, tmp_path):
    report = tmp_path / "report.json"
    code = _verify("--script", "export_script.py", "--json", str(report), "--output-format", "concise", "--", "a1")
    captured = capsys.readouterr()
    assert code == 1
    assert "export_script.py:10:9: EXP301" in captured.out
    assert "script started with ['a1']" in captured.err and "export failed: GuardOnDataDependentSymNode" in captured.err
    target = json.loads(report.read_text())["targets"][0]
    assert target["script"]["exit_code"] == 3
    assert [c["status"] for c in target["exports"]] == ["exports", "fails"]


@pytest.mark.slow
@needs_torch
def test_fix_shows_then_applies_draft_exports_check_and_the_file_reverifies(tmp_path, monkeypatch, capsys):
    shutil.copy(FIXTURES / "gate.py", tmp_path / "gate.py")
    monkeypatch.chdir(tmp_path)
    assert _verify("gate.py:make", "--fix") == 1
    out = capsys.readouterr().out
    assert "+        torch._check(count > 2)" in out
    assert (tmp_path / "gate.py").read_text() == (FIXTURES / "gate.py").read_text()  # --fix alone writes nothing
    assert _verify("gate.py:make", "--fix", "--apply") == 0
    captured = capsys.readouterr()
    assert "re-verified, 1 -> 0 finding(s)" in captured.err
    text = (tmp_path / "gate.py").read_text()
    assert "        torch._check(count > 2)\n        if count > 2:" in text
    compile(text, "gate.py", "exec")
    # the static finding on the now-passing branch is listed as not confirmed on this input
    assert "EXP301" in captured.err and "not confirmed on this input" in captured.err


def test_targets_do_not_mix_with_the_reference_cases(in_fixtures, capsys):
    assert _verify("gate.py:make", "--model", "mvit") == 2
    assert "cannot be combined with --rules, --model or --weights" in capsys.readouterr().err


@pytest.mark.slow
@needs_torch
def test_a_script_whose_exported_program_fails_when_called_gets_a_finding_at_the_call(in_fixtures, capsys):
    assert _verify("--script", "calls_other_size.py", "--output-format", "concise") == 1
    out = capsys.readouterr().out
    assert "calls_other_size.py:12:" in out and "EXP101 the exported program fails when the script calls it" in out


@pytest.mark.slow
@needs_torch
def test_a_failure_under_a_library_decorator_is_reported_at_the_forward_it_wraps(in_fixtures, capsys):
    # wrapping.py's decorator reads tensor data around forward: reported at the forward it wraps
    assert _verify("wrapped_model.py:make", "--output-format", "json") == 1
    items = json.loads(capsys.readouterr().out)
    assert {(i["filename"], i["location"]["row"]) for i in items} == {("wrapped_model.py", 9)}


# -- verify --fix: torch's dynamic_shapes suggestion and an unnamed data-dependent value ----------
CONSTRAINT_MESSAGE = """Constraints violated (batch)! For more information, run with TORCH_LOGS="+dynamic".
  - Not all values of batch = L['x'].size()[0] in the specified range satisfy the generated guard 5 <= L['x'].size()[0]
Suggested fixes:
  batch = Dim('batch', min=5)
  other = 2*batch

The error above occurred when calling torch.export.export."""


def test_torchs_suggested_spec_becomes_an_edit_of_the_dim_literal_in_the_users_spelling():
    from export_lint.verify.shape_fixes import spec_edits, suggested_specs

    assert suggested_specs(CONSTRAINT_MESSAGE) == {"batch": "Dim('batch', min=5)"}  # derived dims are left alone
    assert suggested_specs("Suggested fixes:\n  batch = 8\n") == {"batch": "8"}
    assert suggested_specs("no suggestion here") == {}
    fix = spec_edits(str(FIXTURES / "guard_dims.py"), CONSTRAINT_MESSAGE)
    (edit,) = fix["edits"]
    line = (FIXTURES / "guard_dims.py").read_text().splitlines()[edit["line"] - 1]
    assert line[edit["column"] - 1 : edit["end_column"] - 1] == 'Dim("batch")' and edit["text"] == 'Dim("batch", min=5)'
    static = spec_edits(str(FIXTURES / "static_dim.py"), "Suggested fixes:\n  batch = 8\n")
    assert [e["text"] for e in static["edits"]] == ["8"]


@pytest.mark.slow
@needs_torch
def test_fix_writes_torchs_suggested_dim_and_binds_an_unnamed_size_then_both_reverify(tmp_path, monkeypatch, capsys):
    for name in ("guard_dims.py", "inline_gate.py"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert _verify("guard_dims.py:make", "inline_gate.py:make", "--fix", "--apply") == 0
    captured = capsys.readouterr()
    assert '-    batch = Dim("batch")\n+    batch = Dim("batch", min=5)' in captured.out
    assert "Fixed guard_dims.py: re-verified, 2 -> 0 finding(s)" in captured.err
    assert "Fixed inline_gate.py: re-verified, 1 -> 0 finding(s)" in captured.err
    gate = (tmp_path / "inline_gate.py").read_text()
    assert "        size = x.nonzero().shape[0]\n        torch._check(size > 2)\n        if size > 2:" in gate


@needs_torch
def test_an_unnamed_data_dependent_value_is_bound_once_and_ambiguous_lines_get_no_fix(tmp_path):
    from export_lint.verify.suggestions import check_insertion

    data = {"expr": "u0 > 2", "result": "True", "frame_locals": {"locals": {"x": ["Tensor(shape: [4, 3])"]}}}
    fix = check_insertion(str(FIXTURES / "inline_gate.py"), 8, data)
    assert [edit["text"] for edit in fix["edits"]] == [
        "        size = x.nonzero().shape[0]\n        torch._check(size > 2)\n",
        "size",
    ]
    named = {**data, "frame_locals": {"locals": {"count": ["u0"]}}}
    assert (
        check_insertion(str(FIXTURES / "gate.py"), 9, named)["edits"][0]["text"] == "        torch._check(count > 2)\n"
    )
    two = tmp_path / "two.py"
    two.write_text("import torch\n\n\ndef f(x):\n    if x.max().item() > x.min().item():\n        return x\n")
    assert check_insertion(str(two), 5, data) is None  # which of the two is u0? no guess
