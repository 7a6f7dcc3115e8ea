"""The ``export-lint`` command line: subcommands map onto library calls."""

from __future__ import annotations

import argparse
import collections
import difflib
import functools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from export_lint import __version__
from export_lint.display import display_path

EXIT_CLEAN, EXIT_DIAGNOSTICS, EXIT_ERROR = 0, 1, 2

OUTPUT_FORMATS = ("full", "concise", "json", "json-lines", "sarif", "github", "junit")

#: A progress indicator is shown on a terminal's stderr from this many files on.
PROGRESS_MIN_FILES = 100
#: Allocations between two young-generation collections in check/fix (Python: 700); see ``_tune_gc``.
GC_THRESHOLD = 50_000


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviated long options (``--sel`` is not ``--select``), as ruff."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [option for action in parser._actions for option in action.option_strings]


def _unknown_arguments_message(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """``unrecognized arguments: --sel (did you mean `--select`?)``."""
    known = _option_strings(parser)
    parts = []
    for extra in extras:
        name = extra.split("=", 1)[0]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) if name.startswith("-") else []
        prefixed = [option for option in known if option.startswith("--") and option.startswith(name)]
        guess = close or prefixed[:1]
        parts.append(f"{extra} (did you mean `{guess[0]}`?)" if guess else extra)
    return "unrecognized arguments: " + " ".join(parts)


