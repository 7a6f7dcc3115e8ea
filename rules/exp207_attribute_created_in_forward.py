"""## What it does
Finds traced code that assigns a module attribute `__init__` never set (`self.last = x * 2` in
`forward`), or one `__init__` sets to `None` when the code is exported strictly, when the target
torch is older than 2.10.

## Why is this bad?
Before torch 2.10, export refuses a module whose `forward` creates attributes. Measured by the
torch matrix (`scripts/torch_matrix.py`, docs/torch-versions.md) with `self.last = x * 2`:

    torch 2.4-2.9, strict=True:      AssertionError: Mutating module attribute last during export.
    torch 2.4-2.7, strict=False:     ValueError: Node arity mismatch; expected 0, but got 1.
    torch 2.8-2.9, strict=False:     ... the following attrs were created in the model.forward: {'last'}

torch 2.10 and later export it (the attribute is then simply not part of the program). A list
(`self.items = [x]`) fails the same way, and so does a number in non-strict mode; a literal
(`self.n = 3`) is not reported, because strict export (the default before 2.8) accepts it. An
attribute `__init__` sets to `None` (`self.cache = None`) fails only in strict export (2.4-2.9:
`Mutating module attribute cache during export`); non-strict export accepts it, so it is reported
only where the file's export calls (or the target's default) are strict.
Attributes that `__init__` (or the class body) sets are EXP205's and EXP204's concern, and a class
with a base outside this file and `torch.nn` is skipped (the base may set the attribute).

## Example
```python
class Cache(torch.nn.Module):
    def forward(self, x):
        self.last = x * 2
        return x + 1
```

## Use instead
Return the value, or keep it in a buffer registered in `__init__` and write it in place:
```python
class Cache(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("last", torch.zeros(3))

    def forward(self, x):
        self.last.copy_(x * 2)
        return x + 1
```

## Fix safety
No automatic fix: whether the value belongs in the program is a design decision.

## References
- torch.export docs, "Non-strict export" and module state: https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import attribute_kinds, init_assignment, traced_self_attribute, training_only
from export_lint.analysis.values import queries
from export_lint.rule import Invalid, Rule, Valid

_TORCH_MODULE_BASES = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module"})

_CREATED = (
    "is created in traced code (`__init__` never sets it): torch.export before 2.10 rejects attributes "
    "assigned in forward"
)
_NONE_IN_INIT = (
    "(`None` in `__init__`) is assigned in strictly exported code: strict torch.export before 2.10 "
    "rejects it (`Mutating module attribute`)"
)

_NEW_TENSOR_ATTRIBUTE = """
import torch


class Cache(torch.nn.Module):
    def forward(self, x):
        self.last = x * 2
        return x + 1


torch.export.export(Cache(), (torch.randn(3),), strict={strict})
"""


class AttributeCreatedInForward(Rule):
    """Traced code creates a module attribute (export rejects it before torch 2.10)."""

    code = "EXP207"
    requires = ("class",)
    traced_only = True
    name = "attribute-created-in-forward"
    message = "`self.{attribute}` {detail}"
    torch_versions = "<2.10"

    VALID = [
        Valid(
            """
            import torch


            class Cache(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("last", torch.zeros(3))

                def forward(self, x):
                    self.last.copy_(x * 2)
                    return x + 1


            torch.export.export(Cache(), (torch.randn(3),), strict=True)
            """,
            torch_version="2.5",
        ),
        Valid(
            """
            import torch


            class Cache(torch.nn.Module):
                def forward(self, x):
                    if self.training:
                        self.last = x * 2
                    return x + 1


            torch.export.export(Cache().eval(), (torch.randn(3),), strict=False)
            """,
            torch_version="2.5",
        ),
        # A literal: strict export (the default before 2.8) accepts it (torch 2.7.1, strict=True).
        Valid(
            """
            import torch


            class Flagged(torch.nn.Module):
                def forward(self, x):
                    self.seen = True
                    return x + 1
            """,
            torch_version="2.5",
            proves=False,
        ),
    ]
    INVALID = [
        Invalid(_NEW_TENSOR_ATTRIBUTE.format(strict="True"), torch_version="2.5"),
        Invalid(_NEW_TENSOR_ATTRIBUTE.format(strict="False"), torch_version="2.9"),
        Invalid(
            """
            import torch


            class Cache(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.last = None

                def forward(self, x):
                    self.last = x * 2
                    return x + 1


            torch.export.export(Cache(), (torch.randn(3),), strict=True)
            """,
            torch_version="2.8",
        ),
    ]

    def visit_Assign(self, node: cst.Assign) -> None:
        if _is_literal(node.value):
            return
        for target in node.targets:
            self._check(target.target, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and not _is_literal(node.value):
            self._check(node.target, node)

    def _check(self, target: cst.BaseExpression, node: cst.CSTNode) -> None:
        found = traced_self_attribute(self.semantic, target)
        if found is None or training_only(self.semantic):
            return
        info, _receiver, attribute = found
        kinds = attribute_kinds(self.semantic, info)
        if "*" in kinds or not self._bases_known(info):
            return
        if attribute not in kinds:
            self.report(node, attribute=attribute, detail=_CREATED)
            return
        init = init_assignment(self.semantic, info, attribute)
        if (
            init is not None
            and _is_none(init.value)
            and not queries.traced_non_strict(self.semantic, self.context.torch_version)
        ):
            self.report(node, attribute=attribute, detail=_NONE_IN_INIT)

    def _bases_known(self, info) -> bool:
        """Every base is a class of this file or ``torch.nn.Module`` (nothing else can set attributes)."""
        prefix = f"{self.semantic.module_name}."
        for current in self.semantic.class_and_local_bases(info):
            for base in current.base_names:
                if base in _TORCH_MODULE_BASES:
                    continue
                if base is None or not base.startswith(prefix) or base[len(prefix) :] not in self.semantic.classes:
                    return False
        return True


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _is_literal(expr: cst.BaseExpression) -> bool:
    """A number, string, ``True``/``False``/``None`` (possibly negated)."""
    if isinstance(expr, cst.UnaryOperation):
        return _is_literal(expr.expression)
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        return True
    return isinstance(expr, cst.Name) and expr.value in {"True", "False", "None"}
