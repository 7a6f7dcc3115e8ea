"""The value analysis of traced code: what every expression holds, flow-sensitively and across
this file's calls.

- :mod:`~export_lint.analysis.values.lattice`: the abstract values and their join.
- :mod:`~export_lint.analysis.values.exports`: what export calls declare (dynamic dims, strictness).
- :mod:`~export_lint.analysis.values.guards`: compile-guard conditions (``is_compiling()``).
- :mod:`~export_lint.analysis.values.torch_api`: what torch functions and methods give.
- :mod:`~export_lint.analysis.values.interpreter`: one function body, statement by statement.
- :mod:`~export_lint.analysis.values.other_files`: other files' modules, parsed for the calls followed there.
- :mod:`~export_lint.analysis.values.program`: entry values, call-site contexts, summaries.
- :mod:`~export_lint.analysis.values.queries`: the questions rules ask at the visited node.

Modules import only modules listed above them (no cycles).
"""