def _codes(value: str) -> list[str]:
    if not value.strip(" ,"):
        raise argparse.ArgumentTypeError("empty rule selector: name codes (EXP001), prefixes (EXP1) or ALL")
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
    files.add_argument("--stdin-filename", help="the name of the file read from stdin (stdin is read without -)")
    files.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    files.add_argument("-j", "--jobs", type=int, help="worker processes (default: one per core)")
    files.add_argument(
        "--file-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="analysis budget per file: one over it gets an EXP000 timeout and the run goes on "
        "(0: none; default: file-timeout in the config, else 30)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="export-lint",
        description="Find and fix what breaks torch.export, statically.",
    )
    parser.add_argument("--version", action="version", version=f"export-lint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser("check", help="report hazards")
    _add_selection(check)
    output = check.add_argument_group("output")
    output.add_argument("--output-format", choices=OUTPUT_FORMATS, default="full")
    output.add_argument("-o", "--output-file", type=Path, help="write the report to a file")
    output.add_argument("--statistics", action="store_true", help="print counts per rule instead of diagnostics")
    output.add_argument("-e", "--exit-zero", action="store_true", help="exit 0 even when diagnostics are reported")
    output.add_argument(
        "--add-noqa", action="store_true", help="add `# noqa: CODE` to every reported line (merging existing ones)"
    )
    output.add_argument("-q", "--quiet", action="store_true", help="print the diagnostics, nothing else")
    output.add_argument("-s", "--silent", action="store_true", help="print nothing (the exit code tells)")
    output.add_argument("--show-settings", action="store_true", help="print the settings that apply, then exit")
    output.add_argument("--show-files", action="store_true", help="print the files that would be checked, then exit")
    fixing = check.add_argument_group("fixes (as ruff's)")
    fixing.add_argument("--fix", action="store_true", help="apply the safe fixes, then report what remains")
    fixing.add_argument("--unsafe-fixes", action="store_true", help="count and apply fixes marked unsafe too")
    fixing.add_argument("--diff", action="store_true", help="print the fixes as a diff; change nothing")
    fixing.add_argument("--fix-only", action="store_true", help="apply the fixes, report nothing that remains")
    fixing.add_argument("--show-fixes", action="store_true", help="list the fixes applied, per file and rule")
    fixing.add_argument("--exit-non-zero-on-fix", action="store_true", help="exit 1 when files were changed")

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

    commands.add_parser("server", help="run the language server (LSP over stdio) for editors; needs the `server` extra")

    from export_lint.verify.cli import add_parser as add_verify_parser  # light: torch is imported only when run

    add_verify_parser(commands)
    return parser


def _resolver(args: argparse.Namespace):
    """Each file's settings: its nearest config (or ``--config``), under the CLI's overrides."""
    from export_lint.config import SettingsResolver

    if getattr(args, "resolver", None) is None:
        overrides = {
            "select": tuple(args.select) if args.select is not None else None,
            "extend_select": tuple(args.extend_select) if args.extend_select is not None else None,
            "ignore": tuple(args.ignore) if args.ignore is not None else None,
            "torch_version": args.torch_version,
            "traced": getattr(args, "traced", None),
            "export_roots": tuple(args.export_roots) if getattr(args, "export_roots", None) else None,
            "file_timeout": getattr(args, "file_timeout", None),
        }
        # Each config's settings carry what its project's export roots reach (not for stdin, nor
        # for --show-settings / --show-files, which lint nothing).
        lints = not (_reads_stdin(args) or getattr(args, "show_settings", False) or getattr(args, "show_files", False))
        finish = (
            functools.partial(_with_reach, paths=args.paths, cached=not getattr(args, "no_cache", False))
            if lints
            else None
        )
        args.resolver = SettingsResolver(config_file=args.config, overrides=overrides, finish=finish)
    return args.resolver


def _settings(args: argparse.Namespace):
    """The settings of the first path (or of ``--stdin-filename``)."""
    first = args.stdin_filename if _reads_stdin(args) and args.stdin_filename else (args.paths or ["."])[0]
    return _resolver(args).for_path(first)


def _groups(args: argparse.Namespace, files: list[str]) -> list:
    """``files`` grouped by their settings, each group's selection validated."""
    groups = _resolver(args).group(files)
    for settings, _ in groups:
        _validate(settings)
    return groups


def _lint_groups(args: argparse.Namespace, files: list[str], settings, warm: list, progress) -> list:
    """Lint every group of files with its own settings (one group, and so one pool, in the
    common case of one config); ``warm`` workers serve the group with ``settings``."""
    from export_lint.runner import lint_files

    results: list = []
    groups = _groups(args, files)
    if not any(group_settings == settings for group_settings, _ in groups):
        for slot in warm:
            slot.stop(kill=True)
    callback = progress.callback()
    for group_settings, group in groups:
        offset = len(results)
        report = (lambda done, offset=offset: callback(offset + done)) if callback is not None else None
        started = warm if group_settings == settings else []
        results += lint_files(
            group,
            group_settings,
            args.jobs,
            report,
            cache=not args.no_cache,
            started=started if started else None,
            timeout=group_settings.file_timeout or None,
        )
    return results


def _validate(settings) -> None:
    """Reject unknown rule codes in select/ignore before any work is done."""
    from export_lint.config import validate_selectors
    from export_lint.rules import CODES  # the table, not the rules: nothing heavy is imported

    codes = sorted(CODES)
    settings.enabled_codes(codes)
    for _, selectors in settings.per_file_ignores:
        validate_selectors(selectors, codes)


def _reads_stdin(args: argparse.Namespace) -> bool:
    """``-``, or ``--stdin-filename`` without paths (as ruff: the name says what stdin is)."""
    return args.paths == ["-"] or (not args.paths and bool(args.stdin_filename))


def _collect(args: argparse.Namespace, settings) -> tuple[list[str], list, bool]:
    """(files to lint, EXP000 results for paths that failed, whether stdin is the input)."""
    from export_lint.diagnostics import FileResult, file_error
    from export_lint.discovery import discover

    if _reads_stdin(args):
        return [], [], True
    found = discover(
        args.paths or ["."], settings, force_exclude=args.force_exclude, settings_for=_resolver(args).for_path
    )
    for path, message in found.warnings:
        if not getattr(args, "silent", False):
            print(f"warning: {display_path(path)}: {message}", file=sys.stderr)
    errors = [FileResult(path, [file_error(path, "io-error", message)]) for path, message in found.errors]
    return found.files, errors, False


def _with_reach(settings, paths: list[str], cached: bool = True):
    """Settings carrying what the project's export roots reach (``traced = "roots"`` only),
    through the project index's cache unless ``--no-cache``."""
    if settings.traced != "roots":
        return settings
    import dataclasses

    from export_lint.analysis.reach_cache import cached_reach
    from export_lint.cache import cache_dir

    if settings.config_file is not None:
        root = settings.project_root
    else:  # the folder of the nearest pyproject.toml above the paths named, else those paths' folder
        folders = [path if os.path.isdir(path) else os.path.dirname(path) or "." for path in (paths or ["."])]
        root = os.path.commonpath([os.path.abspath(folder) for folder in folders])
        current = root
        while not os.path.isfile(os.path.join(current, "pyproject.toml")):
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        else:
            root = current
    reach = cached_reach(root, settings.export_roots, cache_dir(settings) if cached else None)
    if reach.external:
        shown = ", ".join(reach.external[:5]) + (
            f" and {len(reach.external) - 5} more" if len(reach.external) > 5 else ""
        )
        print(
            f"note: {len(reach.external)} export root(s) built by installed packages, whose code is not "
            f"analysed: {shown}",
            file=sys.stderr,
        )
    if not reach.roots and reach.has_forwards:
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
    """To stdout, or to ``output_file``, creating its folder as ruff does."""
    if output_file is None:
        sys.stdout.write(text)
        return
    from export_lint.config import ConfigError

    try:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8", "backslashreplace")  # before the file is opened: never a truncated report
        output_file.write_bytes(data)
    except OSError as error:
        raise ConfigError(f"cannot write the report to {output_file}: {error.strerror or error}") from error


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _summary(diagnostics: list, unsafe_hint: bool = True, *, unsafe: bool = False, checked: int | None = None) -> str:
    """The closing lines of a report; ``unsafe`` (``--unsafe-fixes``) counts unsafe fixes as fixable."""
    from export_lint.diagnostics import Applicability

    if not diagnostics:
        return "All checks passed!" + (f" ({_plural(checked, 'file')} analysed)" if checked is not None else "") + "\n"
    count = len(diagnostics)
    lines = [f"Found {_plural(count, 'error')}."]
    safe = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability is Applicability.SAFE)
    unsafe_count = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability is Applicability.UNSAFE)
    if unsafe:
        safe, unsafe_count = safe + unsafe_count, 0
    if safe:
        lines.append(f"[*] {safe} fixable with `export-lint fix --apply`.")
    if unsafe_count and unsafe_hint:
        lines.append(f"{unsafe_count} more fix{'es' if unsafe_count != 1 else ''} available with `--unsafe-fixes`.")
    return "".join(line + "\n" for line in lines)


