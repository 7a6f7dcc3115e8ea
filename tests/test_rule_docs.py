"""docs/rules holds one current page per rule, generated from its docstring, and every
diagnostic's ``url`` points at that page (issue 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from export_lint.diagnostics import DOCS_URL
from export_lint.rule_docs import pages
from export_lint.rules import all_rules

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "rules"


def test_every_rule_page_is_current():
    wanted = pages(all_rules())
    present = {path.name: path.read_text(encoding="utf-8") for path in FOLDER.glob("*.md")}
    assert sorted(present) == sorted(wanted), "run: python scripts/rule_docs.py"
    for name, text in wanted.items():
        assert present[name] == text, f"docs/rules/{name} is stale: run python scripts/rule_docs.py"


def test_the_script_reports_a_stale_page(tmp_path, monkeypatch):
    check = [sys.executable, str(ROOT / "scripts" / "rule_docs.py"), "--check"]
    assert subprocess.run(check, capture_output=True, text=True).returncode == 0
    page = FOLDER / "EXP001.md"
    original = page.read_text(encoding="utf-8")
    try:
        page.write_text(original + "edited by hand\n", encoding="utf-8")
        result = subprocess.run(check, capture_output=True, text=True)
        assert result.returncode == 1 and "docs/rules/EXP001.md is not current" in result.stderr
    finally:
        page.write_text(original, encoding="utf-8")


def test_each_url_names_a_page_that_exists():
    for rule in all_rules():
        url = DOCS_URL.format(code=rule.code)
        assert url.endswith(f"/docs/rules/{rule.code}.md")
        assert (FOLDER / f"{rule.code}.md").is_file()
