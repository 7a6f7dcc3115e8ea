"""``export-lint server``: a Language Server Protocol server (stdio) on the engine ``check`` uses.

Importing this package imports pygls and lsprotocol (the ``server`` extra); ``import export_lint``
and ``check`` never do.
"""

from __future__ import annotations


def serve() -> None:
    """Speak LSP on stdin/stdout until the client says ``exit``."""
    from export_lint.server.protocol import build_server

    build_server().start_io()
