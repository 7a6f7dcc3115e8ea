"""Which classes are registered as pytree nodes where an export of them runs.

torch.export flattens an output class it knows: one registered with
``torch.utils._pytree.register_pytree_node``, ``torch.export.register_dataclass`` (or a class
decorator doing so). What counts is a registration that has run when the export runs: one at module
level (at import; also in a function that module level calls), or one on the way to the export call
(in the function making it, or in a function it calls, found by name). A registration inside some
other function (transformers' ``register_cache_pytrees_for_model``) runs only when a user calls it.
Classes are matched by what the registration's first argument resolves to in the project, else by
name; a module-level registration of a class it cannot name (``register(cls)`` in a loop) counts
for every class.
"""

from __future__ import annotations

import ast

from export_lint.analysis.index import decorator_name, dotted, own_nodes

#: Words a file that registers pytree nodes contains.
_REGISTRATION_WORDS = ("pytree", "register_dataclass", "register_constant")

Key = tuple[str, ...]


class PytreeRegistry:
    """The project's pytree registrations (found once per run) and the current export call's."""

    def __init__(self, resolver) -> None:
        self.resolver = resolver
        self._registry: tuple[set[Key], bool, dict[str, set[Key]]] | None = None
        #: (file, call) of the export call the current roots come from; None for configured roots.
        self.export_call: tuple[object, ast.Call] | None = None
        self._path_names: set[Key] | None = None

    def registered(self, cls, node: ast.ClassDef | None = None) -> bool:
        """Whether ``cls`` (its ``ClassDef`` ``node``, when given, for its decorators) is registered
        at import, or on the way to the current export call."""
        if node is not None and any(_registering_decorator(d) for d in node.decorator_list):
            return True
        at_import, opaque, _ = self._registrations()
        keys = {("class", cls.file, cls.qualname), ("name", cls.qualname.rsplit(".", 1)[-1])}
        return opaque or bool(keys & at_import) or bool(keys & self._on_export_path)

    def _registered_keys(self, file, call: ast.Call) -> set[Key]:
        """What a registration call registers: ``("class", path, qualname)`` for the project classes
        its first argument resolves to, else ``("name", last name)``; empty when indirect."""
        first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg in ("cls", "typ")), None)
        name = dotted(first) if first is not None else None
        if not name:
            return set()
        classes = {c for c in self.resolver.callables(file, first) if hasattr(c, "qualname")}
        if classes:
            return {("class", c.file, c.qualname) for c in classes}
        return {("name", name.rsplit(".", 1)[-1])}

    def _registrations(self) -> tuple[set[Key], bool, dict[str, set[Key]]]:
        """(what module-level registrations register, whether one of them names its class
        indirectly, function name -> what its body registers), over the whole project."""
        if self._registry is not None:
            return self._registry
        at_import: set[Key] = set()
        by_function: dict[str, set[Key]] = {}
        opaque = False
        for path in sorted(set(self.resolver.index.files.values())):
            text = self.resolver.index.text(path) or ""
            if "register" not in text or not any(word in text for word in _REGISTRATION_WORDS):
                continue
            file = self.resolver.file(path)
            if file is None:
                continue
            called_at_import = {
                dotted(node.func)
                for node in ast.walk(file.facts.tree)
                if isinstance(node, ast.Call) and _at_module_level(file, node)
            }
            for call in ast.walk(file.facts.tree):
                if not (isinstance(call, ast.Call) and _is_registration(call)):
                    continue
                names = self._registered_keys(file, call)
                function = _enclosing_function(file, call)
                if function is None or function.name in called_at_import:
                    at_import |= names
                    first = call.args[0] if call.args else None
                    indirect = isinstance(first, ast.Name) and not (
                        first.id in file.facts.classes or first.id in file.facts.imports
                    )
                    opaque = opaque or not names or indirect
                else:
                    by_function.setdefault(function.name, set()).update(names)
        self._registry = (at_import, opaque, by_function)
        return self._registry

    def export_path(self, file, call: ast.Call | None) -> None:
        """The export ``call`` (in ``file``) the next roots come from; None: a configured root, for
        which only the registrations that run at import count."""
        self.export_call = (file, call) if call is not None else None
        self._path_names = None

    @property
    def _on_export_path(self) -> set[Key]:
        """Class names registered before the current export call: in the function making it and in
        the functions that function calls (found by name)."""
        if self._path_names is None:
            self._path_names = set()
            if self.export_call is not None:
                file, call = self.export_call
                _, _, by_function = self._registrations()
                scope = _enclosing_function(file, call) or file.facts.tree
                for node in own_nodes(scope):
                    if isinstance(node, ast.Call):
                        if _is_registration(node):
                            self._path_names |= self._registered_keys(file, node)
                        last = (dotted(node.func) or "").rsplit(".", 1)[-1]
                        self._path_names |= by_function.get(last, set())
        return self._path_names


def _registering_decorator(decorator: ast.expr) -> bool:
    name = decorator_name(decorator).lower()
    return "register" in name or "pytree" in name


def registers(function: ast.AST) -> bool:
    """Whether a function calls a pytree registration."""
    return any(isinstance(node, ast.Call) and _is_registration(node) for node in ast.walk(function))


def _is_registration(call: ast.Call) -> bool:
    """``register_pytree_node(...)``, ``pytree.register_dataclass(...)``, ``register_constant(...)``."""
    name = (dotted(call.func) or "").rsplit(".", 1)[-1].lower()
    return "register" in name and any(word in name for word in ("pytree", "dataclass", "constant"))


def _enclosing_function(file, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    current = file.parent(node)
    while current is not None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return current
        current = file.parent(current)
    return None


def _at_module_level(file, node: ast.AST) -> bool:
    current = file.parent(node)
    while current is not None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        current = file.parent(current)
    return True
