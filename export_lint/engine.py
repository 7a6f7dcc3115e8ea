"""lint_source: decode, prefilter, parse once, run every selected rule in one pass, apply noqa."""

from __future__ import annotations

import ast
import contextlib
import itertools
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence

import libcst as cst

from export_lint import budget, fix_checks, versions
from export_lint.analysis.roots import Reach, may_export
from export_lint.analysis.semantic import PRUNED_WALK_CONTAINERS, SCOPE_TYPES, SemanticModel
from export_lint.analysis.untraced import Ranges, blanked_text
from export_lint.config import Settings
from export_lint.diagnostics import BUG_REPORT_HINT, Diagnostic, FileResult, LineIndex, file_error
from export_lint.rule import Rule, RuleContext
from export_lint.source import LINE_BREAK, PREFILTER, decode_source, python_newlines
from export_lint.suppression import parse_suppressions
from export_lint.syntax import cpython_syntax_error
from export_lint.traversal import TRIVIA_TYPES, children_into

#: Larger files (the biggest in torch is 1.3 MB) are reported and skipped, not parsed.
MAX_SOURCE_CHARS = 5 * 2**20
#: Deeper expressions are refused: LibCST's time grows steeply with nesting (see ``_too_complex``).
MAX_NESTING = 400
#: Enough Python frames for LibCST's recursive codegen and visitors at ``MAX_NESTING``.
RECURSION_LIMIT = 12_000
_SUSPICIOUS_DEPTH = 100
_SUSPICIOUS_LINE = 2000
#: Files this large are parsed by CPython first, to refuse a huge literal (data, not code):
#: LibCST takes ~0.2 ms and ~10 KB per element (a 2 MB list literal: a minute and 4 GB).
_SUSPICIOUS_SIZE = 256 * 1024
MAX_LITERAL_ELEMENTS = 20_000
#: Parse the files roots reach and export-call files with their untraced definitions blanked out.
BLANK_UNTRACED = True
_BRACKETS = re.compile(r"[\[\](){}]")
_BRACKET_DELTA = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def select_rules(settings: Settings, path: str, rules: Sequence[type[Rule]] | None = None) -> list[type[Rule]]:
    """The rules that run on one file: selected, not ignored for it, and real on the target torch."""
    if rules is None:
        from export_lint.rules import all_rules

        rules = all_rules()
    codes = [rule.code for rule in rules]
    preview = [rule.code for rule in rules if rule.preview]
    enabled = settings.enabled_codes(codes, preview)
    per_file = settings.ignored_for(path)
    target = versions.parse_version(settings.torch_version)
    return [
        rule
        for rule in rules
        if rule.code in enabled
        and not any(rule.code.startswith(selector) or selector == "ALL" for selector in per_file)
        and versions.matches(target, rule.torch_versions)
    ]


