"""The recall corpus's bookkeeping: sampling, per-model records and the scores (no model is run here)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load("recall_corpus")
models = _load("corpus_models")

MODELS = {
    "torchvision": [f"tv{i}" for i in range(30)],
    "timm": [f"tm{i}" for i in range(200)],
    "transformers": [f"hf{i}" for i in range(600)],
    "reference": ["mvit", "whisper", "blip", "sam2"],
}


def test_a_sample_keeps_every_reference_and_splits_the_rest_evenly():
    chosen = corpus.sample(MODELS, 40)
    assert len(chosen) == 40 and chosen == corpus.sample(MODELS, 40)
    by_source = {source: [n for s, n in chosen if s == source] for source in corpus.SOURCES}
    assert by_source["reference"] == MODELS["reference"]
    assert [len(by_source[s]) for s in ("torchvision", "timm", "transformers")] == [12, 12, 12]
    assert len(set(by_source["timm"])) == 12
    assert corpus.sample(MODELS, None) == [(s, n) for s in corpus.SOURCES for n in MODELS[s]]


def test_names_survive_the_identifier_encoding():
    for name in ("xlm-roberta", "vit_tiny_patch16_224.augreg", "bert"):
        encoded = models.encode(name)
        assert encoded.isidentifier() and models.decode(encoded) == name


def _record(source, name, data, static=None):
    """A cache row plus the static side ``recall_static`` would add (``[[row, code]]`` per file)."""
    record = corpus.record_of(source, name, data, 1, "c")
    record["static"] = {path: [[item["row"], item["code"]] for item in items] for path, items in (static or {}).items()}
    return record


def _result(findings=(), comparisons=(True,), error=None, executed=None):
    exports = []
    if error is None:
        exports.append(
            {
                "status": "fails" if findings else "exports",
                "findings": [
                    {"path": p, "line": line, "code": c, "message": m, "category": "x"} for p, line, c, m in findings
                ],
                "comparisons": [{"agree": agree} for agree in comparisons],
                "executed": executed or {},
            }
        )
    return {"error": error, "exports": exports, "torch": "2.14.1"}


def test_records_say_exported_failed_diverged_or_skipped_and_why():
    skip = corpus.record_of("timm", "a", _result(error="timm:a: the factory raised Skip: too large: 90M"), 1, "c")
    assert (skip["status"], skip["reason"]) == ("skipped", "too large: 90M")
    failed = corpus.record_of("timm", "b", _result([("/m.py", 3, "EXP301", "data-dependent")]), 1, "c")
    assert failed["status"] == "failed"
    diverged = corpus.record_of("timm", "c", _result([("/m.py", 1, "EXP602", "differs")], (False,)), 1, "c")
    assert diverged["status"] == "diverged"
    clean = corpus.record_of("timm", "d", _result(), 1, "c")
    assert (clean["status"], clean["matched_eager"]) == ("exported", True)


def test_recall_counts_static_findings_within_three_lines_and_false_alarms_on_clean_executed_lines():
    records = [
        _record(
            "timm",
            "hit",
            _result([("/lib/a.py", 10, "EXP301", "data-dependent `u0`"), ("/lib/a.py", 50, "EXP601", "odd thing")]),
            static={"/lib/a.py": [{"row": 13, "code": "EXP301"}]},
        ),
        _record(
            "timm",
            "clean",
            _result(executed={"/lib/b.py": [4, 5, 6]}),
            static={"/lib/b.py": [{"row": 5, "code": "EXP303"}, {"row": 9, "code": "EXP301"}]},
        ),
    ]
    assert records[1]["executed"] == {"/lib/b.py": "4-6"}
    text = corpus.report(records, MODELS, 2)
    assert "**Static recall**: 1/2 = 50%" in text
    assert "**False-alarm rate**: 1/2 = 50%" in text
    assert "| EXP601 | odd thing | 1 |" in text


def test_executed_lines_are_stored_as_ranges_and_read_back():
    lines = {1, 2, 3, 7, 9, 10}
    assert corpus.line_ranges(lines) == "1-3,7,9-10"
    assert corpus.parse_ranges(corpus.line_ranges(lines)) == lines
    assert corpus.parse_ranges("") == set() and corpus.parse_ranges([4, 5]) == {4, 5}


forked = _load("fork_runner")
BAD = ROOT / "tests" / "fixtures" / "verify_targets" / "bad_targets.py"


def _request(factory: str) -> dict:
    return {"label": factory, "factory": f"{BAD}:{factory}", "select": None, "lint": False, "track_all": True}


def test_a_forked_child_reports_a_failing_factory_and_is_killed_past_its_timeout():
    data, _ = forked.run_forked(_request("raises"), timeout=60)
    assert "the factory raised RuntimeError: no weights here" in data["error"]
    data, wall = forked.run_forked(_request("hangs"), timeout=1.5)
    assert data["error"].endswith("export did not finish within --timeout 1.5 s") and wall < 30


def test_the_static_side_is_cached_by_the_rules_digest_and_relinted_when_it_changes(tmp_path):
    static = _load("recall_static")
    model = tmp_path / "model.py"
    model.write_text(
        "import torch\n\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n        return x.item()\n"
    )
    record = {
        "source": "timm",
        "name": "m",
        "model_files": [str(model)],
        "roots": [{"path": str(model), "qualname": "M", "module": "model"}],
    }
    cache = tmp_path / "static.jsonl"
    first = static.relint([record], cache, say=lambda _: None)
    assert first[("timm", "m")] and len(cache.read_text().splitlines()) == 1
    assert static.relint([record], cache, say=lambda _: None) == first
    assert len(cache.read_text().splitlines()) == 1  # nothing re-linted: the rules did not change
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    assert rows[0]["rules"] == static.rules_digest()
    assert static.read_static(cache, "another digest") == {}


def test_a_site_inside_a_multi_line_decorator_moves_to_the_def_line(tmp_path):
    from benchmarks.recall_corpus import def_line

    source = tmp_path / "modeling.py"
    source.write_text(
        'class M:\n    @doc(\n        intro="""\n        x\n        """\n    )\n    def forward(self, x):\n        return x\n'
    )
    assert def_line(str(source), 3) == 7
    assert def_line(str(source), 8) == 8