def _statistics(diagnostics: list, output_format: str, unsafe: bool = False) -> str:
    """Counts per rule; ``[*]`` only where a fix would apply (unsafe ones with ``--unsafe-fixes``)."""
    from export_lint.fixer import applicable

    counts = collections.Counter((d.code, d.name, applicable(d.fix, unsafe)) for d in diagnostics)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    if output_format in ("json", "json-lines"):
        data = [
            {"code": code, "name": name, "count": count, "fixable": fixable} for (code, name, fixable), count in rows
        ]
        return json.dumps(data, indent=2) + "\n"
    return "".join(
        f"{count:>5}\t{code}\t{'[*]' if fixable else '[ ]'} {name}\n" for (code, name, fixable), count in rows
    )


def _show_settings(args: argparse.Namespace, settings) -> str:
    """``--show-settings``: every effective setting, and where the configuration came from."""
    import dataclasses

    first = args.stdin_filename if _reads_stdin(args) else (args.paths or ["."])[0]
    lines = [f"Resolved settings for: {first}", f"Settings path: {settings.config_file or '(none: defaults)'}"]
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        lines.append(
            f"{field.name.replace('_', '-')} = {json.dumps(list(value) if isinstance(value, tuple) else value)}"
        )
    return "".join(line + "\n" for line in lines)


