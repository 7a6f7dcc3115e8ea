"""``check --fix`` / ``--fix-only`` / ``--diff``, as ruff spells them: fix the files the check
found fixable (the others are never re-read), then check the changed files again."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import sys

from export_lint.config import Settings, SettingsResolver
from export_lint.diagnostics import FileResult
from export_lint.display import display_path
from export_lint.file_write import write_source
from export_lint.fixer import applicable, fix_file, fix_text, unified_diff
from export_lint.runner import lint_files, run_parallel

EXIT_CLEAN, EXIT_DIAGNOSTICS, EXIT_ERROR = 0, 1, 2


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


@dataclasses.dataclass
class FixRun:
    """The results after fixing, and what was fixed."""

    results: list[FileResult]
    applied: int = 0
    #: path -> (code, name) -> fixes applied in that file.
    fixed: dict[str, collections.Counter] = dataclasses.field(default_factory=dict)
    #: A file could not be read or written.
    failed: bool = False
    #: Set when the run is over (``--diff``): the exit code.
    exit_code: int | None = None

    def enumeration(self) -> str:
        """``--show-fixes``: the fixes applied, per file and rule (ruff's layout)."""
        if not self.applied:
            return "No errors fixed.\n"
        lines = [f"Fixed {_plural(self.applied, 'error')}:"]
        for path in sorted(self.fixed):
            lines.append(f"- {path}:")
            for (code, name), count in sorted(self.fixed[path].items()):
                lines.append(f"    {count} \N{MULTIPLICATION SIGN} {code} ({name})")
        return "".join(line + "\n" for line in lines)


def fix_results(args: argparse.Namespace, resolver: SettingsResolver, results: list[FileResult]) -> FixRun:
    """Fix (or with ``--diff`` only show) every file among ``results`` with an applicable fix,
    each with its own settings."""
    unsafe = args.unsafe_fixes
    fixable = [result.path for result in results if any(applicable(d.fix, unsafe) for d in result.diagnostics)]
    outcomes = []
    groups = resolver.group(fixable)
    for settings, group in groups:
        task = functools.partial(fix_file, settings=settings, unsafe=unsafe, write=not args.diff)
        outcomes += run_parallel(task, group, args.jobs)
    run = FixRun(results)
    for outcome in outcomes:
        if outcome.error:
            print(f"error: {display_path(outcome.path)}: {outcome.error}", file=sys.stderr)
            run.failed = True
    if args.diff:
        for outcome in outcomes:
            if not args.silent:
                sys.stdout.write(outcome.diff)
        run.applied = sum(outcome.applied for outcome in outcomes)
        if not (args.quiet or args.silent):
            print(f"Would fix {_plural(run.applied, 'error')}.", file=sys.stderr)
        run.exit_code = EXIT_ERROR if run.failed else (EXIT_DIAGNOSTICS if run.applied else EXIT_CLEAN)
        return run
    written = {outcome.path for outcome in outcomes if outcome.written}
    rechecked = {}
    for settings, group in groups:
        again = lint_files(
            [path for path in group if path in written],
            settings,
            args.jobs,
            cache=not args.no_cache,
            timeout=settings.file_timeout or None,
        )
        rechecked.update((result.path, result) for result in again)
    before = {result.path: result for result in results}
    for outcome in outcomes:
        if not outcome.written:  # a fix refused (it would not parse): say so beside the diagnostics
            errors = [d for d in outcome.remaining if d.internal_error]
            if errors:
                old = before[outcome.path]
                rechecked[outcome.path] = dataclasses.replace(old, diagnostics=[*old.diagnostics, *errors])
            continue
        run.applied += outcome.applied
        was = collections.Counter(
            (d.code, d.name) for d in before[outcome.path].diagnostics if applicable(d.fix, unsafe)
        )
        now = collections.Counter((d.code, d.name) for d in rechecked[outcome.path].diagnostics)
        run.fixed[outcome.path] = was - now
    run.results = sorted((rechecked.get(result.path, result) for result in results), key=lambda result: result.path)
    return run


def fix_stdin(args: argparse.Namespace, settings: Settings, name: str) -> int:
    """``check --fix -``: the fixed source on stdout (``--diff``: the diff), what remains on stderr."""
    from export_lint.report import render
    from export_lint.source import decode_source

    text, encoding = decode_source(sys.stdin.buffer.read())
    if name.endswith(".ipynb"):  # a notebook's JSON: its cells are fixed
        from export_lint.notebook import fix_notebook

        notebook = fix_notebook(text, name, settings, args.unsafe_fixes)
        fixed, diff, remaining = notebook.text, notebook.diff, notebook.remaining
    else:
        result = fix_text(text, name, settings, unsafe=args.unsafe_fixes)
        fixed, remaining = result.text, result.remaining
        diff = unified_diff(text, fixed, name) if result.changed else ""
    if args.diff:
        sys.stdout.write(diff)
        return EXIT_DIAGNOSTICS if diff else EXIT_CLEAN
    write_source(sys.stdout, fixed, encoding)
    if remaining and not (args.fix_only or args.silent):
        sys.stderr.write(render("concise", [FileResult(name, remaining)]))
    if any(d.internal_error for d in remaining):
        return EXIT_ERROR
    if diff and args.exit_non_zero_on_fix:
        return EXIT_DIAGNOSTICS
    return EXIT_DIAGNOSTICS if remaining and not (args.exit_zero or args.fix_only) else EXIT_CLEAN
