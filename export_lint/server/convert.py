"""export-lint's diagnostics, fixes and rule docs as LSP values."""

from __future__ import annotations

import os

from lsprotocol import types
from pygls.uris import from_fs_path

from export_lint.diagnostics import DOCS_URL, Diagnostic, Edit, LineIndex
from export_lint.server.positions import PositionMap

SOURCE = "export-lint"
#: How the engine names the export call that makes a finding's code traced (rule.RuleContext.report):
#: "... (reached from export of Model at export_model.py:5)".
_REACHED_FROM = " (reached from export of "


class DocumentText:
    """One version of a document's text with both position systems: the engine's rows and columns,
    and LSP's lines and code units."""

    def __init__(self, text: str, encoding: str) -> None:
        self.text = text
        self.lines = LineIndex(text)
        self.positions = PositionMap(text, encoding)

    def offsets(self, diagnostic: Diagnostic) -> tuple[int, int]:
        start = self.lines.offset(diagnostic.start.row, diagnostic.start.column - 1)
        end = self.lines.offset(diagnostic.end.row, diagnostic.end.column - 1)
        return min(start, len(self.text)), min(max(end, start), len(self.text))

    def range(self, diagnostic: Diagnostic) -> types.Range:
        return self.positions.range(*self.offsets(diagnostic))

    def text_edit(self, edit: Edit) -> types.TextEdit:
        return types.TextEdit(range=self.positions.range(edit.start, edit.end), new_text=edit.content)

    def replacement(self, new_text: str) -> list[types.TextEdit]:
        """The smallest single edit turning this text into ``new_text`` (none when equal)."""
        old = self.text
        if old == new_text:
            return []
        prefix = 0
        limit = min(len(old), len(new_text))
        while prefix < limit and old[prefix] == new_text[prefix]:
            prefix += 1
        suffix = 0
        while suffix < limit - prefix and old[len(old) - 1 - suffix] == new_text[len(new_text) - 1 - suffix]:
            suffix += 1
        return [self.text_edit(Edit(prefix, len(old) - suffix, new_text[prefix : len(new_text) - suffix]))]


def severity(diagnostic: Diagnostic) -> types.DiagnosticSeverity:
    """EXP000 (the file could not be linted) is an error, an unused noqa a hint, a hazard a warning."""
    if diagnostic.code == "EXP000":
        return types.DiagnosticSeverity.Error
    if diagnostic.code == "EXP900":
        return types.DiagnosticSeverity.Hint
    return types.DiagnosticSeverity.Warning


def related(diagnostic: Diagnostic, project_root: str | None) -> list[types.DiagnosticRelatedInformation] | None:
    """The export call that makes the finding's code traced, where the engine names it."""
    message = diagnostic.message
    start = message.rfind(_REACHED_FROM)  # string search, not a regex: linear on any message
    if start == -1 or not message.endswith(")"):
        return None
    label, _, place = message[start + len(" (reached from ") : -1].rpartition(" at ")
    file, _, line = place.rpartition(":")
    if not label or not file or not line.isdigit():
        return None
    base = project_root if project_root and project_root != "." else os.path.dirname(os.path.abspath(diagnostic.path))
    path = file if os.path.isabs(file) else os.path.join(base, file)
    uri = from_fs_path(os.path.abspath(path))
    if uri is None:
        return None
    start = types.Position(line=max(int(line) - 1, 0), character=0)
    location = types.Location(uri=uri, range=types.Range(start=start, end=start))
    return [types.DiagnosticRelatedInformation(location=location, message=f"traced because of the {label}")]


def to_lsp(diagnostic: Diagnostic, document: DocumentText, project_root: str | None = None) -> types.Diagnostic:
    url = diagnostic.url
    return types.Diagnostic(
        range=document.range(diagnostic),
        message=diagnostic.message,
        severity=severity(diagnostic),
        code=diagnostic.code,
        code_description=types.CodeDescription(href=url) if url else None,
        source=SOURCE,
        tags=[types.DiagnosticTag.Unnecessary] if diagnostic.code == "EXP900" else None,
        related_information=related(diagnostic, project_root),
        data={"name": diagnostic.name, "fix": diagnostic.fix.applicability.value if diagnostic.fix else None},
    )


def rule_markdown(code: str) -> str | None:
    """A rule's documentation for a hover: what it finds, why, the torch versions, the fix safety."""
    from export_lint.rules import by_code

    rule = by_code().get(code)
    if rule is None:
        return None
    fix = rule.fix_applicability.value if rule.fix_applicability else "none"
    header = f"**{rule.code}** `{rule.name}`: torch versions affected: {rule.torch_versions or 'all'}; fix: {fix}"
    return f"{header}\n\n{rule.documentation()}\n\n[{rule.code} documentation]({DOCS_URL.format(code=rule.code)})"
