"""A rule's ``requires`` words and ``traced_only`` flag only ever skip what it would find nothing in.

Each rule declares words its source must contain (``"export"``, ``"class"``, ``"global"``) so the
engine can skip it on files without them, and whether it reports only in traced code, so the
engine can leave untraced code unwalked. Here every rule runs on every known example, fixture and
reference case twice, with and without those shortcuts: the diagnostics must be the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from export_lint.config import Settings
from export_lint.engine import lint_text
from export_lint.rules import all_rules
from export_lint.versions import NEWEST_KNOWN_TORCH

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    *sorted((ROOT / "tests" / "fixtures").rglob("*.py")),
    *sorted((ROOT / "examples").glob("*.py")),
    *sorted((ROOT / "export_lint" / "verify" / "cases").glob("[!_]*.py")),
]
EXAMPLES = [
    (f"{rule.code}-{kind}{index}", case.code, case.torch_version)
    for rule in all_rules()
    for kind, cases in (("valid", rule.VALID), ("invalid", rule.INVALID))
    for index, case in enumerate(cases)
]
EVERY_CODE = tuple(rule.code for rule in all_rules())  # preview rules included, selected by code


def _diagnostics(text: str, torch_version: str) -> list[tuple[str, int, int]]:
    settings = Settings(select=EVERY_CODE, torch_version=torch_version)
    return [(d.code, d.start.row, d.start.column) for d in lint_text(text, "example.py", settings)]


@pytest.fixture
def without_shortcuts(monkeypatch):
    def disable() -> None:
        for rule in all_rules():
            monkeypatch.setattr(rule, "requires", ())
            monkeypatch.setattr(rule, "traced_only", False)

    return disable


@pytest.mark.parametrize(("name", "code", "torch_version"), EXAMPLES, ids=[name for name, _, _ in EXAMPLES])
def test_shortcuts_hide_nothing_in_rule_examples(name, code, torch_version, without_shortcuts):
    version = torch_version or NEWEST_KNOWN_TORCH
    honoured = _diagnostics(code, version)
    without_shortcuts()
    assert _diagnostics(code, version) == honoured


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: f"{path.parent.name}/{path.name}")
@pytest.mark.parametrize("torch_version", ["2.5", NEWEST_KNOWN_TORCH])
def test_shortcuts_hide_nothing_in_fixtures_and_cases(path, torch_version, without_shortcuts):
    text = path.read_text(encoding="utf-8")
    honoured = _diagnostics(text, torch_version)
    without_shortcuts()
    assert _diagnostics(text, torch_version) == honoured


def test_every_required_word_is_in_every_invalid_example():
    for rule in all_rules():
        for case in rule.INVALID:
            missing = [word for word in rule.requires if word not in case.code]
            assert not missing, (rule.code, missing, case.code[:80])
