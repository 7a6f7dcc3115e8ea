"""## What it does
Finds `torch.export.export` calls whose target is not an `nn.Module`: a bound method
(`self._predict`), a plain function, a lambda or a `functools.partial`.

## Why is this bad?
torch.export only exports modules. On every torch release with `torch.export` (measured on 2.14.1)
the call fails before tracing starts:

    ValueError: Expected `mod` to be an instance of `torch.nn.Module`, got <class 'method'>.

This is the SAM2 failure of the torch.export cookbook: `SAM2ImagePredictor.predict` exporting
`self._predict`.

## Example
```python
class Predictor:
    def predict(self, coords, labels):
        return torch.export.export(self._predict, args=(coords, labels), strict=False)
```

## Use instead
A module whose `forward` is the callable itself, so the exported program keeps the callable's own
signature (keyword `dynamic_shapes={"x": ...}` keys still match its parameter names). It also
registers the owner's `nn.Module` attributes as submodules: without that, the owner's weights are
lifted into the exported program as constants instead of parameters.
```python
class ExportWrapper(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.forward = fn
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, torch.nn.Module):
            self.owner = owner
        else:
            for name, value in getattr(owner, "__dict__", {}).items():
                if isinstance(value, torch.nn.Module) and not hasattr(self, name):
                    self.add_module(name, value)

...
torch.export.export(ExportWrapper(self._predict), args=(coords, labels), strict=False)
```
The fix writes one `ExportWrapper` class per file, above the first statement that needs it,
and every call site uses it.

## Fix safety
Safe: the exported program runs the original callable with the original arguments, under the
callable's own signature (so `args`, `kwargs` and `dynamic_shapes` mean what they meant), and the
owner's submodules export as parameters, as they would if the owner were a module. The code
before the fix cannot export at all (every call raises `ValueError`), so no working behaviour
changes, except for code that catches that `ValueError` to fall back to something else. The fix
adds `import torch` when the file lacks it above the wrapper, and is not offered when a name the
wrapper needs is not bound where it is inserted.

## References
- torch.export docs: https://pytorch.org/docs/stable/export.html
- torch.export cookbook, "Promptable Image Segmentation with SAM2"
"""

from __future__ import annotations

import textwrap

import libcst as cst

from export_lint.diagnostics import Applicability, Edit, Fix
from export_lint.rule import Invalid, Rule, Valid, shorten

_PROPERTY_DECORATORS = frozenset({"property", "functools.cached_property", "cached_property"})

WRAPPER_NAME = "ExportWrapper"
#: Marks a wrapper class as this fix's own, so later fixes in the file reuse it.
WRAPPER_MARK = "(export-lint EXP001)"

_WRAPPER = '''\
class {name}({torch}.nn.Module):
    """An nn.Module whose forward is a function or method, for torch.export {mark}.

    `forward` is the callable itself: its signature, and so the keys of `dynamic_shapes`, stay its own.
    """

    def __init__(self, fn):
        super().__init__()
        self.forward = fn
        # Register the owner's modules so their weights export as parameters, not constants.
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, {torch}.nn.Module):
            self.owner = owner
        else:
            for name, value in getattr(owner, "__dict__", {{}}).items():
                if isinstance(value, {torch}.nn.Module) and not hasattr(self, name):
                    self.add_module(name, value)
'''


def _with_wrapper(template: str) -> str:
    """An example's expected fix: the template with the wrapper class the fix writes."""
    wrapper = _WRAPPER.format(name=WRAPPER_NAME, torch="torch", mark=WRAPPER_MARK).rstrip("\n")
    return textwrap.dedent(template).replace("{wrapper}", wrapper)


