"""What a file's export calls declare about the module classes they export.

:func:`export_modes` reads the file's ``torch.export.export`` calls: for each local module class
exported with a literal ``dynamic_shapes``, which dims of which forward parameters are dynamic (a
``Dim(...)`` or ``Dim.DYNAMIC``) and in what range, whether the export is strict, and which forward
parameters the example inputs fill with tensors.
"""

from __future__ import annotations

import dataclasses

import libcst as cst

from export_lint import versions
from export_lint.analysis.semantic import ClassInfo, SemanticModel
from export_lint.analysis.values.lattice import DynamicDim
from export_lint.traversal import walk


def int_literal(expr: cst.BaseExpression) -> int | None:
    """``3`` / ``-3`` as an int, else None."""
    if isinstance(expr, cst.Integer):
        return int(expr.value, 0)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = int_literal(expr.expression)
        return -inner if inner is not None else None
    return None


@dataclasses.dataclass(frozen=True)
class ExportMode:
    """What one file's export calls say about a module class: its dynamic dims and strictness."""

    dynamic: dict[str, dict[int, DynamicDim]]
    #: True strict, False non-strict, None when the export calls disagree.
    strict: bool | None
    #: Forward parameters every export call passes a tensor made by a torch factory.
    tensor_params: frozenset[str] = frozenset()


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((arg.value for arg in call.args if arg.keyword is not None and arg.keyword.value == name), None)


def _resolve_literal(semantic: SemanticModel, expr: cst.BaseExpression, stack: list[cst.CSTNode]) -> cst.BaseExpression:
    """A name bound once to a value: that value (one step), else the expression itself."""
    if isinstance(expr, cst.Name):
        binding = semantic.binding(expr.value, stack)
        node = binding.node
        if binding.kind == "assign" and isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
            if isinstance(target, cst.Name) and target.value == expr.value:
                return node.value
    return expr


