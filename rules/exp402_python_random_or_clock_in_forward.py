"""## What it does
Finds calls to Python's `random` module, `numpy.random` or the clock (`time.time()`,
`time.perf_counter()`, `datetime.now()`...) in traced code.

## Why is this bad?
These are Python values, not tensor operations. Measured on torch 2.14.1
(`scripts/measure_side_effects.py`):

- Non-strict export (the default since torch 2.8) calls them once while tracing and bakes the
  result into the program as a constant: the exported module returns the same "random" factor or
  timestamp on every call, unlike eager. Nothing warns.
- Strict export fails: `random.random()` with
  `AssertionError: Dynamo attempts to add additional input during export`, `np.random.rand()` with
  `UserError: Could not guard on data-dependent expression`, `time.time()` / `time.perf_counter()`
  with `Unsupported: Attempted to call function marked as skipped`.

Calls that only run in training are not reported (under `if self.training:`, after
`if not self.training: return`, in a helper called only from such places), nor a draw whose every
use is a condition that also tests `self.training` (`p = random.random()` then
`if self.training and p < self.layerdrop:`, the LayerDrop idiom): an exported inference model
does not run or use them.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x * random.random()
```

## Use instead
Tensor randomness, which the exported program draws on each call (`torch.rand(())`), or pass the
value in as an input.

## Fix safety
No automatic fix: whether the value should be random per call, an input, or a constant is the
author's decision.

## References
- torch.export docs, "Tracing: Python values are specialized": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import mentions_training, training_only
from export_lint.rule import Invalid, Rule, Valid
from export_lint.traversal import visit

_CLOCKS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.process_time",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
    }
)
_RANDOM_PREFIXES = ("random.", "numpy.random.")
#: Names in those modules that are not draws (classes and seeding are set-up, not a value).
_NOT_DRAWS = frozenset(
    {
        "random.Random",
        "random.SystemRandom",
        "random.seed",
        "numpy.random.seed",
        "numpy.random.default_rng",
        "numpy.random.Generator",
    }
)


class PythonRandomOrClockInForward(Rule):
    """Traced code draws a Python/NumPy random number or reads the clock."""

    code = "EXP402"
    requires = ("class",)
    traced_only = True
    name = "python-random-or-clock-in-forward"
    message = (
        "`{call}` in traced code: non-strict export bakes the value it returned at trace time, strict export fails"
    )

    VALID = [
        Valid(
            """
            import random

            import torch


            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layerdrop = 0.1

                def forward(self, x):
                    if self.training and random.random() < self.layerdrop:
                        return x
                    return x * torch.rand(())


            random.seed(0)
            torch.export.export(Model().eval(), (torch.randn(3),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import random

            import torch


            class Jitter(torch.nn.Module):
                def forward(self, x):
                    return x * random.random()


            exported = torch.export.export(Jitter(), (torch.randn(3),)).module()
            x = torch.ones(3)
            random.seed(0)
            first, second = exported(x), exported(x)
            assert not torch.allclose(first, second), "the exported program repeats one trace-time random number"
            """
        ),
        Invalid(
            """
            import time

            import torch


            class Stamp(torch.nn.Module):
                def forward(self, x):
                    return x + time.perf_counter()


            torch.export.export(Stamp(), (torch.randn(3),), strict=True)
            """
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.semantic.qualified_name(node.func)
        if qualified is None or qualified in _NOT_DRAWS:
            return
        if qualified not in _CLOCKS and not qualified.startswith(_RANDOM_PREFIXES):
            return
        if not self.semantic.in_traced_code() or training_only(self.semantic) or self._only_feeds_training_tests(node):
            return
        self.report(node, call=qualified + "()")

    def _only_feeds_training_tests(self, call: cst.Call) -> bool:
        """`p = random.random()` whose every use is a test that also checks `self.training` (LayerDrop)."""
        stack = self.semantic.stack
        assign = stack[-2] if len(stack) >= 2 else None
        function = self.semantic.enclosing(cst.FunctionDef)
        if not (
            isinstance(assign, cst.Assign)
            and assign.value is call
            and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name)
            and isinstance(function, cst.FunctionDef)
        ):
            return False
        name = assign.targets[0].target.value
        reads, guarded = _reads(function.body, name, assign), 0
        for test in _training_tests(function.body):
            guarded += len(_reads(test, name, assign))
        return bool(reads) and guarded == len(reads)


def _reads(root: cst.CSTNode, name: str, skip: cst.CSTNode) -> list[cst.Name]:
    found: list[cst.Name] = []

    class _Names(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> bool:
            return node is not skip

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                found.append(node)

    visit(root, _Names())
    return found


def _training_tests(root: cst.CSTNode) -> list[cst.BaseExpression]:
    """Outermost conditions (`if`/ternary tests, `and`/`or` chains) that mention `.training`."""
    tests: list[cst.BaseExpression] = []

    class _Tests(cst.CSTVisitor):
        def _take(self, expr: cst.BaseExpression) -> None:
            if mentions_training(expr):
                tests.append(expr)

        def visit_If(self, node: cst.If) -> None:
            self._take(node.test)

        def visit_IfExp(self, node: cst.IfExp) -> None:
            self._take(node.test)

        def visit_While(self, node: cst.While) -> None:
            self._take(node.test)

        def visit_BooleanOperation(self, node: cst.BooleanOperation) -> bool:
            self._take(node)
            return False

    visit(root, _Tests())
    unique: list[cst.BaseExpression] = []
    for test in tests:
        if not any(test is other for other in unique):
            unique.append(test)
    return unique
