"""export-lint: find and fix what breaks torch.export, before you run anything.

The Python API (``lint_source``, ``lint_paths``, ``fix_source``) is loaded on first use so that
``import export_lint`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "fix_source", "lint_paths", "lint_source"]

if TYPE_CHECKING:
    from export_lint.api import fix_source, lint_paths, lint_source


def __getattr__(name: str) -> Any:
    if name in ("lint_source", "lint_paths", "fix_source"):
        from export_lint import api

        return getattr(api, name)
    raise AttributeError(f"module 'export_lint' has no attribute {name!r}")
