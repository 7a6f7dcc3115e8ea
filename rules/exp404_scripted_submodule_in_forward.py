"""## What it does
Finds traced code that calls a submodule which `__init__` compiled with `torch.jit.script`
(`self.inner = torch.jit.script(Inner())`, then `self.inner(x)` in `forward`).

## Why is this bad?
torch.export cannot trace into a TorchScript module. Measured on torch 2.14.1
(`scripts/measure_side_effects.py`):

- strict: `torch._dynamo.exc.Unsupported: torch.jit.script/freeze modules unsupported`
- non-strict: `TypeError: Inner.forward() takes 2 positional arguments but 3 were given`

A scripted submodule that `forward` never calls does not get in the way, and neither does a
`@torch.jit.script` *function* called from `forward` (both export). A `torch.jit.trace`d submodule
fails in strict mode only (`Unsupported: Attempted to inline function marked as skipped`) and is
not reported.

## Example
```python
class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = torch.jit.script(Inner())

    def forward(self, x):
        return self.inner(x) + 1
```

## Use instead
Keep the eager module for export (script it separately where TorchScript is still needed):
```python
        self.inner = Inner()
```

## Fix safety
Unsafe: the fix removes `torch.jit.script(...)` around the submodule, so code that relied on the
submodule being a `ScriptModule` (saving it with `torch.jit.save`) changes behaviour.

## References
- torch.export docs, "torch.export vs TorchScript": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import init_assignment, traced_self_attribute
from export_lint.diagnostics import Applicability, Fix
from export_lint.rule import Invalid, Rule, Valid

_SCRIPT = frozenset({"torch.jit.script", "torch.jit._script.script"})


class ScriptedSubmoduleInForward(Rule):
    """Traced code calls a `torch.jit.script`-compiled submodule."""

    code = "EXP404"
    requires = ("class", "script")
    traced_only = True
    name = "scripted-submodule-in-forward"
    message = "`self.{attribute}` is a `torch.jit.script` module called in traced code: torch.export cannot trace it"
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import torch


            def double(x: torch.Tensor) -> torch.Tensor:
                return x * 2


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.inner = torch.nn.Linear(3, 3)
                    self.scripted = torch.jit.script(torch.nn.Linear(3, 3))

                def forward(self, x):
                    return double(self.inner(x))


            torch.export.export(Model(), (torch.randn(2, 3),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.inner = torch.jit.script(torch.nn.Linear(3, 3))

                def forward(self, x):
                    return self.inner(x) + 1


            torch.export.export(Model(), (torch.randn(2, 3),))
            """,
            after="""
            import torch


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.inner = torch.nn.Linear(3, 3)

                def forward(self, x):
                    return self.inner(x) + 1


            torch.export.export(Model(), (torch.randn(2, 3),))
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        found = traced_self_attribute(self.semantic, node.func)
        if found is None:
            return
        info, _receiver, attribute = found
        assignment = init_assignment(self.semantic, info, attribute)
        if assignment is None:
            return
        value = assignment.value
        module_scope = [self.semantic.module]
        if not isinstance(value, cst.Call) or self.semantic.qualified_name(value.func, module_scope) not in _SCRIPT:
            return
        scripted = value.args[0].value if value.args else None
        # Only a module instance is known to fail (a scripted function is a different object).
        if not (
            isinstance(scripted, cst.Call)
            and self.semantic.is_module_class_name(self.semantic.qualified_name(scripted.func, module_scope))
        ):
            return
        self.report(node, self._fix(value), attribute=attribute)

    def _fix(self, script_call: cst.Call) -> Fix | None:
        if len(script_call.args) != 1 or script_call.args[0].keyword is not None:
            return None
        inner = script_call.args[0].value
        if not isinstance(inner, cst.Call):
            return None
        return self.fix("Keep the eager submodule", self.context.replace(script_call, self.context.code(inner)))
