"""Each rule's page, ``docs/rules/EXPnnn.md``, made from its docstring: what ``export-lint rule
EXPnnn`` prints and what a diagnostic's ``url`` opens (``scripts/rule_docs.py`` writes them,
``tests/test_rule_docs.py`` checks they are current)."""

from __future__ import annotations

from collections.abc import Sequence

from export_lint.rule import Rule


def rule_page(rule: type[Rule]) -> str:
    """A rule's page in Markdown: title, torch gate, fix, preview status, then its documentation."""
    fix = rule.fix_applicability.value if rule.fix_applicability else "none"
    preview = " Preview: runs only when selected by its exact code." if rule.preview else ""
    header = (
        f"# {rule.name} ({rule.code})\n\nTorch versions affected: {rule.torch_versions or 'all'}. Fix: {fix}.{preview}"
    )
    return f"{header}\n\n{rule.documentation()}\n"


def index_page(rules: Sequence[type[Rule]]) -> str:
    """``docs/rules/README.md``: one row per rule, linking to its page."""
    lines = [
        "# export-lint rules",
        "",
        "Generated from the rules' docstrings by `scripts/rule_docs.py`; do not edit by hand.",
        "",
        "| code | name | fix | torch | summary |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in rules:
        name = rule.name + (" (preview)" if rule.preview else "")
        fix = rule.fix_applicability.value if rule.fix_applicability else "-"
        summary = rule.summary().replace("|", "\\|")
        lines.append(f"| [{rule.code}]({rule.code}.md) | {name} | {fix} | {rule.torch_versions or 'all'} | {summary} |")
    return "\n".join(lines) + "\n"


def pages(rules: Sequence[type[Rule]]) -> dict[str, str]:
    """File name -> content of every page of ``docs/rules``."""
    return {"README.md": index_page(rules), **{f"{rule.code}.md": rule_page(rule) for rule in rules}}
