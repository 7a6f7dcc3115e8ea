"""## What it does
Finds `# noqa: EXPnnn` comments whose export-lint codes suppress nothing on their line: the hazard
was fixed, the code moved, or the code is not an export-lint rule at all. Codes of other tools in
the same comment (`# noqa: E501, EXP001`) are left alone, and so is a bare `# noqa`.

## Why is this bad?
A stale `noqa` hides the next real hazard on that line: if the line changes and a torch.export
failure comes back (for example `ValueError: Expected `mod` to be an instance of
`torch.nn.Module`` on every torch release with torch.export, measured on 2.14.1), nobody is told.
This rule is about export-lint's own comments, so it applies to every torch version. It is the
export-lint twin of ruff's `RUF100`, which leaves `EXP` codes alone.

## Example
```python
ep = torch.export.export(model, (x,))  # noqa: EXP001
```

## Use instead
```python
ep = torch.export.export(model, (x,))
```

## Fix safety
Safe: the fix only edits the comment. It removes the unused export-lint codes and keeps every
other code; when no code is left it removes the `noqa` directive. As with ruff's RUF100, codes of
rules that are not enabled (by `select`/`ignore`) are reported as `non-enabled`. Codes of rules
that are enabled but not active for this file (ignored by `per-file-ignores`, or outside the
target torch versions) are never reported, because another configuration needs them; nothing is
reported for a file on which a rule crashed.

## References
- ruff's `unused-noqa` (RUF100): https://docs.astral.sh/ruff/rules/unused-noqa/
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from export_lint.config import Settings
from export_lint.diagnostics import Applicability, Diagnostic, Edit, Fix
from export_lint.rule import Invalid, Rule, Valid
from export_lint.suppression import NoqaDirective, Suppressions

_OUR_CODE = re.compile(r"^EXP[0-9]+$")

# The examples are about comments, not about torch.export: there is nothing to run (proves=False).
_UNUSED = """\
import torch

ep = torch.export.export(model, (x,))  # noqa: EXP001
"""


class UnusedNoqa(Rule):
    code = "EXP900"
    name = "unused-noqa"
    message = "Unused `noqa` directive ({reason})"
    torch_versions = ""
    fix_applicability = Applicability.SAFE

    VALID = [
        Valid("import torch\n\nwidth = torch.ones(3)  # noqa: E501\n", proves=False),
        Valid("import torch\n\nwidth = torch.ones(3)  # noqa\n", proves=False),
        Valid("import torch\n\nwidth = torch.ones(3)  # noqa: EXP900\n", proves=False),
    ]
    INVALID = [
        Invalid(_UNUSED, after=_UNUSED.replace("  # noqa: EXP001", ""), proves=False),
        Invalid(
            "import torch\n\nwidth = torch.ones(3)  # noqa: E501, EXP001 keep the line long\n",
            after="import torch\n\nwidth = torch.ones(3)  # noqa: E501 keep the line long\n",
            proves=False,
        ),
        Invalid(
            "import torch\n\nwidth = torch.ones(3)  # type: ignore  # noqa:EXP001,EXP002\n",
            after="import torch\n\nwidth = torch.ones(3)  # type: ignore\n",
            proves=False,
        ),
        Invalid(
            "import torch\n\nwidth = torch.ones(3)  # noqa: EXP001  # a note\n",
            after="import torch\n\nwidth = torch.ones(3)  # a note\n",
            proves=False,
        ),
    ]

    @staticmethod
    def judges_noqa_in(text: str) -> bool:
        """Whether this rule can report anything in a file with this text: a directive is stale
        only for a code of ours it names (``EXPnnn``, in any case), so the text must say one."""
        lowered = text.lower()
        position = lowered.find("exp")
        while position != -1:
            if lowered[position + 3 : position + 4].isdigit():
                return True
            position = lowered.find("exp", position + 3)
        return False

    def check_noqa(
        self,
        suppressions: Suppressions,
        used: Collection[tuple[int, str]],
        settings: Settings,
        active: Sequence[type[Rule]],
    ) -> list[Diagnostic]:
        """Called by the engine after noqa is applied: ``used`` holds the (row, code) pairs it silenced."""
        from export_lint.rules import CODES

        if suppressions.file_exempt:
            return []
        known = set(CODES)
        enabled = settings.enabled_codes(known, [code for code in known if _is_preview(code)])
        active_codes = {rule.code for rule in active}
        found = []
        for row, directive in sorted(suppressions.by_row.items()):
            unknown = [c for c in directive.code_list if _OUR_CODE.match(c) and c not in known and c != "EXP000"]
            unused = [c for c in directive.code_list if c in active_codes and (row, c) not in used and c != self.code]
            disabled = [c for c in directive.code_list if c in known and c not in enabled and c != self.code]
            stale = [c for c in directive.code_list if c in {*unknown, *unused, *disabled}]
            if not stale:
                continue
            reasons = [
                f"{label}: {', '.join(f'`{c}`' for c in codes)}"
                for label, codes in (("unused", unused), ("non-enabled", disabled), ("unknown", unknown))
                if codes
            ]
            found.append(self._diagnostic(directive, stale, "; ".join(reasons)))
        return found

    def _diagnostic(self, directive: NoqaDirective, stale: list[str], reason: str) -> Diagnostic:
        lines = self.context.lines
        start = lines.location(directive.start)
        fix = Fix(
            f"Remove unused `noqa` code{'s' if len(stale) != 1 else ''}",
            (_removal(self.context.text, directive, stale),),
        )
        located = Fix(
            fix.message,
            tuple(Edit(e.start, e.end, e.content, lines.location(e.start), lines.location(e.end)) for e in fix.edits),
            Applicability.SAFE,
        )
        return Diagnostic(
            self.code,
            self.name,
            self.message.format(reason=reason),
            self.context.path,
            start,
            lines.location(directive.end),
            fix=located,
            noqa_row=directive.row,
        )


def _is_preview(code: str) -> bool:
    from export_lint.rules import load

    return load(code).preview


def _removal(text: str, directive: NoqaDirective, stale: list[str]) -> Edit:
    """The edit that drops ``stale`` codes, or the whole directive when no code is left."""
    kept = [code for code in directive.code_list if code not in stale]
    if kept:
        written = text[directive.codes_start : directive.codes_end]
        separator = ", " if "," in written else " "
        return Edit(directive.codes_start, directive.codes_end, separator.join(kept))
    start, end = directive.start, directive.end
    after = text[end : directive.comment_end]
    if start == directive.comment_start and after.strip():
        # A directive followed by more comment text: keep the text as a plain comment.
        rest = after.strip()
        return Edit(start, directive.comment_end, rest if rest.startswith("#") else "# " + rest)
    # Drop the directive and the blanks before it (the whole comment when it was only the directive).
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    return Edit(start, directive.comment_end if not after.strip() else end, "")
