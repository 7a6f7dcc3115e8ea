"""The ``export-lint`` command line: subcommands map onto library calls."""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from export_lint import __version__

EXIT_CLEAN, EXIT_DIAGNOSTICS, EXIT_ERROR = 0, 1, 2

OUTPUT_FORMATS = ("full", "concise", "json", "json-lines", "sarif", "github", "junit")

#: A progress indicator is shown on a terminal's stderr from this many files on.
PROGRESS_MIN_FILES = 100
#: Allocations between two young-generation collections in check/fix (Python: 700); see ``_tune_gc``.
GC_THRESHOLD = 50_000


def _codes(value: str) -> list[str]:
    return [
        part.strip().upper() if part.strip().upper() == "ALL" else part.strip()
        for part in value.split(",")
        if part.strip()
    ]


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", default=[], help="files or folders (default: .); - reads stdin")
    group = parser.add_argument_group("rule selection")
    group.add_argument("--select", type=_codes, help="codes, prefixes or ALL to enable (replaces config)")
    group.add_argument("--extend-select", type=_codes, help="codes or prefixes to enable on top of select")
    group.add_argument("--ignore", type=_codes, help="codes or prefixes to disable")
    group.add_argument("--torch-version", help="the torch version the code targets (default: installed torch)")
    group.add_argument("--config", type=Path, help="pyproject.toml to read instead of the nearest one")
    group.add_argument(
        "--traced",
        choices=("roots", "all-modules"),
        help="traced code: what export roots reach (default) or every module's forward",
    )
    group.add_argument(
        "--export-roots", type=_codes, help="module/class globs traced as export roots (comma-separated)"
    )
    files = parser.add_argument_group("files")
    files.add_argument("--force-exclude", action="store_true", help="apply exclude globs to explicit paths too")
    files.add_argument("--stdin-filename", help="the name of the file read from stdin")
    files.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    files.add_argument("-j", "--jobs", type=int, help="worker processes (default: one per core)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="export-lint",
        description="Find and fix what breaks torch.export, statically.",
    )
    parser.add_argument("--version", action="version", version=f"export-lint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", help="report hazards")
    _add_selection(check)
    output = check.add_argument_group("output")
    output.add_argument("--output-format", choices=OUTPUT_FORMATS, default="full")
    output.add_argument("-o", "--output-file", type=Path, help="write the report to a file")
    output.add_argument("--statistics", action="store_true", help="print counts per rule instead of diagnostics")
    output.add_argument("--exit-zero", action="store_true", help="exit 0 even when diagnostics are reported")
    output.add_argument(
        "--add-noqa", action="store_true", help="add `# noqa: CODE` to every reported line (merging existing ones)"
    )

    fix = commands.add_parser("fix", help="show the fixes as a diff, or apply them with --apply")
    _add_selection(fix)
    fix.add_argument("--apply", action="store_true", help="write the fixes to the files")
    fix.add_argument("--unsafe-fixes", action="store_true", help="also apply fixes marked unsafe")
    fix.add_argument("--exit-non-zero-on-fix", action="store_true", help="exit 1 when files were changed")

    rule = commands.add_parser("rule", help="explain a rule, or list them all")
    rule.add_argument("code", nargs="?", help="a rule code such as EXP001")
    rule.add_argument("--all", action="store_true", help="list every rule")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")

    clean = commands.add_parser("clean", help="delete the results cache (.export_lint_cache)")
    clean.add_argument("paths", nargs="*", default=[], help="project folders (default: . and the configured root)")

    from export_lint.verify.cli import add_parser as add_verify_parser  # light: torch is imported only when run

    add_verify_parser(commands)
    return parser


def _settings(args: argparse.Namespace):
    from export_lint.config import load_settings

    overrides = {
        "select": tuple(args.select) if args.select is not None else None,
        "extend_select": tuple(args.extend_select) if args.extend_select is not None else None,
        "ignore": tuple(args.ignore) if args.ignore is not None else None,
        "torch_version": args.torch_version,
        "traced": getattr(args, "traced", None),
        "export_roots": tuple(args.export_roots) if getattr(args, "export_roots", None) else None,
    }
    first = args.stdin_filename if args.paths in ([], ["-"]) and args.stdin_filename else (args.paths or ["."])[0]
    return load_settings(Path(first), config_file=args.config, overrides=overrides)