def run_check(args: argparse.Namespace) -> int:
    from export_lint.report import render

    settings = _settings(args)
    _validate(settings)
    if args.show_settings:
        _write(_show_settings(args, settings), args.output_file)
        return EXIT_CLEAN
    from_stdin = _reads_stdin(args)
    fixing = args.fix or args.fix_only or args.diff
    warm: list = []
    if not (from_stdin or args.no_cache or args.show_files):
        from export_lint.runner import start_cached_workers

        warm = start_cached_workers(settings, args.jobs)  # imports LibCST while the files are found
    try:
        files, results, from_stdin = _collect(args, settings)
    except BaseException:
        for slot in warm:
            slot.stop(kill=True)
        raise
    if args.show_files:
        for slot in warm:
            slot.stop(kill=True)
        _write("".join(f"{display_path(os.path.abspath(path))}\n" for path in files), args.output_file)
        return EXIT_CLEAN
    if from_stdin:
        name = args.stdin_filename or "-"
        if args.force_exclude and args.stdin_filename and settings.is_excluded(name):
            return EXIT_CLEAN
        if fixing:
            from export_lint.autofix import fix_stdin

            return fix_stdin(args, settings, name)
        from export_lint.engine import lint_source

        results.append(lint_source(sys.stdin.buffer.read(), name, settings))
    else:
        progress = _Progress(len(files))
        try:
            results += _lint_groups(args, files, settings, warm, progress)
        finally:
            progress.close()
    results.sort(key=lambda result: result.path)
    if args.add_noqa:
        return _add_noqa(results, from_stdin)
    fixed = None
    if fixing and not from_stdin:
        from export_lint.autofix import fix_results

        fixed = fix_results(args, _resolver(args), results)
        if fixed.exit_code is not None:
            return fixed.exit_code
        results = fixed.results
    diagnostics = [d for result in results for d in result.diagnostics]
    color = _use_color(args.output_file)
    if args.statistics:
        report = _statistics(diagnostics, args.output_format, args.unsafe_fixes)
    else:
        report = render(args.output_format, results, color=color, unsafe_fixes=args.unsafe_fixes)
    if args.output_format in ("full", "concise") and not (args.quiet or args.statistics):
        if fixed is not None and fixed.applied:
            report += f"Found {_plural(fixed.applied + len(diagnostics), 'error')} ({fixed.applied} fixed, {len(diagnostics)} remaining).\n"
            report += _summary(diagnostics, unsafe=args.unsafe_fixes).partition("\n")[2] if diagnostics else ""
        else:
            report += _summary(diagnostics, unsafe=args.unsafe_fixes, checked=len(results))
    if fixed is not None and args.show_fixes and not args.silent:
        report += fixed.enumeration()
    if args.fix_only:
        report = (
            ""
            if args.quiet
            else fixed.enumeration()
            if args.show_fixes
            else f"Fixed {_plural(fixed.applied, 'error')}.\n"
        )
    if not args.silent or args.output_file is not None:
        _write(report, args.output_file)
    if any(d.internal_error for d in diagnostics) or (fixed is not None and fixed.failed):
        return EXIT_ERROR
    if fixed is not None and fixed.applied and args.exit_non_zero_on_fix:
        return EXIT_DIAGNOSTICS
    if diagnostics and not (args.exit_zero or args.fix_only):
        return EXIT_DIAGNOSTICS
    return EXIT_CLEAN


