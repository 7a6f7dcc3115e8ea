"""## What it does
Finds `torch.export.export` calls on a freshly built model that was never put in eval mode, when
the model has layers that behave differently in training (`Dropout`, `BatchNorm`, or its own code
reading `self.training`).

## Why is this bad?
An `nn.Module` starts in training mode, and torch.export records the mode it finds. Measured on
torch 2.14.1, strict and non-strict (`scripts/measure_side_effects.py`): a model with `Dropout`
exports `aten.dropout` (random masks on every call) and one with `BatchNorm` normalises with the
batch's statistics; the exported program's outputs differ from the eval-mode model's, and nothing
warns. The mode cannot be changed afterwards: `ep.module().eval()` raises
`NotImplementedError: Calling eval() is not supported yet.`

The rule stays silent when the model is used in any way that might set its mode (`m.eval()`,
`m.train(...)`, `m` passed to another function), when it cannot see the model's layers (a class
from another package), and when the code says the training graph is wanted: the export is
`torch.export.export_for_training`, or the same function (or script) trains or prepares for
quantization-aware training (`loss.backward()`, a `torch.optim` optimizer, `prepare_qat_pt2e`,
`move_exported_model_to_train`).

## Example
```python
model = Net()  # has nn.Dropout
ep = torch.export.export(model, (x,))
```

## Use instead
```python
model = Net()
model.eval()
ep = torch.export.export(model, (x,))
```

## Fix safety
Unsafe: the fix calls `eval()` on the model before export, so later code that trains the same
object would have to switch it back with `model.train()`. Export a training graph on purpose?
Add `# noqa: EXP501`.

## References
- torch.export docs, "Exporting a model for inference": https://pytorch.org/docs/stable/export.html
- `torch.nn.Module.eval`
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.module_state import mentions_name
from export_lint.analysis.semantic import ClassInfo, dotted_name
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, RuleContext, Valid, shorten
from export_lint.traversal import visit

#: torch.nn layers whose output depends on the training flag.
_TRAIN_DEPENDENT_PREFIXES = (
    "torch.nn.Dropout",
    "torch.nn.AlphaDropout",
    "torch.nn.FeatureAlphaDropout",
    "torch.nn.BatchNorm",
    "torch.nn.SyncBatchNorm",
    "torch.nn.LazyBatchNorm",
    "torch.nn.Transformer",
    "torch.nn.functional.dropout",
    "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout",
    "torch.nn.functional.batch_norm",
)
_CONTAINERS = frozenset({"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"})
_MODE_METHODS = frozenset({"eval", "train"})
#: Exports whose name says they produce the training graph.
_TRAINING_EXPORTS = frozenset({"torch.export.export_for_training"})
#: Calls that train, or prepare an exported graph for training (quantization-aware training).
_TRAINING_CALLS = frozenset({"backward", "prepare_qat_pt2e", "prepare_qat_fx", "move_exported_model_to_train"})


class ExportInTrainingMode(Rule):
    """A model with Dropout/BatchNorm is exported without `eval()`."""

    code = "EXP501"
    requires = ("export",)
    traced_only = True
    name = "export-in-training-mode"
    message = (
        "`{target}` is exported in training mode (it has {reason}): the exported program keeps training "
        "behaviour; call `.eval()` first"
    )
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import torch


            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = torch.nn.Linear(4, 4)
                    self.drop = torch.nn.Dropout(0.5)

                def forward(self, x):
                    return self.drop(self.lin(x))


            model = Net()
            model.eval()
            ep = torch.export.export(model, (torch.randn(2, 4),))
            x = torch.randn(2, 4)
            assert torch.allclose(ep.module()(x), model(x))
            """
        ),
        Valid(
            """
            import torch


            def prepare(model):
                return model.eval()


            class Plain(torch.nn.Module):
                def forward(self, x):
                    return x.relu()


            torch.export.export(Plain(), (torch.randn(2, 4),))
            model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout())
            prepare(model)
            torch.export.export(model, (torch.randn(2, 4),))
            """
        ),
        # A deliberate training-IR export: the name says so (removed in torch 2.9, so not run here).
        Valid(
            """
            import torch

            model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
            ep = torch.export.export_for_training(model, (torch.randn(2, 4),))
            """,
            proves=False,
        ),
        # The exported graph is trained: the training mode is wanted.
        Valid(
            """
            import torch

            model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
            ep = torch.export.export(model, (torch.randn(2, 4),))
            trainable = ep.module()
            loss = trainable(torch.randn(2, 4)).sum()
            loss.backward()
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = torch.nn.Linear(4, 4)
                    self.drop = torch.nn.Dropout(0.5)

                def forward(self, x):
                    return self.drop(self.lin(x))


            model = Net()
            ep = torch.export.export(model, (torch.randn(2, 4),))
            reference = Net()
            reference.load_state_dict(model.state_dict())
            reference.eval()
            x = torch.randn(2, 4)
            assert torch.allclose(ep.module()(x), reference(x)), "the exported program applies dropout"
            """,
            after="""
            import torch


            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = torch.nn.Linear(4, 4)
                    self.drop = torch.nn.Dropout(0.5)

                def forward(self, x):
                    return self.drop(self.lin(x))


            model = Net()
            model.eval()
            ep = torch.export.export(model, (torch.randn(2, 4),))
            reference = Net()
            reference.load_state_dict(model.state_dict())
            reference.eval()
            x = torch.randn(2, 4)
            assert torch.allclose(ep.module()(x), reference(x)), "the exported program applies dropout"
            """,
        ),
        Invalid(
            """
            import torch
            from torch import nn

            x = torch.randn(8, 4) * 3 + 1
            ep = torch.export.export(nn.BatchNorm1d(4), (x,), strict=True)
            expected = nn.BatchNorm1d(4).eval()(x)
            assert torch.allclose(ep.module()(x), expected, atol=1e-4), "the exported program uses batch statistics"
            """,
            after="""
            import torch
            from torch import nn

            x = torch.randn(8, 4) * 3 + 1
            ep = torch.export.export(nn.BatchNorm1d(4).eval(), (x,), strict=True)
            expected = nn.BatchNorm1d(4).eval()(x)
            assert torch.allclose(ep.module()(x), expected, atol=1e-4), "the exported program uses batch statistics"
            """,
        ),
    ]

    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        self._training_scopes: dict[int, bool] = {}

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.is_export_call(node) or not node.args or node.args[0].keyword is not None:
            return
        if self._training_on_purpose(node):
            return
        target = node.args[0].value
        if isinstance(target, cst.Call):
            reason = self._train_dependent(target, set())
            if reason is not None:
                fix = self.fix(
                    "Call `.eval()` on the model", self.context.replace(target, self.context.code(target) + ".eval()")
                )
                self.report(target, fix, target=shorten(self.context.code(target), 40), reason=reason)
        elif isinstance(target, cst.Name):
            self._check_name(node, target)

    def _check_name(self, call: cst.Call, target: cst.Name) -> None:
        binding = self.semantic.binding(target.value)
        assignment = binding.node
        if (
            binding.kind != "assign"
            or not isinstance(assignment, cst.Assign)
            or not isinstance(assignment.value, cst.Call)
        ):
            return
        scope = self.semantic.scopes()[0]
        if not self._only_built_and_exported(scope, target.value, call):
            return
        reason = self._train_dependent(assignment.value, set())
        if reason is None:
            return
        statement = self.semantic.enclosing(cst.SimpleStatementLine)
        fix = None
        if statement is not None:
            fix = self.fix(
                "Call `.eval()` before export",
                self.context.insert_before_statement(statement, f"{target.value}.eval()"),
            )
        self.report(target, fix, target=target.value, reason=reason)

    def _training_on_purpose(self, call: cst.Call) -> bool:
        """Whether the code says the export wants the training graph: export_for_training, or a
        training/QAT step in the same scope."""
        if self.semantic.qualified_name(call.func) in _TRAINING_EXPORTS:
            return True
        scope = self.semantic.scopes()[0]
        if id(scope) not in self._training_scopes:  # one walk per scope, however many exports it holds
            self._training_scopes[id(scope)] = self._has_training_step(scope)
        return self._training_scopes[id(scope)]

    def _has_training_step(self, scope: cst.CSTNode) -> bool:
        semantic = self.semantic
        found = False

        class _Training(cst.CSTVisitor):
            def visit_Call(self, node: cst.Call) -> bool:
                nonlocal found
                name = dotted_name(node.func) or ""
                if name.rsplit(".", 1)[-1] in _TRAINING_CALLS or (
                    name and (semantic.qualified_name(node.func, [semantic.module]) or "").startswith("torch.optim.")
                ):
                    found = True
                return not found

        visit(scope, _Training())
        return found

    def _only_built_and_exported(self, scope: cst.CSTNode, name: str, export_call: cst.Call) -> bool:
        """True when the scope assigns `name` once and never calls a mode method on it or passes it on."""
        assignments = 0
        escapes = False

        class _Uses(cst.CSTVisitor):
            def visit_Assign(self, node: cst.Assign) -> None:
                nonlocal assignments
                for target in node.targets:
                    if isinstance(target.target, cst.Name) and target.target.value == name:
                        assignments += 1
                    elif not isinstance(target.target, cst.Name) and mentions_name(target.target, name):
                        assignments += 2  # unpacking: unknown

            def visit_Attribute(self, node: cst.Attribute) -> None:
                nonlocal escapes
                if isinstance(node.value, cst.Name) and node.value.value == name and node.attr.value in _MODE_METHODS:
                    escapes = True

            def visit_Call(self, node: cst.Call) -> None:
                nonlocal escapes
                if node is export_call:
                    return
                # Handing the model itself to another function may set its mode; `m.state_dict()` does not.
                if any(isinstance(arg.value, cst.Name) and arg.value.value == name for arg in node.args):
                    escapes = True

        visit(scope, _Uses())
        return assignments == 1 and not escapes

    def _train_dependent(self, constructor: cst.Call, seen: set[str]) -> str | None:
        """Why the module this call builds behaves differently in training, or None if unknown/not."""
        qualified = self.semantic.qualified_name(constructor.func, [self.semantic.module])
        if qualified is None:
            return None
        if qualified.startswith(_TRAIN_DEPENDENT_PREFIXES):
            return f"`{qualified.rsplit('.', 1)[-1]}`"
        if qualified in _CONTAINERS:
            for arg in constructor.args:
                if isinstance(arg.value, cst.Call):
                    reason = self._train_dependent(arg.value, seen)
                    if reason is not None:
                        return reason
            return None
        local = f"{self.semantic.module_name}."
        if not qualified.startswith(local) or qualified in seen:
            return None
        info = self.semantic.classes.get(qualified[len(local) :])
        if info is None or not self.semantic.is_module_class_name(qualified):
            return None
        seen.add(qualified)
        return self._class_train_dependent(info, seen)

    def _class_train_dependent(self, info: ClassInfo, seen: set[str]) -> str | None:
        rule = self
        found: list[str] = []

        class _Layers(cst.CSTVisitor):
            def visit_Call(self, node: cst.Call) -> None:
                if not found:
                    reason = rule._train_dependent(node, seen)
                    if reason is not None:
                        found.append(reason)

            def visit_Attribute(self, node: cst.Attribute) -> None:
                if not found and node.attr.value == "training":
                    found.append("code reading `self.training`")

        visit(info.node.body, _Layers())
        for base in info.base_names:
            if not found and base and base.startswith(f"{self.semantic.module_name}."):
                base_info = self.semantic.classes.get(base.rsplit(".", 1)[-1])
                if base_info is not None and base not in seen:
                    seen.add(base)
                    reason = self._class_train_dependent(base_info, seen)
                    if reason is not None:
                        found.append(reason)
        return found[0] if found else None