class NonModuleExportTarget(Rule):
    """Export target is a method, function, lambda or partial instead of an nn.Module."""

    code = "EXP001"
    requires = ("export",)
    traced_only = True
    name = "non-module-export-target"
    message = "Export target `{target}` is {kind}, not an `nn.Module`: torch.export rejects it"
    fix_applicability = Applicability.SAFE

    VALID = [
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x + 1

            model = Model()
            ep = torch.export.export(model, (torch.randn(2),))
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x * 2

                def export(self, x):
                    return torch.export.export(self, (x,))
            """
        ),
        Valid(
            """
            import torch

            def export_any(target, x):
                return torch.export.export(target, (x,))
            """
        ),
        Valid(
            """
            def export(fn, args):
                return fn(*args)

            def double(x):
                return x * 2

            export(double, (3,))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch


            class Predictor:
                def __init__(self, model):
                    self.model = model

                def _predict(self, x):
                    return self.model(x) * 2

                def predict(self, x):
                    return torch.export.export(self._predict, (x,), strict=False)


            ep = Predictor(torch.nn.Linear(3, 3)).predict(torch.randn(2, 3))
            assert [name for name, _ in ep.named_parameters()] == ["model.weight", "model.bias"]
            """,
            after=_with_wrapper(
                """
                import torch


                {wrapper}


                class Predictor:
                    def __init__(self, model):
                        self.model = model

                    def _predict(self, x):
                        return self.model(x) * 2

                    def predict(self, x):
                        return torch.export.export(ExportWrapper(self._predict), (x,), strict=False)


                ep = Predictor(torch.nn.Linear(3, 3)).predict(torch.randn(2, 3))
                assert [name for name, _ in ep.named_parameters()] == ["model.weight", "model.bias"]
                """
            ),
        ),
        Invalid(
            """
            from torch import ones
            from torch.export import export as ex


            def double(x):
                return x * 2


            ep = ex(double, (ones(3),))
            """,
            after=_with_wrapper(
                """
                from torch import ones
                from torch.export import export as ex
                import torch


                def double(x):
                    return x * 2


                {wrapper}


                ep = ex(ExportWrapper(double), (ones(3),))
                """
            ),
        ),
        Invalid(
            """
            import torch

            ep = torch.export.export(lambda x: x.sin(), (torch.randn(3),))
            """,
            after=_with_wrapper(
                """
                import torch


                {wrapper}


                ep = torch.export.export(ExportWrapper(lambda x: x.sin()), (torch.randn(3),))
                """
            ),
        ),
        Invalid(
            """
            import functools

            import torch


            def scale(x, factor):
                return x * factor


            ep = torch.export.export(functools.partial(scale, factor=3.0), (torch.randn(3),))
            """,
            after=_with_wrapper(
                """
                import functools

                import torch


                def scale(x, factor):
                    return x * factor


                {wrapper}


                ep = torch.export.export(ExportWrapper(functools.partial(scale, factor=3.0)), (torch.randn(3),))
                """
            ),
        ),
        # Keyword dynamic_shapes keys name the callable's own parameters; two call sites, one wrapper.
        Invalid(
            """
            import torch


            def add(x, y):
                return x * 2 + y


            def triple(x):
                return x * 3


            batch = torch.export.Dim("batch", min=2, max=8)
            shapes = {"x": {0: batch}, "y": {0: batch}}
            first = torch.export.export(add, (torch.randn(2, 3), torch.randn(2, 3)), dynamic_shapes=shapes)
            second = torch.export.export(triple, (torch.randn(4),), strict=True)
            assert first.module()(torch.ones(5, 3), torch.ones(5, 3)).shape == (5, 3)
            """,
            count=2,
            after=_with_wrapper(
                """
                import torch


                def add(x, y):
                    return x * 2 + y


                def triple(x):
                    return x * 3


                batch = torch.export.Dim("batch", min=2, max=8)
                shapes = {"x": {0: batch}, "y": {0: batch}}


                {wrapper}


                first = torch.export.export(ExportWrapper(add), (torch.randn(2, 3), torch.randn(2, 3)), dynamic_shapes=shapes)
                second = torch.export.export(ExportWrapper(triple), (torch.randn(4),), strict=True)
                assert first.module()(torch.ones(5, 3), torch.ones(5, 3)).shape == (5, 3)
                """
            ),
        ),
        # A method of an nn.Module, exported strictly: the module's weights stay parameters.
        Invalid(
            """
            import torch


            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.linear = torch.nn.Linear(3, 3)

                def forward(self, x):
                    return self.linear(x)

                def embed(self, x):
                    return self.linear(x).relu()

                def export_embed(self, x):
                    batch = torch.export.Dim("batch", min=2, max=8)
                    return torch.export.export(self.embed, (x,), dynamic_shapes={"x": {0: batch}}, strict=True)


            ep = Net().export_embed(torch.randn(2, 3))
            assert [name for name, _ in ep.named_parameters()] == ["owner.linear.weight", "owner.linear.bias"]
            assert ep.module()(torch.randn(6, 3)).shape == (6, 3)
            """,
            after=_with_wrapper(
                """
                import torch


                {wrapper}


                class Net(torch.nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.linear = torch.nn.Linear(3, 3)

                    def forward(self, x):
                        return self.linear(x)

                    def embed(self, x):
                        return self.linear(x).relu()

                    def export_embed(self, x):
                        batch = torch.export.Dim("batch", min=2, max=8)
                        return torch.export.export(ExportWrapper(self.embed), (x,), dynamic_shapes={"x": {0: batch}}, strict=True)


                ep = Net().export_embed(torch.randn(2, 3))
                assert [name for name, _ in ep.named_parameters()] == ["owner.linear.weight", "owner.linear.bias"]
                assert ep.module()(torch.randn(6, 3)).shape == (6, 3)
                """
            ),
        ),
    ]

    def __init__(self, context) -> None:
        super().__init__(context)
        #: (wrapper name, the edit writing it or None when the file has it), shared by every call site.
        self._wrapper: tuple[str, Edit | None] | None = None
        self._import_edit: Edit | None = None

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.is_export_call(node):
            return
        target = _target_argument(node)
        if target is None:
            return
        kind = self._classify(target)
        if kind is None:
            return
        self.report(target, self._wrapper_fix(target), target=shorten(self.context.code(target), 60), kind=kind)

    def _classify(self, target: cst.BaseExpression) -> str | None:
        """What kind of non-module the target is, or None if it is not a hazard."""
        if isinstance(target, cst.Lambda):
            return "a lambda"
        if isinstance(target, cst.Call) and self.semantic.qualified_name(target.func) == "functools.partial":
            return "a `functools.partial`"
        if isinstance(target, cst.Name):
            return "a function" if self.semantic.binding(target.value).kind == "function" else None
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            enclosing = self.semantic.enclosing_method()
            if enclosing is None:
                return None
            info, method = enclosing
            params = method.params.params
            if not params or params[0].name.value != target.value.value:
                return None
            if any(
                self.semantic.qualified_name(d.decorator) in {"staticmethod", "classmethod"} for d in method.decorators
            ):
                return None
            found = self.semantic.find_method(info, target.attr.value)
            if found is None or any(
                self.semantic.qualified_name(d.decorator, [self.semantic.module]) in _PROPERTY_DECORATORS
                for d in found.decorators
            ):
                return None
            return "a bound method"
        return None

    def _wrapper_fix(self, target: cst.BaseExpression) -> Fix | None:
        context = self.context
        if self._wrapper is None:
            self._wrapper = self._wrapper_class(context.top_level_statement(target))
        if self._wrapper is None:
            return None
        name, class_edit = self._wrapper
        import_edit = self._import_edit
        call_edit = context.replace(target, f"{name}({context.code(target)})")
        return self.fix(f"Wrap the target in `{name}`, an `nn.Module`", import_edit, class_edit, call_edit)

    def _wrapper_class(self, statement: cst.BaseStatement) -> tuple[str, Edit | None] | None:
        """The file's wrapper class: its name, and the edit writing it above ``statement`` unless the
        file has it already (from an earlier fix)."""
        context = self.context
        name, suffix = WRAPPER_NAME, 2
        while (existing := self.semantic.classes.get(name)) is not None:
            if WRAPPER_MARK in context.code(existing.node):
                self._import_edit = None
                return name, None
            name, suffix = f"{WRAPPER_NAME}{suffix}", suffix + 1
        torch_name = context.torch_alias(at=statement)
        self._import_edit = None
        if torch_name is None:
            torch_name = "torch"
            self._import_edit = context.module_import_edit("import torch")
        text = _WRAPPER.format(name=name, torch=torch_name, mark=WRAPPER_MARK)
        return name, context.top_level_insertion(statement, text)


def _target_argument(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and arg.star == "":
            return arg.value
        if arg.keyword is not None and arg.keyword.value == "mod":
            return arg.value
        break
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "mod":
            return arg.value
    return None