class _Dispatcher:
    """Calls each rule's ``visit_X`` / ``leave_X`` in one walk and keeps the semantic stack.

    Handlers are looked up once per node type. The walk skips whitespace and punctuation nodes
    unless some rule has a handler for one of their types.
    """

    def __init__(self, rules: list[Rule], semantic: SemanticModel, on_error: Callable[[Rule, BaseException], None]):
        self.rules = rules
        self.semantic = semantic
        self.on_error = on_error
        self.disabled: set[int] = set()
        self._visit: dict[type, list[tuple[Rule, Callable]]] = {}
        self._leave: dict[type, list[tuple[Rule, Callable]]] = {}
        handled = {
            name.split("_", 1)[1] for rule in rules for name in dir(rule) if name.startswith(("visit_", "leave_"))
        }
        self.skip = frozenset(kind for kind in TRIVIA_TYPES if kind.__name__ not in handled)

    def _handlers(self, table: dict, prefix: str, kind: type) -> list[tuple[Rule, Callable]]:
        handlers = table.get(kind)
        if handlers is None:
            key = prefix + kind.__name__
            handlers = [(rule, getattr(rule, key)) for rule in self.rules if hasattr(rule, key)]
            table[kind] = handlers
        return handlers

    def _call(self, handlers: list[tuple[Rule, Callable]], node: cst.CSTNode) -> None:
        for rule, handler in handlers:
            if id(rule) in self.disabled:
                continue
            try:
                handler(node)
            except RecursionError:
                raise  # the file is too deep to analyse: one diagnostic for the file, not a rule bug
            except Exception as error:  # a crash in one rule never stops the run
                self.disabled.add(id(rule))
                self.on_error(rule, error)

    def _table(self, table: dict, prefix: str, kind: type) -> list[tuple[Rule, Callable]]:
        handlers = table.get(kind)
        return self._handlers(table, prefix, kind) if handlers is None else handlers

    def run(self, module: cst.Module, prune_untraced: bool = False) -> None:
        """One walk calling every rule's handlers, keeping ``semantic.stack``/``scope_stack``.

        With ``prune_untraced`` (every rule running reports only in traced code, and the file has
        no export call) the walk enters only the statements that can hold a traced function and
        the functions export traces: module-level code, ``__init__`` and the like are not visited.
        """
        stack, scopes = self.semantic.stack, self.semantic.scope_stack
        traced: set[int] | frozenset[int] = frozenset()
        holders: set[int] | frozenset[int] = frozenset()
        if prune_untraced:
            try:
                traced = self.semantic.traced_functions()
                holders = self.semantic.traced_holders
            except RecursionError:
                raise
            except Exception:  # let the rules meet (and report) whatever fails here
                prune_untraced = False
        containers = PRUNED_WALK_CONTAINERS
        skip, visits, leaves = self.skip, self._visit, self._leave
        inside = 0  # traced functions on the stack
        todo: list = [module]
        while todo:
            node = todo.pop()
            kind = type(node)
            if kind is tuple:  # (node,): its children are done
                node = node[0]
                kind = type(node)
                handlers = self._table(leaves, "leave_", kind)
                if handlers:
                    self._call(handlers, node)
                stack.pop()
                if kind in SCOPE_TYPES:
                    scopes.pop()
                    if kind is cst.FunctionDef and id(node) in traced:
                        inside -= 1
                continue
            if prune_untraced and not inside:
                if kind is cst.FunctionDef:
                    if id(node) not in traced and id(node) not in holders:
                        continue
                elif kind not in containers:
                    continue
            stack.append(node)
            if kind in SCOPE_TYPES:
                scopes.append(node)
                if kind is cst.FunctionDef and id(node) in traced:
                    inside += 1
            handlers = self._table(visits, "visit_", kind)
            if handlers:
                self._call(handlers, node)
            todo.append((node,))
            children_into(node, kind, skip, todo)


def _syntax_error(path: str, error: Exception) -> Diagnostic:
    if isinstance(error, cst.ParserSyntaxError):
        message = str(error.message).splitlines()[0] if error.message else "invalid syntax"
        return file_error(path, "syntax-error", f"SyntaxError: {message}", max(error.raw_line, 1), error.raw_column + 1)
    return file_error(path, "syntax-error", f"SyntaxError: {error}")


def _too_complex(text: str, path: str) -> Diagnostic | None:
    """Refuse, before LibCST sees it, a file its native parser would crash or hang on.

    LibCST's parser overflows the C stack (a segfault, not an exception) on brackets nested about
    2,000 deep, and takes time cubic in the length of an operator chain (``1+1+...``: ~3 s for
    1,000 terms, minutes for 4,000). CPython refuses brackets nested over 200 deep, so a cheap
    bracket count and line length decide whether to ask CPython's own parser first.
    """
    if len(text) > MAX_SOURCE_CHARS:
        size = len(text) / 2**20
        return file_error(
            path,
            "file-too-large",
            f"file too large to lint ({size:.1f} MiB > {MAX_SOURCE_CHARS // 2**20} MiB); skipped",
        )
    depth = max(itertools.accumulate(map(_BRACKET_DELTA.__getitem__, _BRACKETS.findall(text))), default=0)
    if (
        depth <= _SUSPICIOUS_DEPTH
        and len(text) <= _SUSPICIOUS_SIZE
        and max(map(len, LINE_BREAK.split(text)), default=0) <= _SUSPICIOUS_LINE
    ):
        return None
    try:
        tree = compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        message = error.msg or "invalid syntax"
        return file_error(
            path, "syntax-error", f"SyntaxError: {message}", max(error.lineno or 1, 1), max(error.offset or 1, 1)
        )
    except (RecursionError, MemoryError):
        return file_error(path, "syntax-error", "SyntaxError: too deeply nested to parse")
    except ValueError as error:
        return file_error(path, "syntax-error", f"SyntaxError: {error}")
    nesting, widest = _ast_shape(tree)
    if nesting > MAX_NESTING:
        return file_error(
            path, "syntax-error", f"expressions nested {nesting} levels deep (limit {MAX_NESTING}): too deep to analyse"
        )
    if widest > MAX_LITERAL_ELEMENTS:
        return file_error(
            path,
            "too-complex",
            f"a literal of {widest} elements (limit {MAX_LITERAL_ELEMENTS}): data, not code; skipped",
        )
    return None


