"""## What it does
Finds imports and calls of `torch._export.capture_pre_autograd_graph`, and rewrites them to
`torch.export.export(...).module()`.

## Why is this bad?
`capture_pre_autograd_graph` was deprecated in torch 2.5 and deleted in 2.7 (pytorch/pytorch#143426;
checked in the 2.6.0 and 2.7.0 wheels). Measured on torch 2.14.1 (`scripts/measure_side_effects.py`):

    ImportError: cannot import name 'capture_pre_autograd_graph' from 'torch._export'
    AttributeError: module 'torch._export' has no attribute 'capture_pre_autograd_graph'

## Example
```python
from torch._export import capture_pre_autograd_graph

graph_module = capture_pre_autograd_graph(model, (x,))
```

## Use instead
`torch.export.export` produces the same pre-dispatch ATen graph (it became the training IR in
2.6), and `.module()` turns the program into a callable `GraphModule` as before:
```python
graph_module = torch.export.export(model, (x,)).module()
```

## Fix safety
Unsafe: `capture_pre_autograd_graph` traced with TorchDynamo, while `torch.export.export` traces
non-strict by default since torch 2.8; a model may trace differently (pass `strict=True` to keep
Dynamo). The fix adds `import torch` when the file lacks it, and drops the import once no call is
left. A call passing `dynamic_shapes` positionally is reported without a fix (it is keyword-only in
`export`).

## References
- https://github.com/pytorch/pytorch/pull/143426 ("Kill capture_pre_autograd_graph API")
- torch.export docs: https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.api_migration import report_removed_imports, torch_module_name
from export_lint.diagnostics import Applicability
from export_lint.rule import Invalid, Rule, Valid

_REMOVED = frozenset({"torch._export.capture_pre_autograd_graph"})


class RemovedCapturePreAutogradGraph(Rule):
    """`torch._export.capture_pre_autograd_graph` is gone since torch 2.7."""

    code = "EXP004"
    requires = ("capture_pre_autograd_graph",)
    name = "removed-capture-pre-autograd-graph"
    message = "`{api}` was removed in torch 2.7: use `torch.export.export(...).module()`"
    torch_versions = ">=2.7"
    fix_applicability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import torch

            model = torch.nn.Linear(3, 3)
            graph_module = torch.export.export(model, (torch.randn(2, 3),)).module()
            graph_module(torch.randn(2, 3))
            """
        ),
        Valid(
            """
            import torch


            def capture_pre_autograd_graph(model, args):
                return torch.export.export(model, args).module()


            capture_pre_autograd_graph(torch.nn.Linear(3, 3), (torch.randn(2, 3),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch._export import capture_pre_autograd_graph

            model = torch.nn.Linear(3, 3)
            graph_module = capture_pre_autograd_graph(model, (torch.randn(2, 3),))
            graph_module(torch.randn(2, 3))
            """,
            after="""
            import torch

            model = torch.nn.Linear(3, 3)
            graph_module = torch.export.export(model, (torch.randn(2, 3),)).module()
            graph_module(torch.randn(2, 3))
            """,
            count=2,
        ),
        Invalid(
            """
            import torch._export as texport
            from torch import nn, randn

            graph_module = texport.capture_pre_autograd_graph(nn.Linear(3, 3), args=(randn(2, 3),))
            """,
            after="""
            import torch._export as texport
            from torch import nn, randn
            import torch

            graph_module = torch.export.export(nn.Linear(3, 3), args=(randn(2, 3),)).module()
            """,
        ),
    ]

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        report_removed_imports(self, node, _REMOVED, self.semantic.stack)

    def visit_Call(self, node: cst.Call) -> None:
        api = self.semantic.qualified_name(node.func)
        if api not in _REMOVED:
            return
        positional = [arg for arg in node.args if arg.keyword is None]
        fix = None
        if len(positional) <= 3 and not any(arg.star for arg in node.args):
            torch_name, import_edit = torch_module_name(self.context, node)
            _, end = self.context.span(node)
            _, func_end = self.context.span(node.func)
            arguments = self.context.text[func_end:end]
            call_edit = self.context.replace(node, f"{torch_name}.export.export{arguments}.module()")
            fix = self.fix("Use `torch.export.export(...).module()`", import_edit, call_edit)
        self.report(node, fix, api=api)
