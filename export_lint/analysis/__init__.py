"""What export-lint knows about the linted code, shared by every rule.

- :mod:`~export_lint.analysis.torch_names`: names of torch's export entry points and module bases.
- :mod:`~export_lint.analysis.external`: summaries of classes in other files, read as text.
- :mod:`~export_lint.analysis.semantic`: one file's names, classes and traced functions.
- :mod:`~export_lint.analysis.values`: the flow-sensitive, interprocedural value analysis of traced code.
- :mod:`~export_lint.analysis.shapes`: literal example shapes and ``dynamic_shapes`` at export calls.
- :mod:`~export_lint.analysis.module_state`: what ``__init__`` stores on a module, training-only code.

Modules import only modules listed above them (no cycles).
"""
