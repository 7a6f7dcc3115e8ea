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
A wrapper module whose `forward` calls the method. The wrapper also registers the owner's
`nn.Module` attributes as submodules: without that, the owner's weights are lifted into the
exported program as constants instead of parameters.
```python
class PredictExportWrapper(torch.nn.Module):
    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        for name, value in vars(owner).items():
            if isinstance(value, torch.nn.Module) and not hasattr(self, name):
                self.add_module(name, value)

    def forward(self, *args, **kwargs):
        return self.owner._predict(*args, **kwargs)

...
torch.export.export(PredictExportWrapper(self), args=(coords, labels), strict=False)
```

## Fix safety
Safe: the generated wrapper calls the original callable with the same arguments, so the exported
program computes what the callable computes. The fix adds `import torch` when the file lacks it.

## References
- torch.export docs: https://pytorch.org/docs/stable/export.html
- torch.export cookbook, "Promptable Image Segmentation with SAM2"
"""

from __future__ import annotations

import libcst as cst

from export_lint.diagnostics import Applicability, Edit, Fix
from export_lint.rule import Invalid, Rule, Valid, shorten

_PROPERTY_DECORATORS = frozenset({"property", "functools.cached_property", "cached_property"})

_METHOD_WRAPPER = '''\
class {name}({torch}.nn.Module):
    """Lets torch.export trace `{owner}.{method}`, which is not an nn.Module (export-lint EXP001)."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        # Register the owner's modules so their weights export as parameters, not constants.
        for name, value in vars(owner).items():
            if isinstance(value, {torch}.nn.Module) and not hasattr(self, name):
                self.add_module(name, value)

    def forward(self, *args, **kwargs):
        return self.owner.{method}(*args, **kwargs)
'''

_CALLABLE_WRAPPER = '''\
class {name}({torch}.nn.Module):
    """Lets torch.export trace `{target}`, which is not an nn.Module (export-lint EXP001)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args, **kwargs):
        return self.fn(*args, **kwargs)
'''


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Target"


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


            Predictor(torch.nn.Linear(3, 3)).predict(torch.randn(2, 3))
            """,
            after='''
            import torch


            class PredictExportWrapper(torch.nn.Module):
                """Lets torch.export trace `Predictor._predict`, which is not an nn.Module (export-lint EXP001)."""

                def __init__(self, owner):
                    super().__init__()
                    self.owner = owner
                    # Register the owner's modules so their weights export as parameters, not constants.
                    for name, value in vars(owner).items():
                        if isinstance(value, torch.nn.Module) and not hasattr(self, name):
                            self.add_module(name, value)

                def forward(self, *args, **kwargs):
                    return self.owner._predict(*args, **kwargs)


            class Predictor:
                def __init__(self, model):
                    self.model = model

                def _predict(self, x):
                    return self.model(x) * 2

                def predict(self, x):
                    return torch.export.export(PredictExportWrapper(self), (x,), strict=False)


            Predictor(torch.nn.Linear(3, 3)).predict(torch.randn(2, 3))
            ''',
        ),
        Invalid(
            """
            from torch import ones
            from torch.export import export as ex


            def double(x):
                return x * 2


            ep = ex(double, (ones(3),))
            """,
            after='''
            from torch import ones
            from torch.export import export as ex
            import torch


            def double(x):
                return x * 2


            class DoubleExportWrapper(torch.nn.Module):
                """Lets torch.export trace `double`, which is not an nn.Module (export-lint EXP001)."""

                def __init__(self, fn):
                    super().__init__()
                    self.fn = fn

                def forward(self, *args, **kwargs):
                    return self.fn(*args, **kwargs)


            ep = ex(DoubleExportWrapper(double), (ones(3),))
            ''',
        ),
        Invalid(
            """
            import torch

            ep = torch.export.export(lambda x: x.sin(), (torch.randn(3),))
            """,
            after='''
            import torch

            class LambdaExportWrapper(torch.nn.Module):
                """Lets torch.export trace `lambda x: x.sin()`, which is not an nn.Module (export-lint EXP001)."""

                def __init__(self, fn):
                    super().__init__()
                    self.fn = fn

                def forward(self, *args, **kwargs):
                    return self.fn(*args, **kwargs)


            ep = torch.export.export(LambdaExportWrapper(lambda x: x.sin()), (torch.randn(3),))
            ''',
        ),
        Invalid(
            """
            import functools

            import torch


            def scale(x, factor):
                return x * factor


            ep = torch.export.export(functools.partial(scale, factor=3.0), (torch.randn(3),))
            """,
            after='''
            import functools

            import torch


            def scale(x, factor):
                return x * factor


            class ScaleExportWrapper(torch.nn.Module):
                """Lets torch.export trace `functools.partial(scale, factor=3.0)`, which is not an nn.Module (export-lint EXP001)."""

                def __init__(self, fn):
                    super().__init__()
                    self.fn = fn

                def forward(self, *args, **kwargs):
                    return self.fn(*args, **kwargs)


            ep = torch.export.export(ScaleExportWrapper(functools.partial(scale, factor=3.0)), (torch.randn(3),))
            ''',
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.is_export_call(node):
            return
        target = _target_argument(node)
        if target is None:
            return
        classified = self._classify(target)
        if classified is None:
            return
        kind, wrapper_base, owner_method = classified
        self.report(
            target,
            self._wrapper_fix(target, wrapper_base, owner_method),
            target=shorten(self.context.code(target), 60),
            kind=kind,
        )

    def _classify(self, target: cst.BaseExpression) -> tuple[str, str, tuple[str, str] | None] | None:
        """(kind, wrapper name stem, (owner class, method) for bound methods) or None if not a hazard."""
        if isinstance(target, cst.Lambda):
            return "a lambda", "Lambda", None
        if isinstance(target, cst.Call) and self.semantic.qualified_name(target.func) == "functools.partial":
            inner = target.args[0].value if target.args else None
            stem = inner.value if isinstance(inner, cst.Name) else "Partial"
            return "a `functools.partial`", _camel(stem), None
        if isinstance(target, cst.Name):
            if self.semantic.binding(target.value).kind == "function":
                return "a function", _camel(target.value), None
            return None
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
            return "a bound method", _camel(target.attr.value), (info.name, target.attr.value)
        return None

    def _wrapper_fix(self, target: cst.BaseExpression, stem: str, owner_method: tuple[str, str] | None) -> Fix:
        context = self.context
        torch_name = context.torch_alias()
        import_edit = None
        if torch_name is None:
            torch_name = "torch"
            import_edit = context.module_import_edit("import torch")
        name = f"{stem}ExportWrapper"
        existing = self.semantic.classes.get(name)
        class_edit: Edit | None = None
        if existing is None:
            if owner_method is not None:
                owner, method = owner_method
                text = _METHOD_WRAPPER.format(name=name, torch=torch_name, owner=owner, method=method)
            else:
                text = _CALLABLE_WRAPPER.format(name=name, torch=torch_name, target=shorten(context.code(target), 60))
            text = text.replace("\n", context.newline)
            statement = self.semantic.stack[1]  # the top-level statement holding the call
            anchor = statement.decorators[0] if getattr(statement, "decorators", None) else statement
            start, _ = context.span(anchor)
            line_start = context.lines.line_start(start)
            blank = context.newline * 2
            class_edit = Edit(line_start, line_start, text + blank)
        argument = "self" if owner_method is not None else context.code(target)
        call_edit = context.replace(target, f"{name}({argument})")
        return self.fix(f"Wrap the target in `{name}`, an `nn.Module`", import_edit, class_edit, call_edit)


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
