"""The committed torch matrix (docs/torch-versions.json) against the rules as they are now.

The matrix is made by ``python scripts/torch_matrix.py`` (a venv per torch release, far too heavy
for CI). These tests keep it honest: an example that applies on a release but whose proof there is
missing or stale (its scripts, target or the rule's gate changed), a release the matrix lacks, a
claim that failed, or a gate the evidence contradicts all fail here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from export_lint import versions
from export_lint.rules import all_rules
from export_lint.verify.matrix import applies, example_hash, labelled_examples

MATRIX = Path(__file__).resolve().parent.parent / "docs" / "torch-versions.json"
DATA = json.loads(MATRIX.read_text(encoding="utf-8"))
RERUN = "rerun scripts/torch_matrix.py"
#: Releases whose matrix run had not finished when this was committed (docs/torch-versions.md
#: says what is missing): skipped here until a rerun completes them. Keep this empty.
UNFINISHED: set[str] = set()
RELEASES = [release for release in versions.KNOWN_RELEASES if release not in UNFINISHED]


def test_the_matrix_covers_every_known_release():
    assert set(RELEASES) <= set(DATA["releases"]) <= set(versions.KNOWN_RELEASES), RERUN
    assert ".".join(versions.KNOWN_RELEASES[-1].split(".")[:2]) == versions.NEWEST_KNOWN_TORCH


def test_every_release_proved_every_claim():
    for release in RELEASES:
        assert DATA["summaries"][release].endswith("every claim holds."), (release, DATA["summaries"][release])


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.code)
def test_each_example_was_proven_as_it_is_now_wherever_it_applies(rule):
    entry = DATA["rules"].get(rule.code)
    assert entry is not None, f"{rule.code} is not in {MATRIX.name}: {RERUN}"
    for release in RELEASES:
        recorded = entry["results"][release]["proofs"]
        inside = versions.matches(versions.parse_version(release), rule.torch_versions)
        for label, example in labelled_examples(rule):
            if not applies(example, release):
                continue
            proofs = [p for p in recorded if p["hash"] == example_hash(rule, example)]
            assert proofs, f"{rule.code} {label} has no proof on torch {release} as it is now: {RERUN}"
            for proof in proofs:
                assert proof["holds"], f"{rule.code} {label} on torch {release}: {proof['error']}"
                if proof["example"].startswith("INVALID") and not proof["example"].endswith("fixed"):
                    # the gate agrees with the evidence: inside it the example failed, outside it exported
                    assert proof["claim"] == ("fails" if inside else "exports"), (rule.code, label, release)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.code)
def test_the_docs_show_each_rule_on_every_release_without_a_contradiction(rule):
    results = DATA["rules"][rule.code]["results"]
    assert DATA["rules"][rule.code]["torch_versions"] == (rule.torch_versions or ""), RERUN
    for release in RELEASES:
        assert results[release]["status"] in {"holds", "hazard absent", "no runnable example"}, (
            rule.code,
            release,
            results[release]["error"],
        )


def test_the_strict_default_flip_is_where_torch_says():
    for release, facts in DATA["facts"].items():
        if not facts:
            continue
        assert facts["export strict default"] is versions.strict_by_default(release), release


@pytest.mark.parametrize(
    ("code", "api"),
    [
        ("EXP004", "torch._export.capture_pre_autograd_graph"),
        ("EXP006", "torch.export.dynamic_dim"),
        ("EXP007", "torch.export.export_for_training"),
    ],
)
def test_removed_api_gates_start_where_the_api_is_gone(code, api):
    (rule,) = [rule for rule in all_rules() if rule.code == code]
    for release, facts in DATA["facts"].items():
        if not facts:
            continue
        if release == "2.4.1" and code == "EXP007":
            continue  # export_for_training was added in 2.5: absent before it existed, not removed
        removed = not facts[api]
        assert versions.matches(versions.parse_version(release), rule.torch_versions) is removed, (code, release)


#: Names a fix may only write where the matrix found them (the fact of that name is true).
NEW_APIS = {
    "Dim.DYNAMIC": "torch.export.Dim.DYNAMIC",
    "Dim.AUTO": "torch.export.Dim.AUTO",
    "export_for_training": "torch.export.export_for_training",
    "draft_export": "torch.export.draft_export",
    "capture_pre_autograd_graph": "torch._export.capture_pre_autograd_graph",
    "dynamic_dim": "torch.export.dynamic_dim",
}


@pytest.mark.parametrize("release", ["2.4.1", "2.5.1", "2.6.0", "2.10.0", "2.15.0"])
def test_fixes_never_write_an_api_the_target_torch_lacks(release):
    from golden import fix

    if release in UNFINISHED:
        pytest.skip(f"torch {release}: matrix run unfinished")
    facts = DATA["facts"][release]
    lacking = [name for name, fact in NEW_APIS.items() if not facts[fact]]
    for rule in all_rules():
        for example in rule.INVALID:
            fixed = fix(example.code, [rule.code], release).text
            for name in lacking:
                assert fixed.count(name) <= example.code.count(name), (rule.code, release, name)


def test_a_build_waiting_for_room_deletes_a_venv_once_its_verify_is_done(tmp_path, monkeypatch):
    """Regression: the build thread kept a copy of the venvs in use from when it started waiting,
    so the release the verify loop had finished was never deleted and the build waited forever."""
    import threading

    from golden import load_script

    matrix = load_script("torch_matrix")
    monkeypatch.setattr(matrix, "WAIT_S", 0.01)
    done, pending = tmp_path / "torch-2.12.1", tmp_path / "torch-2.13.0"
    for venv in (done, pending):
        venv.mkdir()
        (venv / matrix.READY).write_text("{}")
    matrix.IN_USE.update({done, pending})
    matrix.PROTECTED.update({done, pending})
    try:
        waiter = threading.Thread(target=matrix.make_room, args=(tmp_path, 2, 0.0, {tmp_path / "torch-2.9.1"}))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive() and done.exists()  # both still needed: it waits
        matrix.IN_USE.discard(done)  # what the verify loop does once a release is verified
        matrix.PROTECTED.discard(done)
        waiter.join(5)
        assert not waiter.is_alive()
        assert not done.exists() and pending.exists()
    finally:
        matrix.IN_USE.clear()
        matrix.PROTECTED.clear()


def test_a_venv_whose_torch_does_not_import_is_told_apart(tmp_path):
    """The build checks ``import torch`` (a clone's stale CUDA library once made it fail)."""
    import sys

    from golden import load_script

    matrix = load_script("torch_matrix")
    assert matrix.torch_import_error(Path(sys.executable)) == ""
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ImportError: undefined symbol: ncclCommResume' >&2\nexit 1\n")
    broken.chmod(0o755)
    assert matrix.torch_import_error(broken) == "ImportError: undefined symbol: ncclCommResume"


def test_results_seeded_from_the_docs_render_the_docs_again(tmp_path):
    """A new machine has no per-release results: ``--seed-from-docs`` rebuilds them from the
    committed JSON, which then renders unchanged (so a run proves only what changed since)."""
    from golden import load_script

    matrix = load_script("torch_matrix")
    matrix.seed_from_docs(tmp_path)
    rendered = matrix.collect(tmp_path, list(matrix.RELEASES))
    assert {code: rendered["rules"][code] for code in DATA["rules"]} == DATA["rules"]
    assert rendered["summaries"] == DATA["summaries"] and rendered["models"] == DATA["models"]


def test_a_partial_rerun_keeps_a_rule_new_since_the_stored_run(tmp_path, monkeypatch):
    """Regression: proofs of a rule the stored run did not know were dropped when merged."""
    from golden import load_script

    matrix = load_script("torch_matrix")
    old = {"code": "EXP001", "proofs": [{"example": "VALID[0]", "hash": "h1", "claim": "exports", "holds": True}]}
    stored = {"torch": "2.9.1", "summary": "every claim holds.", "runs": ["--rules ALL: every claim holds."]}
    (tmp_path / "rules.json").write_text(json.dumps({**stored, "rules": [old]}))
    examples = {"EXP001": {"VALID[0]": {"hash": "h1", "applies": True}}}
    examples.update({f"EXP9{i:02d}": {"VALID[0]": {"hash": "x", "applies": False}} for i in range(4)})
    examples["EXP008"] = {"VALID[0]": {"hash": "h8", "applies": True}}
    monkeypatch.setattr(matrix, "snapshot_examples", lambda python: examples)
    new = {"code": "EXP008", "proofs": [{"example": "VALID[0]", "claim": "exports", "holds": True}]}

    def run_verify(python, argv, out, log, timeout):
        assert argv == ["--rules", "EXP008"]
        out.write_text(json.dumps({"torch": "2.9.1", "rules": [new]}))
        return 0, "1 proofs for 1 rule(s): every claim holds."

    monkeypatch.setattr(matrix, "run_verify", run_verify)
    matrix.verify_rules("2.9.1", Path("python"), tmp_path, 60)
    rules = {rule["code"]: rule for rule in json.loads((tmp_path / "rules.json").read_text())["rules"]}
    assert set(rules) == {"EXP001", "EXP008"}
    assert rules["EXP008"]["proofs"][0]["hash"] == "h8"