def _add_noqa(results: list, from_stdin: bool) -> int:
    """``check --add-noqa``: silence every reported diagnostic in place; exit 0 unless a file failed."""
    from export_lint.file_write import ConcurrentModification, content_hash, describe_write_error, write_atomic
    from export_lint.notebook import NotebookError
    from export_lint.source import decode_source, read_source_file
    from export_lint.suppression import add_noqa

    if from_stdin:
        print("error: --add-noqa edits files; it cannot read stdin", file=sys.stderr)
        return EXIT_ERROR
    added, failed = 0, False
    for result in results:
        # Rows by cell (None outside a notebook).
        rows: dict[int | None, dict[int, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))
        for d in result.diagnostics:
            if d.code == "EXP900":
                continue  # a stale noqa is fixed by removing it, never silenced by another one
            if d.code == "EXP000" or d.noqa_row is None:
                failed = True
                print(f"error: {display_path(d.path)}:{d.start.row}:{d.start.column}: {d.message}", file=sys.stderr)
                continue
            rows[d.cell][d.noqa_row].append(d.code)
        if not rows:
            continue
        try:
            data = read_source_file(result.path)
            text, encoding = decode_source(data)
            if result.path.endswith(".ipynb"):
                from export_lint.notebook import add_noqa_to_cells

                new_text, count = add_noqa_to_cells(text, {cell: by_row for cell, by_row in rows.items() if cell})
            else:
                new_text, count = add_noqa(text, rows[None])
            if count:
                write_atomic(result.path, new_text, encoding, expected_hash=content_hash(data))
                added += count
        except (OSError, ConcurrentModification, UnicodeError, NotebookError) as error:
            failed = True
            print(
                f"error: {display_path(result.path)}: cannot add noqa comments: {describe_write_error(error)}",
                file=sys.stderr,
            )
    print(f"Added {added} noqa directive{'s' if added != 1 else ''}.")
    return EXIT_ERROR if failed else EXIT_CLEAN


def run_fix(args: argparse.Namespace) -> int:
    from export_lint.file_write import write_source
    from export_lint.fixer import fix_file, fix_text, unified_diff
    from export_lint.report import render
    from export_lint.runner import run_parallel

    settings = _settings(args)
    _validate(settings)
    files, errors, from_stdin = _collect(args, settings)
    if from_stdin:
        from export_lint.source import decode_source

        text, encoding = decode_source(sys.stdin.buffer.read())
        name = args.stdin_filename or "-"
        result = fix_text(text, name, settings, unsafe=args.unsafe_fixes)
        if args.apply:
            write_source(sys.stdout, result.text, encoding)
        else:
            sys.stdout.write(unified_diff(text, result.text, name))
        remaining = result.remaining if args.apply else result.remaining_on_original()
        changed, write_failed = result.changed, False
    else:
        outcomes = []
        for group_settings, group in _groups(args, files):
            task = functools.partial(fix_file, settings=group_settings, unsafe=args.unsafe_fixes, write=args.apply)
            outcomes += run_parallel(task, group, args.jobs)
        remaining = [d for error in errors for d in error.diagnostics]
        changed = write_failed = False
        fixed = 0
        for outcome in outcomes:
            remaining += outcome.remaining
            if outcome.error:
                write_failed = True
                print(f"error: {display_path(outcome.path)}: {outcome.error}", file=sys.stderr)
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
    if any(d.internal_error for d in remaining) or write_failed:
        return EXIT_ERROR
    if remaining or (changed and (not args.apply or args.exit_non_zero_on_fix)):
        return EXIT_DIAGNOSTICS
    return EXIT_CLEAN


def run_rule(args: argparse.Namespace) -> int:
    from export_lint.diagnostics import DOCS_URL
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
                    "url": DOCS_URL.format(code=rule.code),
                }
                for rule in rules
            ]
            print(json.dumps(data, indent=2))
        else:
            rows = [
                (
                    rule.code,
                    rule.name + (" (preview)" if rule.preview else ""),
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
        from export_lint.rule_docs import rule_page

        print(rule_page(rule), end="")
    return EXIT_CLEAN


def run_verify(args: argparse.Namespace) -> int:
    from export_lint.verify.cli import run

    return run(args)


def run_server(args: argparse.Namespace) -> int:
    try:
        import pygls  # noqa: F401

        from export_lint.server import serve
    except ImportError as error:
        print(
            f"error: the server needs pygls and lsprotocol: pip install 'export-lint[server]' ({error})",
            file=sys.stderr,
        )
        return EXIT_ERROR
    serve()
    return EXIT_CLEAN


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


COMMANDS = {
    "check": run_check,
    "fix": run_fix,
    "rule": run_rule,
    "verify": run_verify,
    "clean": run_clean,
    "server": run_server,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)  # --version exits here, before anything heavy is imported
    if extras:
        subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        target = subcommands.choices.get(args.command, parser) if args.command else parser
        target.error(_unknown_arguments_message(extras, target))
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