def _validate(settings) -> None:
    """Reject unknown rule codes in select/ignore before any work is done."""
    from export_lint.config import validate_selectors
    from export_lint.rules import CODES  # the table, not the rules: nothing heavy is imported

    codes = sorted(CODES)
    settings.enabled_codes(codes)
    for _, selectors in settings.per_file_ignores:
        validate_selectors(selectors, codes)


def _collect(args: argparse.Namespace, settings) -> tuple[list[str], list, bool]:
    """(files to lint, EXP000 results for paths that failed, whether stdin is the input)."""
    from export_lint.diagnostics import FileResult, file_error
    from export_lint.discovery import discover

    if args.paths == ["-"]:
        return [], [], True
    found = discover(args.paths or ["."], settings, force_exclude=args.force_exclude)
    for path, message in found.warnings:
        print(f"warning: {path}: {message}", file=sys.stderr)
    errors = [FileResult(path, [file_error(path, "io-error", message)]) for path, message in found.errors]
    return found.files, errors, False


def _with_reach(settings, paths: list[str]):
    """Settings carrying what the project's export roots reach (``traced = "roots"`` only)."""
    if settings.traced != "roots":
        return settings
    import dataclasses

    from export_lint.analysis.index import ProjectIndex
    from export_lint.analysis.roots import compute_reach

    if settings.config_file is not None:
        root = settings.project_root
    else:  # no pyproject.toml: the folders named (a file's folder for a file)
        folders = [path if os.path.isdir(path) else os.path.dirname(path) or "." for path in (paths or ["."])]
        root = os.path.commonpath([os.path.abspath(folder) for folder in folders])
    reach = compute_reach(ProjectIndex(root), settings.export_roots)
    if not reach.roots:
        print(
            f"note: no export root in {root}: rules about traced code stay silent; name the exported models "
            "in `export-roots` under [tool.export-lint] (or --export-roots), or pass --traced all-modules",
            file=sys.stderr,
        )
    return dataclasses.replace(settings, reach=reach)


def _use_color(output_file: Path | None) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return output_file is None and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