_LITERALS = (ast.List, ast.Tuple, ast.Set, ast.Dict)


def _ast_shape(tree: ast.AST) -> tuple[int, int]:
    """(deepest nesting, most elements of one list, tuple, set or dict display)."""
    deepest = widest = 0
    todo = [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(node, _LITERALS):
            widest = max(widest, len(node.keys if isinstance(node, ast.Dict) else node.elts))
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest, widest


def parse(text: str, path: str, untraced: Ranges | None = None) -> cst.Module | Diagnostic:
    """The file's LibCST tree, or the diagnostic saying why there is none. With ``untraced``, the
    tree of the text with the lines of those definitions blanked out (they are no rule's concern:
    :mod:`export_lint.analysis.untraced`); positions are the file's all the same."""
    if "\x00" in text:
        return file_error(path, "syntax-error", "SyntaxError: source code cannot contain null bytes")
    refused = _too_complex(text, path)
    if refused is not None:
        return refused
    module = _parse_blanked(text, untraced) if untraced else None
    if module is None:
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError as error:
            # CPython's location when it agrees the file is broken (LibCST's row can be a line late);
            # LibCST's when only LibCST rejects it.
            return cpython_syntax_error(text, path) or _syntax_error(path, error)
        except RecursionError:
            return file_error(path, "syntax-error", "SyntaxError: too deeply nested to parse")
        except Exception as error:  # libcst's native parser raises a few other types on odd input
            return file_error(path, "syntax-error", f"SyntaxError: {error}")
    # LibCST accepts what CPython's compiler rejects (`f(a=1, a=2)`): Python would not run it.
    return cpython_syntax_error(text, path, grammar_checked=True) or module


def _parse_blanked(text: str, untraced: Ranges) -> cst.Module | None:
    """The tree of ``text`` with the lines of ``untraced`` blanked; None when LibCST rejects that
    text (the whole file's parse then says what is wrong)."""
    try:
        return cst.parse_module(blanked_text(text, untraced))
    except Exception:  # RecursionError too
        return None


def _syntax_errors_only(text: str, path: str) -> list[Diagnostic]:
    """A file no rule reads still gets its syntax error: CPython judges it cheaply, and LibCST
    (which parses newer grammars than the running Python) has the last word on a rejection."""
    if "\x00" not in text and cpython_syntax_error(text, path) is None:
        return []
    module = parse(text, path)
    return [module] if isinstance(module, Diagnostic) else []


@contextlib.contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    """LibCST's codegen and visitors recurse per nesting level; allow what ``MAX_NESTING`` admits."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def lint_text(
    text: str,
    path: str,
    settings: Settings,
    rules: Sequence[type[Rule]] | None = None,
) -> list[Diagnostic]:
    """Diagnostics for one decoded file, noqa applied, sorted by position.

    Offsets and rows follow Python's line splitting; a ``\\r``-only file is read as its
    ``\\n`` twin (same offsets), so edits apply to the original text unchanged.
    """
    with _recursion_limit(RECURSION_LIMIT):
        return _lint_text(python_newlines(text), path, settings, rules)


def reach_for(text: str, path: str, settings: Settings) -> Reach | None:
    """The export roots of the file's project and what they reach (:class:`Reach`). Without a
    project's reach (the API, stdin, ``all-modules``) the file's own export calls are its roots;
    None with ``all-modules`` for a file without one (every forward is traced anyway)."""
    all_modules = settings.traced == "all-modules"
    reach = None if all_modules else settings.reach
    if reach is None:
        if all_modules and not may_export(text):
            return None
        from export_lint.analysis.index import ProjectIndex
        from export_lint.analysis.roots import compute_reach

        folder = os.path.dirname(os.path.abspath(path))
        reach = compute_reach(ProjectIndex(folder, texts={path: text}, discover=False))
    return reach


def reached_in(text: str, path: str, settings: Settings) -> tuple[dict[str, str] | None, dict]:
    """What export roots reach in the file (qualname -> root label; None with ``all-modules``) and
    what the roots' forwards there return that export cannot flatten (qualname -> facts)."""
    return _reached(reach_for(text, path, settings), path, settings)


def _reached(reach: Reach | None, path: str, settings: Settings) -> tuple[dict[str, str] | None, dict]:
    if reach is None:
        return None, {}
    return (None if settings.traced == "all-modules" else reach.for_file(path)), reach.outputs_for(path)


def _makes_no_export_call(text: str, path: str, reach: Reach) -> bool:
    """The file holds no call the semantic model takes for an export call. The text decides when it
    says no entry point's name before ``(`` or never says ``torch`` (every export function is
    torch's: its name, or an import of it, spells it); else the project index's ``ast`` of it."""
    return "torch" not in text or not may_export(text) or reach.makes_no_export_call(path, text)


def _nothing_to_walk(text: str, path: str, reach: Reach, running: Sequence[type[Rule]]) -> bool:
    """No root reaches the file and it makes no export call: rules about traced code and export
    calls have nothing to look at, so the file is not parsed by LibCST (only checked to be Python).
    A rule that only judges noqa comments (EXP900) reads the text, not the tree."""
    return all(rule.traced_only or hasattr(rule, "check_noqa") for rule in running) and _makes_no_export_call(
        text, path, reach
    )


def _untraced(text: str, path: str, reach: Reach, running: Sequence[type[Rule]]) -> Ranges | None:
    """The lines of the definitions no rule can look at (the project index's answer for this very
    text), unless a rule that may report outside traced code runs and its words are in the text
    (EXP004's ``capture_pre_autograd_graph``; a rule requiring no word: always)."""
    if not BLANK_UNTRACED:
        return None
    anywhere = [rule for rule in running if not rule.traced_only and not hasattr(rule, "check_noqa")]
    if any(not rule.requires or all(word in text for word in rule.requires) for rule in anywhere):
        return None
    return reach.blank_ranges(path, text)


def _outside_version_guards(text: str, found: list[Diagnostic], gates: dict[str, str]) -> list[Diagnostic]:
    """Drop gated rules' findings in branches that run only on releases where the hazard is not real
    (``if torch_version < "2.7": capture_pre_autograd_graph(...)`` on a target of 2.7 or later)."""
    from export_lint.analysis import version_guards

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return found
    return version_guards.drop_never_real(tree, found, gates)


def _lint_text(
    text: str,
    path: str,
    settings: Settings,
    rules: Sequence[type[Rule]] | None,
) -> list[Diagnostic]:
    selected = select_rules(settings, path, rules)
    checks_noqa = "noqa" in text and any(hasattr(rule, "check_noqa") for rule in selected)
    if not selected:
        return []
    if not (checks_noqa or any(marker in text for marker in PREFILTER)):
        return _syntax_errors_only(text, path)
    # Rules whose required words the text lacks cannot fire: they are not run (the file is still
    # parsed, so a syntax error is reported whatever the selection). EXP900 still judges their
    # suppression comments, against every selected rule.
    reach = reach_for(text, path, settings)
    reached, outputs = _reached(reach, path, settings)
    # "class" stands for "defines the module whose forward is traced"; a file of helper functions
    # an export root reaches (box ops a detection head calls) is traced without one.
    met = {"class"} if reached else set()
    running = [rule for rule in selected if all(word in text or word in met for word in rule.requires)]
    if reach is not None and not reached and reached is not None and _nothing_to_walk(text, path, reach, running):
        # The same guards and syntax judgement as a parsed file gets (size, nesting, CPython's
        # compiler, LibCST's last word on a rejection), without building the tree.
        refused = _too_complex(text, path)
        broken = [refused] if refused is not None else _syntax_errors_only(text, path)
        if broken or not checks_noqa:
            return broken
        # No rule that runs finds anything here: the noqa comments are judged against no finding.
        context = RuleContext.without_tree(text, path, settings.torch_version)
        judges = [rule(context) for rule in running if hasattr(rule, "check_noqa")]
        return _judged(text, path, settings, selected, judges, [], [])
    budget.enter("parsing")
    module = parse(text, path, _untraced(text, path, reach, running) if reached is not None else None)
    if isinstance(module, Diagnostic):
        return [module]
    project_reach = settings.reach if settings.traced == "roots" else None  # its callers give values
    semantic = SemanticModel(module, path, text=text, reached=reached, outputs=outputs, reach=project_reach)
    context = RuleContext(text, path, module, semantic, settings.torch_version)
    errors: list[Diagnostic] = []

    def on_error(rule: Rule, error: BaseException) -> None:
        errors.append(_crash(rule, error, path))

    instances = [rule(context) for rule in running]
    budget.enter("running the rules")
    try:
        prune = not semantic.may_call_export() and all(
            rule.traced_only for rule in instances if any(name.startswith(("visit_", "leave_")) for name in dir(rule))
        )
        _Dispatcher(instances, semantic, on_error).run(module, prune)
    except RecursionError:
        return [file_error(path, "syntax-error", "SyntaxError: too deeply nested to analyse")]
    finally:
        semantic.release()
    found = context.diagnostics
    gates = {rule.code: rule.torch_versions for rule in running if rule.torch_versions}
    if any(d.code in gates for d in found):
        found = _outside_version_guards(text, found, gates)
    return _judged(text, path, settings, selected, instances, found, errors)


def _may_judge_noqa(rule: Rule, text: str) -> bool:
    """Whether a rule judges noqa comments (``check_noqa``) and may report in this text: a rule
    telling by ``judges_noqa_in(text)``, else any rule with ``check_noqa``."""
    if not hasattr(rule, "check_noqa"):
        return False
    judges = getattr(rule, "judges_noqa_in", None)
    return judges is None or judges(text)


def _crash(rule: Rule, error: BaseException, path: str) -> Diagnostic:
    """The EXP000 internal-error of a rule that raised."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return file_error(
        path,
        "internal-error",
        f"rule {rule.code} ({rule.name}) crashed: {type(error).__name__}: {error} "
        f"(at {frame.filename}:{frame.lineno}); {BUG_REPORT_HINT}",
        internal=True,
    )


def _judged(
    text: str,
    path: str,
    settings: Settings,
    selected: Sequence[type[Rule]],
    instances: Sequence[Rule],
    found: list[Diagnostic],
    errors: list[Diagnostic],
) -> list[Diagnostic]:
    """The rules' findings with noqa applied, then the findings about the noqa comments themselves
    (EXP900), their fixes checked, sorted by position. The noqa comments are not read (tokenized)
    when nothing was found and no rule judging them can report anything in this text."""
    if not found and not any(_may_judge_noqa(rule, text) for rule in instances):
        return sorted(errors, key=Diagnostic.sort_key)
    budget.enter("reading noqa comments")
    suppressions = parse_suppressions(text)
    kept: list[Diagnostic] = []
    used: set[tuple[int | None, str]] = set()  # (row, code) pairs a noqa comment silenced
    for d in found:
        if suppressions.suppresses(d.code, d.noqa_row):
            used.add((d.noqa_row, d.code))
        else:
            kept.append(d)
    for rule in instances:  # rules about the noqa comments themselves (EXP900) run last
        # After a crash the noqa comments' use is unknown: say nothing rather than remove a needed one.
        if hasattr(rule, "check_noqa") and not errors:
            try:
                judged = rule.check_noqa(suppressions, used, settings, selected)
            except Exception as error:
                errors.append(_crash(rule, error, path))
                continue
            kept += [d for d in judged if not suppressions.suppresses(d.code, d.noqa_row)]
    return sorted(fix_checks.offered(text, path, kept) + errors, key=Diagnostic.sort_key)


def source_lines_for(text: str, diagnostics: Sequence[Diagnostic]) -> dict[int, str]:
    if not diagnostics:
        return {}
    lines = LineIndex(text)
    rows: dict[int, str] = {}
    last = len(lines.line_starts)
    for diagnostic in diagnostics:
        for row in range(max(1, diagnostic.start.row - 1), min(last, diagnostic.end.row + 1) + 1):
            rows[row] = lines.line_text(row)
    return rows


def lint_source(
    source: str | bytes,
    path: str = "<stdin>",
    settings: Settings | None = None,
    rules: Sequence[type[Rule]] | None = None,
) -> FileResult:
    """Lint one file's source (text, or bytes decoded as Python would)."""
    settings = settings or Settings()
    encoding = "utf-8"
    if isinstance(source, bytes):
        try:
            source, encoding = decode_source(source)
        except (SyntaxError, UnicodeDecodeError, LookupError) as error:
            reason = error.reason if isinstance(error, UnicodeDecodeError) else str(error)
            return FileResult(path, [file_error(path, "syntax-error", f"cannot decode file: {reason}")])
    if path.endswith(".ipynb") and source.lstrip().startswith("{"):  # the notebook's JSON, not one cell's code
        from export_lint.notebook import lint_notebook

        return lint_notebook(source, path, settings, rules)
    diagnostics = lint_text(source, path, settings, rules)
    return FileResult(path, diagnostics, source_lines_for(source, diagnostics), encoding)
