"""The base class of every rule, its examples, and the context rules report through."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import textwrap
from typing import ClassVar

import libcst as cst

from export_lint.analysis.semantic import SemanticModel, _import_bindings
from export_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, LineIndex


@dataclasses.dataclass(frozen=True)
class Valid:
    """Code the rule must stay silent on.

    With ``proves`` (the default) the code is a runnable script: the proof stage (``export-lint
    verify --rules``, the slow tests) executes it with the real torch and it must not raise.
    """

    code: str
    torch_version: str | None = None
    proves: bool = True
    #: The torch releases the script can run on at all (it uses an API added later, such as
    #: ``Dim.DYNAMIC``, ">=2.6"): proven on those only. ``""``: every release.
    requires_torch: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", textwrap.dedent(self.code).lstrip("\n"))


@dataclasses.dataclass(frozen=True)
class Invalid:
    """Code the rule must report; ``after`` is the expected result of its fix, if any.

    With ``proves`` (the default) both are runnable scripts that the proof stage executes with the
    real torch: on a torch inside the rule's ``torch_versions`` gate ``code`` must raise (a silent
    divergence is proven by the script's own ``assert torch.allclose(...)``) and ``after`` must run
    cleanly; outside the gate ``code`` must run cleanly.
    """

    code: str
    after: str | None = None
    torch_version: str | None = None
    count: int = 1
    proves: bool = True
    #: The torch releases the scripts can run on at all (an API added later, or a fix meant for a
    #: newer target): proven on those only. ``""``: every release.
    requires_torch: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", textwrap.dedent(self.code).lstrip("\n"))
        if self.after is not None:
            object.__setattr__(self, "after", textwrap.dedent(self.after).lstrip("\n"))


def shorten(code: str, limit: int) -> str:
    """Source text for a message: whitespace collapsed, cut to ``limit`` characters with "..."."""
    code = " ".join(code.split())
    return code if len(code) <= limit else code[: limit - 3] + "..."


class Rule:
    """One hazard. Subclasses define metadata, docs (the docstring), examples and visitor methods.

    Visitor methods are libcst's: ``visit_Call(self, node)``, ``leave_FunctionDef(self, node)``,
    ``leave_Module(self, node)`` for whole-file decisions. Report with ``self.report(...)``.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    #: Torch versions in which the hazard is real, as a specifier (``"<2.7"``); ``""`` is all.
    torch_versions: ClassVar[str] = ""
    #: The applicability of the rule's fix, or None when it offers none.
    fix_applicability: ClassVar[Applicability | None] = None
    #: Rules in preview are only enabled when selected explicitly by code.
    preview: ClassVar[bool] = False
    #: Words the source must contain, every one, for the rule to find anything: a rule about export
    #: calls needs ``"export"``, one about traced code ``"class"`` (export traces module classes'
    #: forwards). Files lacking one are not analysed for the rule; ``tests/test_rule_examples.py``
    #: checks every INVALID example has them.
    requires: ClassVar[tuple[str, ...]] = ()
    #: Whether the rule reports only inside code export traces (module forwards and what they
    #: call), export calls aside: when every rule running says so and the file makes no export
    #: call, the engine does not walk the rest (``tests/test_requires.py`` checks nothing is lost).
    traced_only: ClassVar[bool] = False
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def __init__(self, context: RuleContext) -> None:
        self.context = context

    @property
    def semantic(self) -> SemanticModel:
        return self.context.semantic

    @classmethod
    def documentation(cls) -> str:
        """The rule's user documentation: its module docstring (What it does, Why is this bad?, ...)."""
        return inspect.cleandoc(sys.modules[cls.__module__].__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first sentence of the documentation's "What it does" section."""
        text = cls.documentation().split("## What it does", 1)[-1].strip()
        paragraph = " ".join(text.split("\n\n", 1)[0].split())
        return paragraph.split(". ")[0].rstrip(".") + "."

    def report(self, node: cst.CSTNode, fix: Fix | None = None, **message_args: object) -> None:
        self.context.report(self, node, self.message.format(**message_args), fix)

    def fix(self, message: str, *edits: Edit | None) -> Fix:
        applicability = self.fix_applicability or Applicability.DISPLAY_ONLY
        return Fix(message, tuple(edit for edit in edits if edit is not None), applicability)


class RuleContext:
    """What a rule sees of the file being linted: its text, tree, semantic model and positions."""

    def __init__(self, text: str, path: str, module: cst.Module, semantic: SemanticModel, torch_version: str) -> None:
        self.text = text
        self.path = path
        self.module = module
        self.semantic = semantic
        self.torch_version = torch_version
        self.lines = LineIndex(text)
        self.diagnostics: list[Diagnostic] = []
        self._positions = None

    @classmethod
    def without_tree(cls, text: str, path: str, torch_version: str) -> RuleContext:
        """The context of a file the engine did not parse (nothing in it for a rule's visitors):
        no ``module`` nor ``semantic``, for rules that read only the text (``check_noqa``)."""
        return cls(text, path, None, None, torch_version)  # type: ignore[arg-type]

    # -- positions ----------------------------------------------------------------------
    def span(self, node: cst.CSTNode) -> tuple[int, int]:
        """Start and end character offsets of a node (computed lazily: only reported files pay)."""
        if self._positions is None:
            from export_lint.traversal import node_spans

            self._positions = node_spans(self.module)  # one codegen pass; PositionProvider costs ~4x more
        start, end = self._positions[node]
        return min(start, len(self.text)), min(end, len(self.text))

    def report(self, rule: Rule, node: cst.CSTNode, message: str, fix: Fix | None) -> None:
        label = self.semantic.root_label() if self.semantic.reached else None
        if label is not None:
            message = f"{message} (reached from {label})"
        start, end = self.span(node)
        start_location = self.lines.location(start)
        if fix is not None:
            located = tuple(
                dataclasses.replace(
                    edit, location=self.lines.location(edit.start), end_location=self.lines.location(edit.end)
                )
                for edit in fix.edits
            )
            fix = dataclasses.replace(fix, edits=located)
        self.diagnostics.append(
            Diagnostic(
                code=rule.code,
                name=rule.name,
                message=message,
                path=self.path,
                start=start_location,
                end=self.lines.location(end),
                fix=fix if fix is not None and fix.edits else None,
                noqa_row=start_location.row,
            )
        )

    # -- edit helpers ---------------------------------------------------------------------
    @property
    def newline(self) -> str:
        return self.module.default_newline

    def code(self, node: cst.CSTNode) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def indentation_of(self, node: cst.CSTNode) -> str:
        start, _ = self.span(node)
        line_start = self.lines.line_start(start)
        line = self.text[line_start:start]
        return line[: len(line) - len(line.lstrip())]

    def replace(self, node: cst.CSTNode, content: str) -> Edit:
        start, end = self.span(node)
        return Edit(start, end, content)

    def insert_before_statement(self, statement: cst.CSTNode, line: str) -> Edit:
        """Insert a line, at the statement's indentation, above the line the statement starts on."""
        start, _ = self.span(statement)
        line_start = self.lines.line_start(start)
        return Edit(line_start, line_start, self.indentation_of(statement) + line + self.newline)

    def add_keyword_argument(self, call: cst.Call, argument: str) -> Edit:
        """Append ``name=value`` to a call's arguments, following its layout; the edit claims the
        keyword (``keyword_claim``)."""
        edit = self._keyword_edit(call, argument)
        return dataclasses.replace(edit, claim=self.keyword_claim(call, argument.split("=", 1)[0].strip()))

    def _keyword_edit(self, call: cst.Call, argument: str) -> Edit:
        if not call.args:
            _, end = self.span(call)
            return Edit(end - 1, end - 1, argument)
        last = call.args[-1]
        _value_start, value_end = self.span(last)
        if isinstance(last.comma, cst.Comma):
            # Trailing comma: a multi-line call gets a new line at the same indentation.
            after = last.comma.whitespace_after
            if isinstance(after, cst.ParenthesizedWhitespace):
                _, end = self.span(last)
                comma_end = self.text.index(",", value_end) + 1
                newline_at = self.text.index("\n", comma_end) + 1
                indent = self.indentation_of(last)
                return Edit(newline_at, newline_at, f"{indent}{argument},{self.newline}")
            comma_end = self.text.index(",", value_end) + 1
            return Edit(comma_end, comma_end, f" {argument},")
        return Edit(value_end, value_end, f", {argument}")

    def module_import_edit(self, statement: str) -> Edit | None:
        """An edit adding ``import x`` after the file's leading docstring, __future__ and imports."""
        offset = 0
        for stmt in self.module.body:
            if isinstance(stmt, cst.SimpleStatementLine) and all(
                isinstance(part, (cst.Import, cst.ImportFrom))
                or (isinstance(part, cst.Expr) and isinstance(part.value, cst.SimpleString))
                for part in stmt.body
            ):
                _, offset = self.span(stmt)
                newline_at = self.text.find("\n", offset)
                offset = len(self.text) if newline_at == -1 else newline_at + 1
                continue
            break
        prefix = self.newline if offset and not self.text[:offset].endswith(("\n",)) else ""
        return Edit(offset, offset, prefix + statement + self.newline)

    def torch_alias(self, at: cst.CSTNode | None = None) -> str | None:
        """The local name ``torch`` is imported under at module level, if any; with ``at``, only
        an import that is bound there (see ``imported_name``)."""
        if at is not None:
            return self.imported_name({"torch"}, at)
        for name, binding in self.semantic.bindings_of(self.module).items():
            if binding.kind == "import" and binding.qualified_name == "torch":
                return name
        return None

    def top_level_statement(self, node: cst.CSTNode) -> cst.BaseStatement:
        """The module-level statement holding a node (found by position)."""
        start, end = self.span(node)
        for statement in self.module.body:
            first, last = self.span(statement)
            if first <= start and end <= last:
                return statement
        raise ValueError("node is not inside the module's statements")

    def imported_name(self, qualified: set[str] | frozenset[str], at: cst.CSTNode) -> str | None:
        """A local name a module-level import binds to one of ``qualified`` where ``at`` runs.

        Module-level code runs top to bottom, so only imports in earlier statements count there;
        code in a function body runs when it is called, by which time every module-level import
        has run. ``fix_checks`` judges fixed code the same way.
        """
        holder = self.top_level_statement(at)
        start, _ = self.span(at)
        deferred = any(
            isinstance(node, (cst.FunctionDef, cst.Lambda)) and self.span(node)[0] <= start < self.span(node)[1]
            for node in _defining_nodes(holder)
        )
        found = None
        for statement in self.module.body:
            if statement is holder and not deferred:
                break
            for node in _module_level_imports(statement):
                for name, binding in _import_bindings(node):
                    if binding.qualified_name in qualified:
                        found = found or name
        return found

    def keyword_claim(self, call: cst.Call, keyword: str) -> str:
        """What an edit adding or rewriting ``keyword=`` of a call claims (``Edit.claim``): two
        fixes writing the keyword collide, and one of them waits for the next pass."""
        return f"keyword {keyword} of the call at {self.span(call)[0]}"

    def top_level_insertion(self, statement: cst.BaseStatement, block: str) -> Edit:
        """Insert a top-level ``def``/``class`` above a module-level statement (and the comments
        directly above it), with the two blank lines ``ruff format`` keeps around it."""
        anchor = statement.decorators[0] if getattr(statement, "decorators", None) else statement
        offset = self.lines.line_start(self.span(anchor)[0])
        while offset > 0:
            above = self.lines.line_start(offset - 1)
            if not self.text[above:offset].startswith("#"):  # a top-level comment above the statement
                break
            offset = above
        blank_before, probe = 0, offset
        while probe > 0:
            above = self.lines.line_start(probe - 1)
            if self.text[above:probe].strip():
                break
            blank_before, probe = blank_before + 1, above
        newline = self.newline
        lead = newline * max(0, 2 - blank_before) if probe > 0 else ""
        body = newline.join(block.rstrip("\n").split("\n"))
        return Edit(offset, offset, lead + body + newline * 3)


def _module_level_imports(statement: cst.CSTNode) -> list[cst.Import | cst.ImportFrom]:
    """The imports a module-level statement runs (inside ``if``/``try``/``with`` too, not in defs)."""
    found: list[cst.Import | cst.ImportFrom] = []

    class _Imports(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> bool:
            found.append(node)
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            found.append(node)
            return False

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    statement.visit(_Imports())
    return found


def _defining_nodes(statement: cst.CSTNode) -> list[cst.CSTNode]:
    """The functions and lambdas inside a statement (their bodies run later, when called)."""
    found: list[cst.CSTNode] = []

    class _Definitions(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            found.append(node)
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            found.append(node)
            return False

    statement.visit(_Definitions())
    return found
