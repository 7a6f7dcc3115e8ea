"""The questions rules ask the value analysis, at the node the engine is visiting.

:func:`function_values` gives the :class:`FunctionValues` of the traced function around the
current node (None outside traced code): the value of any of its expressions at that point of the
program, the dynamic size or dynamic input it is, and whether a condition reads tensor data.
"""

from __future__ import annotations

import weakref

import libcst as cst

from export_lint import versions
from export_lint.analysis.semantic import SemanticModel, dotted_name, file_cache
from export_lint.analysis.values.lattice import DATA_DEPENDENT_KINDS, UNKNOWN, DynamicDim, Kind, SizeOf, Value
from export_lint.analysis.values.program import FileProgram
from export_lint.traversal import TRIVIA_TYPES, children

#: Class decorators that swap ``forward`` for another implementation by default (transformers'
#: experts dispatch picks ``grouped_mm``), so the class's own ``forward`` is not what export traces.
FORWARD_REPLACING_DECORATORS = frozenset({"use_experts_implementation"})

_PROGRAMS: weakref.WeakKeyDictionary[SemanticModel, FileProgram] = file_cache()


def program(semantic: SemanticModel, torch_version: str) -> FileProgram:
    """The file's value analysis (computed once per file and target torch)."""
    found = _PROGRAMS.get(semantic)
    if found is None or found.torch_version != torch_version:
        found = FileProgram(semantic, torch_version)
        _PROGRAMS[semantic] = found
    return found


class FunctionValues:
    """Values of one traced function's expressions, as the analysis found them."""

    def __init__(self, file: FileProgram) -> None:
        self._record = file.record
        #: Whether the file's export calls declare any dim dynamic (the shape rules need one).
        self.dynamic = file.has_dynamic

    def value(self, expr: cst.BaseExpression) -> Value:
        """The value of ``expr`` where it stands; unknown when never evaluated (dead code)."""
        return self._record.get(id(expr), UNKNOWN)

    def kind(self, expr: cst.BaseExpression) -> Kind | None:
        """The kind of ``expr``'s value; None when unknown."""
        kind = self.value(expr).kind
        return None if kind is Kind.UNKNOWN else kind

    def dynamic_input(self, expr: cst.BaseExpression | None) -> tuple[str, dict[int, DynamicDim]] | None:
        """The forward input ``expr`` is (unchanged), with its dims declared dynamic."""
        if expr is None:
            return None
        value = self.value(expr)
        if value.is_tensor and value.param is not None and value.dims:
            return value.param, value.dynamic_dims()
        return None

    def dynamic_size(self, expr: cst.BaseExpression) -> SizeOf | None:
        """The (input, dim) whose dynamic size ``expr`` is: ``x.shape[0]``, ``x.size(0)``, ``len(x)``."""
        value = self.value(expr)
        return value.dim if value.kind is Kind.SIZE else None

    def involves_dynamic_size(self, expr: cst.BaseExpression) -> SizeOf | None:
        """A dynamic size used anywhere inside ``expr`` (not inside lambdas)."""
        found = self.dynamic_size(expr)
        if found is not None or isinstance(expr, cst.Lambda):
            return found
        for child in children(expr, TRIVIA_TYPES):
            if isinstance(child, (cst.Arg, cst.Index, cst.SubscriptElement, cst.Element, cst.Slice)):
                parts = [part for part in children(child, TRIVIA_TYPES) if isinstance(part, cst.BaseExpression)]
            else:
                parts = [child] if isinstance(child, cst.BaseExpression) else []
            for part in parts:
                found = self.involves_dynamic_size(part)
                if found is not None:
                    return found
        return None

    def is_data_dependent_test(self, test: cst.BaseExpression) -> cst.BaseExpression | None:
        """The part of a branch condition whose truth Python reads from tensor data, if any."""
        if isinstance(test, cst.BooleanOperation):
            return self.is_data_dependent_test(test.left) or self.is_data_dependent_test(test.right)
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return self.is_data_dependent_test(test.expression)
        return test if self.value(test).kind in DATA_DEPENDENT_KINDS else None


def _forward_replaced(semantic: SemanticModel) -> bool:
    for node in semantic.stack:
        if isinstance(node, cst.ClassDef):
            for decorator in node.decorators:
                target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
                name = semantic.qualified_name(target) or dotted_name(target) or ""
                if name.rsplit(".", 1)[-1] in FORWARD_REPLACING_DECORATORS:
                    return True
    return False


def function_values(semantic: SemanticModel, torch_version: str) -> FunctionValues | None:
    """The values of the innermost function around the current node, when export traces it."""
    function = semantic.enclosing(cst.FunctionDef)
    if function is None or not semantic.in_traced_code() or _forward_replaced(semantic):
        return None
    file = program(semantic, torch_version)
    if not file.values_of(function):
        return None
    return FunctionValues(file)


def traced_non_strict(semantic: SemanticModel, torch_version: str) -> bool:
    """Whether the current traced code is exported in non-strict mode, as far as the file shows:
    the class's export calls say so, or none is visible and the target torch defaults to it."""
    modes = program(semantic, torch_version).modes
    owner = None
    for depth in range(len(semantic.stack) - 1, 0, -1):
        if isinstance(semantic.stack[depth], cst.ClassDef):
            owner = semantic.stack[depth]
            break
    mode = modes.get(owner.name.value) if owner is not None else None
    if mode is not None:
        return mode.strict is False
    if any(m.strict is True for m in modes.values()) and not any(m.strict is False for m in modes.values()):
        return False
    return not versions.strict_by_default(torch_version)