def _strip_module_calls(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``Model().eval()`` / ``Model().to(device)`` -> ``Model()``."""
    while (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in {"eval", "train", "to", "cpu", "cuda", "float", "half", "requires_grad_"}
    ):
        expr = expr.func.value
    return expr


def _export_calls(semantic: SemanticModel) -> list[tuple[cst.Call, list[cst.CSTNode]]]:
    """Every export call with the stack of nodes above it (for name resolution)."""
    stack: list[cst.CSTNode] = []
    calls: list[tuple[cst.Call, list[cst.CSTNode]]] = []
    if not semantic.may_call_export():
        return calls

    def on_visit(node: cst.CSTNode) -> bool:
        stack.append(node)
        if isinstance(node, cst.Call) and semantic.is_export_call(node, stack):
            calls.append((node, list(stack)))
        return True

    def on_leave(node: cst.CSTNode) -> None:
        stack.pop()

    walk(semantic.module, on_visit, on_leave)
    return calls


def _dim_of(
    semantic: SemanticModel, expr: cst.BaseExpression, stack: list[cst.CSTNode], index: int
) -> DynamicDim | None:
    expr = _resolve_literal(semantic, expr, stack)
    qualified = semantic.qualified_name(expr, stack) if isinstance(expr, (cst.Name, cst.Attribute)) else None
    if qualified in {"torch.export.Dim.DYNAMIC", "torch.export.dynamic_shapes.Dim.DYNAMIC"}:
        return DynamicDim(index, "Dim.DYNAMIC")
    if isinstance(expr, cst.Call) and semantic.qualified_name(expr.func, stack) in {
        "torch.export.Dim",
        "torch.export.dynamic_shapes.Dim",
    }:
        name = expr.args[0].value if expr.args and expr.args[0].keyword is None else None
        label = name.evaluated_value if isinstance(name, cst.SimpleString) else "Dim"
        low, high = _keyword(expr, "min"), _keyword(expr, "max")
        return DynamicDim(
            index,
            str(label),
            int_literal(low) if low is not None else None,
            int_literal(high) if high is not None else None,
            high is not None,
        )
    return None


def _dims_of_spec(semantic: SemanticModel, spec: cst.BaseExpression, stack) -> dict[int, DynamicDim] | None:
    spec = _resolve_literal(semantic, spec, stack)
    if not isinstance(spec, cst.Dict):
        return None
    dims: dict[int, DynamicDim] = {}
    for element in spec.elements:
        if not isinstance(element, cst.DictElement):
            return None
        position = int_literal(element.key)
        if position is None or position < 0:
            return None
        dim = _dim_of(semantic, element.value, stack, position)
        if dim is not None:
            dims[position] = dim
    return dims


def _target_class(semantic: SemanticModel, call: cst.Call, stack) -> ClassInfo | None:
    target = next((arg.value for arg in call.args if arg.keyword is None and not arg.star), None)
    target = target if target is not None else _keyword(call, "mod")
    if target is None:
        return None
    target = _strip_module_calls(_resolve_literal(semantic, _strip_module_calls(target), stack))
    if not isinstance(target, cst.Call):
        return None
    qualified = semantic.qualified_name(target.func, stack)
    prefix = f"{semantic.module_name}."
    if qualified is None or not qualified.startswith(prefix):
        return None
    return semantic.classes.get(qualified[len(prefix) :])


def _strictness(call: cst.Call, torch_version: str) -> bool | None:
    value = _keyword(call, "strict")
    if value is None:
        return versions.strict_by_default(torch_version)
    if isinstance(value, cst.Name) and value.value in {"True", "False"}:
        return value.value == "True"
    return None


def export_modes(semantic: SemanticModel, torch_version: str) -> dict[str, ExportMode]:
    """Local module class name -> what the file's export calls declare for it."""
    found: dict[str, ExportMode] = {}
    for call, stack in _export_calls(semantic):
        info = _target_class(semantic, call, stack)
        if info is None:
            continue
        strict = _strictness(call, torch_version)
        dynamic: dict[str, dict[int, DynamicDim]] = {}
        spec = _keyword(call, "dynamic_shapes")
        forward = semantic.find_method(info, "forward")
        if spec is not None and forward is not None:
            dynamic = _dynamic_params(semantic, _resolve_literal(semantic, spec, stack), forward, stack) or {}
        previous = found.get(info.name)
        if previous is not None:
            # Several exports of one class: only what they all declare, strict only if all agree.
            dynamic = {
                param: {i: d for i, d in dims.items() if i in previous.dynamic.get(param, {})}
                for param, dims in dynamic.items()
                if param in previous.dynamic
            }
            strict = strict if strict == previous.strict else None
        tensors = _tensor_arguments(semantic, call, forward, stack) if forward is not None else frozenset()
        if previous is not None:
            tensors &= previous.tensor_params
        found[info.name] = ExportMode(dynamic, strict, tensors)
    return found


_TENSOR_FACTORIES = frozenset(
    {"randn", "rand", "randint", "zeros", "ones", "full", "empty", "tensor", "arange", "as_tensor", "randn_like"}
)


def _tensor_arguments(semantic: SemanticModel, call: cst.Call, forward: cst.FunctionDef, stack) -> frozenset[str]:
    """Forward parameters the export call's literal ``args`` tuple fills with ``torch.randn(...)``-made tensors."""
    args = next((arg.value for arg in call.args[1:2] if arg.keyword is None), None) or _keyword(call, "args")
    if args is None:
        return frozenset()
    args = _resolve_literal(semantic, args, stack)
    if not isinstance(args, (cst.Tuple, cst.List)):
        return frozenset()
    params = forward.params
    names = [p.name.value for p in (*params.posonly_params, *params.params)][1:]
    found = set()
    for name, element in zip(names, args.elements, strict=False):
        value = _resolve_literal(semantic, element.value, stack)
        while (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value
            in {
                "to",
                "float",
                "long",
                "abs",
                "__add__",
            }
        ):
            value = value.func.value
        if isinstance(value, cst.BinaryOperation):
            value = value.left
        if isinstance(value, cst.Call):
            qualified = semantic.qualified_name(value.func, stack) or ""
            if qualified.startswith("torch.") and qualified.rsplit(".", 1)[-1] in _TENSOR_FACTORIES:
                found.add(name)
    return frozenset(found)


def _dynamic_params(semantic, spec, forward: cst.FunctionDef, stack) -> dict[str, dict[int, DynamicDim]] | None:
    params = forward.params
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)][1:]
    result: dict[str, dict[int, DynamicDim]] = {}
    if isinstance(spec, cst.Dict):
        for element in spec.elements:
            if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
                return None
            key = element.key.evaluated_value
            if key not in names:
                return None
            dims = _dims_of_spec(semantic, element.value, stack)
            if dims:
                result[str(key)] = dims
        return result
    if isinstance(spec, (cst.Tuple, cst.List)):
        for position, element in enumerate(spec.elements):
            if position >= len(names) or element.value is None:
                return None
            if isinstance(element.value, cst.Name) and element.value.value == "None":
                continue
            dims = _dims_of_spec(semantic, element.value, stack)
            if dims:
                result[names[position]] = dims
        return result
    return None