class _Progress:
    """``[n/total]`` on stderr, only when stderr is a terminal and the tree is large."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.enabled = total >= PROGRESS_MIN_FILES and sys.stderr.isatty()

    def __call__(self, done: int) -> None:
        sys.stderr.write(f"\rexport-lint: checked {done}/{self.total} files")
        sys.stderr.flush()

    def callback(self):
        return self if self.enabled else None

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


def _write(text: str, output_file: Path | None) -> None:
    if output_file is None:
        sys.stdout.write(text)
    else:
        output_file.write_text(text, encoding="utf-8")


def _summary(diagnostics: list, unsafe_hint: bool = True) -> str:
    from export_lint.diagnostics import Applicability

    if not diagnostics:
        return "All checks passed!\n"
    count = len(diagnostics)
    lines = [f"Found {count} error{'s' if count != 1 else ''}."]
    safe = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability is Applicability.UNSAFE)
    if safe:
        lines.append(f"[*] {safe} fixable with `export-lint fix --apply`.")
    if unsafe and unsafe_hint:
        lines.append(f"{unsafe} more fix{'es' if unsafe != 1 else ''} available with `--unsafe-fixes`.")
    return "".join(line + "\n" for line in lines)


def _statistics(diagnostics: list) -> str:
    counts = collections.Counter((d.code, d.name, d.fixable) for d in diagnostics)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    return "".join(
        f"{count:>5}\t{code}\t{'[*]' if fixable else '[ ]'} {name}\n" for (code, name, fixable), count in rows
    )


def run_check(args: argparse.Namespace) -> int:
    from export_lint.report import render
    from export_lint.runner import lint_files

    settings = _settings(args)
    _validate(settings)
    from_stdin = args.paths == ["-"]
    if not from_stdin:
        settings = _with_reach(settings, args.paths)
    warm: list = []
    if not (from_stdin or args.no_cache):
        from export_lint.runner import start_cached_workers

        warm = start_cached_workers(settings, args.jobs)  # imports LibCST while the files are found
    try:
        files, results, from_stdin = _collect(args, settings)
    except BaseException:
        for slot in warm:
            slot.stop(kill=True)
        raise
    if from_stdin:
        name = args.stdin_filename or "-"
        if args.force_exclude and args.stdin_filename and settings.is_excluded(name):
            return EXIT_CLEAN
        from export_lint.engine import lint_source

        results.append(lint_source(sys.stdin.buffer.read(), name, settings))
    else:
        progress = _Progress(len(files))
        try:
            results += lint_files(
                files, settings, args.jobs, progress.callback(), cache=not args.no_cache, started=warm
            )
        finally:
            progress.close()
    results.sort(key=lambda result: result.path)
    diagnostics = [d for result in results for d in result.diagnostics]
    if args.add_noqa:
        return _add_noqa(results, from_stdin)
    color = _use_color(args.output_file)
    report = _statistics(diagnostics) if args.statistics else render(args.output_format, results, color=color)
    if args.output_format in ("full", "concise"):
        report += _summary(diagnostics)
    _write(report, args.output_file)
    if any(d.internal_error for d in diagnostics):
        return EXIT_ERROR
    if diagnostics and not args.exit_zero:
        return EXIT_DIAGNOSTICS
    return EXIT_CLEAN


def _add_noqa(results: list, from_stdin: bool) -> int:
    """``check --add-noqa``: silence every reported diagnostic in place; exit 0 unless a file failed."""
    from export_lint.fixer import content_hash, write_atomic
    from export_lint.source import decode_source
    from export_lint.suppression import add_noqa

    if from_stdin:
        print("error: --add-noqa edits files; it cannot read stdin", file=sys.stderr)
        return EXIT_ERROR
    added, failed = 0, False
    for result in results:
        rows: dict[int, list[str]] = collections.defaultdict(list)
        for d in result.diagnostics:
            if d.code == "EXP900":
                continue  # a stale noqa is fixed by removing it, never silenced by another one
            if d.code == "EXP000" or d.noqa_row is None:
                failed = True
                print(f"error: {d.path}:{d.start.row}:{d.start.column}: {d.message}", file=sys.stderr)
                continue
            rows[d.noqa_row].append(d.code)
        if not rows:
            continue
        with open(result.path, "rb") as handle:
            data = handle.read()
        text, encoding = decode_source(data)
        new_text, count = add_noqa(text, rows)
        if count:
            write_atomic(result.path, new_text, encoding, expected_hash=content_hash(data))
            added += count
    print(f"Added {added} noqa directive{'s' if added != 1 else ''}.")
    return EXIT_ERROR if failed else EXIT_CLEAN


def run_fix(args: argparse.Namespace) -> int:
    from export_lint.fixer import fix_file, fix_text, unified_diff
    from export_lint.report import render
    from export_lint.runner import run_parallel

    settings = _settings(args)
    _validate(settings)
    if args.paths != ["-"]:
        settings = _with_reach(settings, args.paths)
    files, errors, from_stdin = _collect(args, settings)
    if from_stdin:
        from export_lint.source import decode_source

        text, _ = decode_source(sys.stdin.buffer.read())
        name = args.stdin_filename or "-"
        result = fix_text(text, name, settings, unsafe=args.unsafe_fixes)
        sys.stdout.write(result.text if args.apply else unified_diff(text, result.text, name))
        remaining = result.remaining
        changed = result.changed
    else:
        task = functools.partial(fix_file, settings=settings, unsafe=args.unsafe_fixes, write=args.apply)
        outcomes = run_parallel(task, files, args.jobs)
        remaining = [d for error in errors for d in error.diagnostics]
        changed = False
        fixed = 0
        for outcome in outcomes:
            remaining += outcome.remaining
            if outcome.error:
                print(f"error: {outcome.path}: {outcome.error}", file=sys.stderr)
            if not args.apply:
                sys.stdout.write(outcome.diff)
            changed = changed or bool(outcome.diff)
            fixed += outcome.applied if (outcome.written or not args.apply) else 0
        stream = sys.stderr if not args.apply else sys.stdout
        if remaining:
            from export_lint.diagnostics import FileResult

            print(render("concise", [FileResult(d.path, [d]) for d in remaining]), end="", file=stream)
        verb = "Fixed" if args.apply else "Would fix"
        print(f"{verb} {fixed} error{'s' if fixed != 1 else ''}, {len(remaining)} remaining.", file=stream)
        hint = _summary(remaining).splitlines()[-1] if remaining and not args.unsafe_fixes else ""
        if hint.endswith("`--unsafe-fixes`."):
            print(hint, file=stream)
    if any(d.internal_error for d in remaining):
        return EXIT_ERROR
    if remaining or (changed and (not args.apply or args.exit_non_zero_on_fix)):
        return EXIT_DIAGNOSTICS
    return EXIT_CLEAN


def run_rule(args: argparse.Namespace) -> int:
    from export_lint.rules import all_rules, by_code

    if args.all:
        rules = all_rules()
        if args.output_format == "json":
            data = [
                {
                    "code": rule.code,
                    "name": rule.name,
                    "summary": rule.summary(),
                    "fix": rule.fix_applicability.value if rule.fix_applicability else None,
                    "torch_versions": rule.torch_versions or "all",
                    "preview": rule.preview,
                    "url": f"https://export-lint.readthedocs.io/en/latest/rules/{rule.code}/",
                }
                for rule in rules
            ]
            print(json.dumps(data, indent=2))
        else:
            rows = [
                (
                    rule.code,
                    rule.name,
                    rule.fix_applicability.value if rule.fix_applicability else "-",
                    rule.torch_versions or "all",
                    rule.summary(),
                )
                for rule in rules
            ]
            header = ("code", "name", "fix", "torch", "summary")
            widths = [max(len(row[i]) for row in [header, *rows]) + 2 for i in range(4)]
            for row in [header, *rows]:
                print("".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + row[4])
        return EXIT_CLEAN
    if not args.code:
        print("error: give a rule code (e.g. `export-lint rule EXP001`) or --all", file=sys.stderr)
        return EXIT_ERROR
    rule = by_code().get(args.code.upper())
    if rule is None:
        print(f"error: unknown rule code `{args.code}`", file=sys.stderr)
        return EXIT_ERROR
    if args.output_format == "json":
        print(json.dumps({"code": rule.code, "name": rule.name, "documentation": rule.documentation()}, indent=2))
    else:
        fix = rule.fix_applicability.value if rule.fix_applicability else "none"
        print(f"# {rule.name} ({rule.code})\n")
        print(f"Torch versions affected: {rule.torch_versions or 'all'}. Fix: {fix}.\n")
        print(rule.documentation())
    return EXIT_CLEAN


def run_verify(args: argparse.Namespace) -> int:
    from export_lint.verify.cli import run

    return run(args)


def run_clean(args: argparse.Namespace) -> int:
    from export_lint.cache import clean
    from export_lint.config import load_settings

    folders = [Path(path) for path in args.paths] or [Path("."), Path(load_settings(Path(".")).project_root)]
    for removed in clean(dict.fromkeys(folder.absolute() for folder in folders)):
        print(f"Removed {removed}", file=sys.stderr)
    return EXIT_CLEAN


def _tune_gc() -> None:
    """Collect cycles 70x less often than Python's default. A parsed file is ~10^5 LibCST nodes
    without cycles (freed by reference counting), but their allocations trigger the cyclic
    collector over and over, each full pass walking every live node: ~20% of a cold run on
    transformers (``benchmarks/bench_lint.py``). What has cycles (exceptions, classes made per
    call) is still collected, later. A CLI decision: the Python API leaves the host's GC alone."""
    import gc

    gc.set_threshold(GC_THRESHOLD, 20, 100)


COMMANDS = {"check": run_check, "fix": run_fix, "rule": run_rule, "verify": run_verify, "clean": run_clean}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # --version exits here, before anything heavy is imported
    from export_lint.config import ConfigError

    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    if args.command in ("check", "fix"):
        _tune_gc()
    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:  # never a bare traceback for users
        print(
            f"error: export-lint crashed: {type(error).__name__}: {error}\n"
            "This is a bug in export-lint: please report it with the command you ran.",
            file=sys.stderr,
        )
        return EXIT_ERROR
