"""The class behind a transformers auto factory, read from the sources in the project index.

Composite transformers models build their parts with ``self.language_model =
AutoModel.from_config(config.text_config)``. Which class that is follows from three static facts:
the config class of the model (the annotation of ``__init__``'s ``config`` parameter), the
``model_type`` its ``sub_configs_defaults`` (or ``sub_configs``) gives ``text_config`` (a config
class with its own ``model_type``, or ``SubConfigSpec(..., model_type="llama")``), and the class
``models/auto/modeling_auto.py``'s ``MODEL_MAPPING_NAMES`` names for that type. Nothing is
imported; anything not literal in the sources gives no class.
"""

from __future__ import annotations

import ast
import os

from export_lint.analysis.index import dotted

_FACTORIES = {"from_config", "_from_config"}
#: auto class -> the mapping of ``modeling_auto.py`` it reads.
_MAPPINGS = {"AutoModel": "MODEL_MAPPING_NAMES"}
_SUB_CONFIGS = ("sub_configs_defaults", "sub_configs")


class AutoClasses:
    """Resolves ``AutoModel.from_config(config.<sub>)`` calls for one run (results remembered)."""

    def __init__(self, resolver) -> None:
        self.resolver = resolver
        self.index = resolver.index
        self._mappings: dict[str, dict[str, str]] = {}
        self._classes: dict[str, object | None] = {}
        self._located: tuple[str | None, str | None] | None = None

    def built(self, file, call: ast.Call, init: ast.AST | None) -> set:
        """The project classes an auto-factory ``call`` in ``init`` (an ``__init__``) builds."""
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr in _FACTORIES):
            return set()
        qualified = self.resolver._qualified(file, dotted(func.value), func) or ""
        auto = qualified.rsplit(".", 1)[-1]
        prefix = self._prefix()
        if auto not in _MAPPINGS or prefix is None or not qualified.startswith(("transformers.", f"{prefix}models.")):
            return set()
        argument = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "config"), None)
        if not (isinstance(argument, ast.Attribute) and isinstance(argument.value, ast.Name)):
            return set()
        config = self.config_class(file, init, argument.value.id)
        model_type = self._sub_model_type(config, argument.attr) if config is not None else None
        if model_type is None:
            return set()
        name = self._mapping(auto).get(model_type)
        found = self._class_named(name) if name else None
        return {found} if found is not None else set()

    def _prefix(self) -> str | None:
        """What the index calls transformers' package (``transformers.``, or ``""`` when the project
        is transformers' own folder); None when the index holds no ``models/auto`` of it."""
        return self._auto()[0]

    def _auto(self) -> tuple[str | None, str | None]:
        """(the package prefix, the path of ``models/auto/modeling_auto.py``): the module itself,
        or the file beside the ``models.auto`` package a model file imports (a library's files are
        indexed with one level of their imports, which reach ``auto/__init__.py`` only)."""
        if self._located is None:
            self._located = (None, None)
            for module, path in self.index.files.items():
                for suffix in ("models.auto.modeling_auto", "models.auto"):
                    prefix = module.removesuffix(suffix)
                    if module.endswith(suffix) and prefix in ("", "transformers."):
                        candidate = os.path.join(os.path.dirname(path), "modeling_auto.py")
                        if os.path.isfile(candidate):
                            self._located = (prefix, candidate)
                            return self._located
        return self._located

    def config_class(self, file, init: ast.AST | None, parameter: str):
        """The class annotating ``init``'s ``parameter`` (``config: AriaConfig``)."""
        if not isinstance(init, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        for arg in [*init.args.posonlyargs, *init.args.args, *init.args.kwonlyargs]:
            if arg.arg == parameter and arg.annotation is not None:
                classes = [c for c in self.resolver.callables(file, arg.annotation) if hasattr(c, "qualname")]
                return classes[0] if len(classes) == 1 else None
        return None

    def _sub_model_type(self, config, key: str, depth: int = 0) -> str | None:
        """The ``model_type`` the config class gives its sub-config ``key``."""
        for cls in self.lineage(config):
            file = self.resolver.file(cls.file)
            info = file.facts.classes[cls.qualname]
            for value in _class_assignments(info.node, _SUB_CONFIGS):
                if not isinstance(value, ast.Dict):
                    continue
                for item_key, item in zip(value.keys, value.values, strict=True):
                    if isinstance(item_key, ast.Constant) and item_key.value == key:
                        return self._model_type_of(file, item, depth)
        return None

    def _model_type_of(self, file, spec: ast.expr, depth: int) -> str | None:
        if isinstance(spec, ast.Call):  # SubConfigSpec(config_class=AutoConfig, model_type="llama")
            for keyword in spec.keywords:
                if keyword.arg == "model_type" and isinstance(keyword.value, ast.Constant):
                    return keyword.value.value if isinstance(keyword.value.value, str) else None
            if spec.args:
                return self._model_type_of(file, spec.args[0], depth + 1) if depth < 3 else None
            return None
        classes = [c for c in self.resolver.callables(file, spec) if hasattr(c, "qualname")]
        if len(classes) != 1:
            return None
        for cls in self.lineage(classes[0]):
            info = self.resolver.file(cls.file).facts.classes[cls.qualname]
            for value in _class_assignments(info.node, ("model_type",)):
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value:
                    return value.value
        return None

    def lineage(self, cls) -> list:
        """The class, then its project bases (the class's own assignment wins)."""
        found = [cls]
        for member in self.resolver.lineage(cls):
            if member != cls and self.resolver.file(member.file) is not None:
                found.append(member)
        return [c for c in found if c.qualname in self.resolver.file(c.file).facts.classes]

    def _mapping(self, auto: str) -> dict[str, str]:
        """``model_type -> class name`` of an auto class, from ``modeling_auto.py``'s literal."""
        if auto in self._mappings:
            return self._mappings[auto]
        found: dict[str, str] = {}
        path = self._auto()[1]
        facts = self.index.facts(path) if path else None
        for node in facts.tree.body if facts is not None else ():
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == _MAPPINGS[auto] for t in node.targets
            ):
                found = _pairs(node.value)
        self._mappings[auto] = found
        return found

    def _class_named(self, name: str):
        """The class ``name`` of transformers' modeling modules (one definition, else none)."""
        if name in self._classes:
            return self._classes[name]
        candidates = []
        models = f"{self._prefix()}models."
        for module, path in self.index.files.items():
            if not module.startswith(models) or ".modeling_" not in module:
                continue
            if f"class {name}(" not in (self.index.text(path) or ""):
                continue
            facts = self.index.facts(path)
            if facts is not None and name in facts.classes:
                candidates.extend(self.resolver._global(f"{module}.{name}"))
        found = candidates[0] if len(candidates) == 1 else None
        self._classes[name] = found
        return found


def _class_assignments(node: ast.ClassDef, names: tuple[str, ...]) -> list[ast.expr]:
    found = []
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id in names for t in statement.targets):
                found.append(statement.value)
        elif (
            isinstance(statement, ast.AnnAssign)
            and statement.value is not None
            and isinstance(statement.target, ast.Name)
            and statement.target.id in names
        ):
            found.append(statement.value)
    return found


def _pairs(value: ast.expr) -> dict[str, str]:
    """``OrderedDict([("llama", "LlamaModel"), ...])`` (or a list/tuple of pairs) -> a dict."""
    if isinstance(value, ast.Call) and value.args:
        value = value.args[0]
    found: dict[str, str] = {}
    for element in value.elts if isinstance(value, (ast.List, ast.Tuple)) else ():
        if isinstance(element, ast.Tuple) and len(element.elts) == 2:
            key, name = (part.value if isinstance(part, ast.Constant) else None for part in element.elts)
            if isinstance(key, str) and isinstance(name, str):
                found.setdefault(key, name)
    return found
