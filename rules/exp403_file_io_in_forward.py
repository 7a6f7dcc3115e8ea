"""## What it does
Finds the builtin `open(...)` in traced code (writing a log or dump from `forward`).

## Why is this bad?
File I/O is not a tensor operation. Measured on torch 2.14.1 (`scripts/measure_side_effects.py`):

- Strict export fails: `torch._dynamo.exc.Unsupported: Failed to trace builtin operator`.
- Non-strict export (the default since torch 2.8) runs the write once, while tracing, and the
  exported program does not contain it: calling the exported module never writes the file.
  Nothing warns.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        with open("shapes.log", "a") as log:
            log.write(f"{tuple(x.shape)}\\n")
        return x + 1
```

## Use instead
Do the I/O outside the exported module: in the code that calls it, or in a forward hook on the
eager model while debugging.

## Fix safety
No automatic fix: where the I/O belongs is the author's decision.

## References
- torch.export docs, "Non-strict export": https://pytorch.org/docs/stable/export.html
"""

from __future__ import annotations

import libcst as cst

from export_lint.rule import Invalid, Rule, Valid


class FileIoInForward(Rule):
    """Traced code opens a file."""

    code = "EXP403"
    requires = ("class", "open")
    traced_only = True
    name = "file-io-in-forward"
    message = "`open()` in traced code: strict export fails, non-strict export drops the I/O from the program"

    VALID = [
        Valid(
            """
            import os
            import tempfile

            import torch


            class Model(torch.nn.Module):
                def forward(self, x):
                    return x + 1


            path = os.path.join(tempfile.mkdtemp(), "shapes.log")
            ep = torch.export.export(Model(), (torch.randn(3),))
            with open(path, "w") as log:
                log.write(str(ep.module()(torch.randn(3)).shape))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import os
            import tempfile

            import torch

            LOG = os.path.join(tempfile.mkdtemp(), "shapes.log")


            class Model(torch.nn.Module):
                def forward(self, x):
                    with open(LOG, "a") as log:
                        log.write("called\\n")
                    return x + 1


            exported = torch.export.export(Model(), (torch.randn(3),)).module()
            os.remove(LOG)
            exported(torch.randn(3))
            assert os.path.exists(LOG), "the exported program does not write the log"
            """
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if self.semantic.qualified_name(node.func) != "open" or not isinstance(node.func, cst.Name):
            return
        if self.semantic.binding("open").kind != "builtin" or not self.semantic.in_traced_code():
            return
        self.report(node)
