"""What an export root's ``forward`` returns that torch.export cannot flatten.

An exported program's outputs must flatten to tensors and constants: tuples, lists, dicts, named
tuples and classes registered as pytree nodes hold them. A root whose ``forward`` returns an
instance of any other class (a KV cache, a plain result class, an unregistered dataclass) fails
to export (``Found <class ...> in output, which is not a known type``).

This module follows each root's ``forward`` return expressions (on the project index's ``ast``,
across files) through the assignments before the ``return``, ``a if c else b``, ``and``/``or``,
tuple, list and dict displays, calls of registered output classes (their arguments are their
fields), calls of helper functions, submodule calls (``self.encoder(x)``) and fields of their
results (``outputs.cache``). A class is reported only when all of it is known: its bases are
project classes (or ``object``, ``abc.ABC``, ``typing.Generic``), and neither it nor a base has a
decorator, an ``__init_subclass__`` (transformers' ``ModelOutput`` registers its subclasses there),
a metaclass, or a registration (a call of a ``register...`` function naming it) that runs at import
(module level) or in a file that calls an export entry point. Anything else is silent.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import weakref
from collections.abc import Iterator

from export_lint.analysis.auto_classes import AutoClasses
from export_lint.analysis.index import decorator_name, dotted, own_nodes
from export_lint.analysis.pytree_registry import PytreeRegistry, registers

#: Bases that add nothing torch.export would know how to flatten.
_NEUTRAL_BASES = frozenset({"object", "abc.ABC", "typing.Generic", "typing.Protocol", "builtins.object"})
_NAMED_TUPLE_BASES = frozenset({"typing.NamedTuple", "collections.namedtuple", "NamedTuple"})
_DISPLAY_CALLS = frozenset({"tuple", "list", "dict"})
#: A cache class of transformers (its lineage holds this class): the remedy differs.
_TRANSFORMERS_CACHE = ("cache_utils", "Cache")
_MAX_DEPTH = 6


@dataclasses.dataclass(frozen=True)
class OutputFact:
    """One object a root's ``forward`` may return that export cannot flatten."""

    #: qualname of the ``forward`` (``Model.forward``) in its file.
    function: str
    #: the class's qualified name (``transformers.cache_utils.DynamicCache``).
    cls: str
    #: where it is built: ``path:line`` relative to the project.
    built: str
    #: where in the output it sits: "" (returned itself), "in a tuple", "in `Out.cache`", ...
    via: str = ""
    #: "cache" for a transformers cache (its remedy is ``use_cache=False``), else "".
    hint: str = ""

    @property
    def name(self) -> str:
        return self.cls.rsplit(".", 1)[-1]

    def to_tuple(self) -> tuple[str, str, str, str, str]:
        return (self.function, self.cls, self.built, self.via, self.hint)


class _Context:
    """Where an expression is evaluated: its file, function and the class owning the function, and
    the flags the functions on the way from the root set to ``False`` (``use_cache = False`` when
    the config is not a decoder's): an object built under a test of one of them may never be."""

    __slots__ = ("arguments", "disabled", "file", "function", "owner")

    def __init__(
        self,
        file,
        function: ast.AST,
        owner,
        disabled: frozenset[str] = frozenset(),
        arguments: dict[str, tuple[_Context, ast.expr]] | None = None,
    ) -> None:
        self.file = file
        self.function = function
        self.owner = owner
        self.disabled = disabled | _flags_set_false(function) if _is_function(function) else disabled
        #: parameter -> (the caller's context, the expression it passed)
        self.arguments = arguments or {}

    def inner(self, file, function: ast.AST, owner, call: ast.Call | None = None) -> _Context:
        """The context of a function this one calls (with ``call``'s arguments bound to its parameters)."""
        arguments: dict[str, tuple[_Context, ast.expr]] = {}
        if call is not None and isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
            if owner is not None and params:
                params = params[1:]  # self
            for name, value in zip(params, call.args, strict=False):
                if isinstance(value, ast.Starred):
                    break
                arguments[name] = (self, value)
            for keyword in call.keywords:
                if keyword.arg is not None:
                    arguments[keyword.arg] = (self, keyword.value)
        return _Context(file, function, owner, self.disabled, arguments)

    def guards(self, node: ast.AST) -> set[str]:
        """The names the tests of the ``if``s (and ``a if c else b``) ``node`` runs under read."""
        found: set[str] = set()
        current = node
        while current is not None and current is not self.function:
            parent = self.file.parent(current)
            if isinstance(parent, (ast.If, ast.IfExp)) and any(current is part for part in _branch(parent)):
                found |= _truth_tested(parent.test)
            current = parent
        return found


class OutputAnalysis:
    """Unflattenable objects the roots' forwards return; ``reacher`` is :mod:`analysis.roots`'s
    reachability walker (its resolver, ``attributes`` and ``bases``)."""

    def __init__(self, reacher) -> None:
        self.reacher = reacher
        self.resolver = reacher.resolver
        self.index = reacher.resolver.index
        self.auto = AutoClasses(reacher.resolver)
        self._verdicts: dict[tuple[str, str], bool] = {}
        self.registry = PytreeRegistry(reacher.resolver)
        self._config_flags: dict[tuple[str, str], frozenset[str]] = {}

    # -- roots ----------------------------------------------------------------------------------
    def of_root(self, cls) -> list[tuple[str, OutputFact]]:
        """(file of the ``forward``, fact) for each unflattenable object the root's forward returns."""
        found = self._method(cls, "forward")
        if found is None:
            return []
        owner, node = found
        file = self.resolver.file(owner.file)
        if file is None:
            return []
        qualname = f"{owner.qualname}.forward"
        facts: dict[str, OutputFact] = {}
        for value, built, via in self._returns(_Context(file, node, cls, arguments=self._export_inputs(node)), 0):
            if not self._unflattenable(value):
                continue
            hint = "cache" if self._is_transformers_cache(value) else ""
            cls_name = f"{self._module_of(value)}.{value.qualname}"
            facts.setdefault(cls_name, OutputFact(qualname, cls_name, built, via, hint))
        return [(owner.file, fact) for fact in facts.values()]

    def _export_inputs(self, forward: ast.AST) -> dict[str, tuple[_Context, ast.expr]]:
        """The root's ``forward`` parameters the export call gives literally: its ``args`` tuple and
        ``kwargs`` dict (``kwargs={"use_cache": False}`` turns the cache off)."""
        if self.registry.export_call is None or not isinstance(forward, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return {}
        file, call = self.registry.export_call
        caller = _Context(file, file.facts.tree, None)
        given = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
        args = call.args[1] if len(call.args) > 1 else given.get("args")
        kwargs = call.args[2] if len(call.args) > 2 else given.get("kwargs")
        inputs = ast.Call(
            func=ast.Name("forward"), args=list(args.elts) if isinstance(args, ast.Tuple) else [], keywords=[]
        )
        if isinstance(kwargs, ast.Dict):
            inputs.keywords = [
                ast.keyword(arg=key.value, value=value)
                for key, value in zip(kwargs.keys, kwargs.values, strict=True)
                if isinstance(key, ast.Constant) and isinstance(key.value, str)
            ]
        return caller.inner(file, forward, object(), inputs).arguments

    def _flag_off(self, context: _Context, name: str, depth: int = 0) -> bool:
        """Whether the flag ``name`` is off where ``context`` tests it, with the export's defaults: set
        ``False`` on the way (config tests only), or a parameter that the caller passes off, or that
        defaults to ``None``/``False`` -- unless the function fills it from the model's config
        (transformers' ``@merge_with_config_defaults``, ``use_cache = ... self.config.use_cache``),
        which then decides. Anything else (a local value, a non-literal argument) is on: it may be."""
        if name in context.disabled:
            return True
        function = context.function
        if depth > _MAX_DEPTH or not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        default = _parameter_default(function, name)
        if default is _NOT_A_PARAMETER:
            return False
        if _fills_from_config(function, name):
            return name in self._off_by_config(context.owner)
        if name in context.arguments:
            caller, value = context.arguments[name]
            if isinstance(value, ast.Constant):
                return not value.value
            if isinstance(value, ast.Name) and value.id == name:
                return self._flag_off(caller, name, depth + 1)
            return False
        return isinstance(default, ast.Constant) and not default.value

    def _off_by_config(self, owner) -> frozenset[str]:
        """Flags the config class of ``owner`` (its ``__init__``'s ``config: XConfig``) leaves off by
        default: fields defaulting to ``False``, and ``use_cache`` when the config does not define it
        (transformers reads a missing field as None, so such a model builds no cache)."""
        if owner is None:
            return frozenset()
        key = (owner.file, owner.qualname)
        if key not in self._config_flags:
            self._config_flags[key] = frozenset()
            found = self._method(owner, "__init__")
            file = self.resolver.file(found[0].file) if found is not None else None
            config = self.auto.config_class(file, found[1], "config") if file is not None else None
            if config is not None:
                defaults = self._config_defaults(config)
                off = {name for name, value in defaults.items() if value is False}
                if "use_cache" not in defaults:
                    off.add("use_cache")
                self._config_flags[key] = frozenset(off)
        return self._config_flags[key]

    def _config_defaults(self, config) -> dict[str, object]:
        """Literal ``True``/``False`` defaults of a config class's fields (class-level annotations and
        assignments, ``__init__`` parameters), the class's own before its bases'."""
        found: dict[str, object] = {}
        for cls in self.auto.lineage(config):
            info = self.resolver.file(cls.file).facts.classes[cls.qualname]
            for statement in info.node.body:
                target = statement.target if isinstance(statement, ast.AnnAssign) else None
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                    target = statement.targets[0]
                value = getattr(statement, "value", None)
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, bool):
                    found.setdefault(target.id, value.value)
            init = info.methods.get("__init__")
            if init is not None:
                arguments = init.args
                positional = [*arguments.posonlyargs, *arguments.args]
                pairs = [
                    *zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True),
                    *(
                        (a, d)
                        for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
                        if d is not None
                    ),
                ]
                for arg, default in pairs:
                    if isinstance(default, ast.Constant) and isinstance(default.value, bool):
                        found.setdefault(arg.arg, default.value)
        return found

    def _method(self, cls, name: str, depth: int = 0):
        """(the class defining ``name`` in ``cls``'s lineage, its node), bases searched in order."""
        file = self.resolver.file(cls.file)
        info = file.facts.classes.get(cls.qualname) if file is not None else None
        if info is None or depth > _MAX_DEPTH:
            return None
        if name in info.methods:
            return cls, info.methods[name]
        for base in self.reacher._bases(file, cls.qualname):
            found = self._method(base, name, depth + 1)
            if found is not None:
                return found
        return None

    # -- values ---------------------------------------------------------------------------------
    def _returns(self, context: _Context, depth: int) -> Iterator[tuple[object, str, str]]:
        for value in _returned(context.function):
            yield from self._values(context, value, depth, "")

    def _submodule_forwards(self, context: _Context, classes: set, call: ast.Call) -> Iterator[_Context]:
        """The context of each submodule class's ``forward`` that ``call`` runs, its arguments bound."""
        for cls in classes:
            found = self._method(cls, "forward")
            file = self.resolver.file(found[0].file) if found is not None else None
            if found is not None and file is not None:
                yield context.inner(file, found[1], cls, call)

    def _values(self, context: _Context, expr: ast.expr, depth: int, via: str) -> Iterator[tuple[object, str, str]]:
        """(class built, where, where in the output) for the objects ``expr`` may evaluate to."""
        if depth > _MAX_DEPTH:
            return
        if isinstance(expr, ast.IfExp):
            if not _names(expr.test) & context.disabled:
                yield from self._values(context, expr.body, depth + 1, via)
            yield from self._values(context, expr.orelse, depth + 1, via)
        elif isinstance(expr, ast.BoolOp):
            for value in expr.values:
                yield from self._values(context, value, depth + 1, via)
        elif isinstance(expr, (ast.Tuple, ast.List)):
            for element in expr.elts:
                inner = element.value if isinstance(element, ast.Starred) else element
                yield from self._values(context, inner, depth + 1, via or f"in a {type(expr).__name__.lower()}")
        elif isinstance(expr, ast.Dict):
            for value in expr.values:
                yield from self._values(context, value, depth + 1, via or "in a dict")
        elif isinstance(expr, ast.Name):
            for value in self._assigned(context, expr):
                yield from self._values(context, value, depth + 1, via)
            if expr.id in context.arguments:  # a parameter: what the caller passed
                caller, value = context.arguments[expr.id]
                yield from self._values(caller, value, depth + 1, via)
        elif isinstance(expr, ast.Attribute) and not _is_self(expr.value):
            for value_context, value in self._field(context, expr.value, expr.attr, depth + 1):
                yield from self._values(value_context, value, depth + 1, via or f"in `.{expr.attr}`")
        elif isinstance(expr, ast.Call):
            yield from self._call(context, expr, depth, via)

    def _call(self, context: _Context, call: ast.Call, depth: int, via: str) -> Iterator[tuple[object, str, str]]:
        func = dotted(call.func)
        arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
        if func in _DISPLAY_CALLS and self.resolver._binding(context.file, func, call) is None:
            for argument in arguments:
                yield from self._values(context, argument, depth + 1, via or f"in a {func}")
            return
        if isinstance(call.func, ast.Attribute) and not self._may_name_a_class(context, call.func):
            return  # a method of a local value (``x.reshape(...)``): not a construction
        submodule = self._submodule_call(context, call)
        if submodule is not None:
            for inner in self._submodule_forwards(context, submodule, call):
                yield from self._returns(inner, depth + 1)
            return
        for value in self.resolver.callables(context.file, call.func):
            if hasattr(value, "qualname"):  # a class: its instance, or a container of its arguments
                if self._container(value):
                    name = value.qualname.rsplit(".", 1)[-1]
                    for keyword in call.keywords:
                        yield from self._values(context, keyword.value, depth + 1, via or f"in `{name}.{keyword.arg}`")
                    for argument in call.args:
                        yield from self._values(context, argument, depth + 1, via or f"in a `{name}`")
                elif not any(self._flag_off(context, name) for name in context.guards(call)):
                    yield value, self._where(context, call), via
            else:  # a helper function: what it returns
                node = self.resolver.function_nodes.get(value.node_id)
                file = self.resolver.file(value.file)
                if node is not None and file is not None:
                    for built, where, inner in self._returns(context.inner(file, node, None, call), depth + 1):
                        yield built, where, via or inner

    def _may_name_a_class(self, context: _Context, func: ast.Attribute) -> bool:
        """Whether ``a.b.C`` can denote a class or function of the project: its head is ``self``
        (a submodule), or a module-level name of the file (an import, a class, a function), and
        not a name the function binds itself."""
        head = func
        while isinstance(head, ast.Attribute):
            head = head.value
        if not isinstance(head, ast.Name):
            return False
        if head.id == "self":
            return True
        facts = context.file.facts
        if head.id not in facts.imports and head.id not in facts.classes and head.id not in facts.functions:
            return False
        return head.id not in context.file.scope(context.function).names

    def _assigned(self, context: _Context, name: ast.Name) -> list[ast.expr]:
        """Every value assigned to ``name`` in its function before the line it is read on (none
        when it is a parameter only, or bound another way: ``for``, unpacking, ``:=``)."""
        scope = context.file.scope(context.function)
        entries = scope.names.get(name.id, [])
        return [value for line, kind, value in entries if kind == "assign" and line < name.lineno]

    def _field(self, context: _Context, expr: ast.expr, field: str, depth: int) -> Iterator[tuple[_Context, ast.expr]]:
        """The values given for ``field`` where ``expr``'s object is built: ``Out(field=...)`` of a
        registered output class, found through names and submodule calls."""
        if depth > _MAX_DEPTH:
            return
        if isinstance(expr, ast.Name):
            for value in self._assigned(context, expr):
                yield from self._field(context, value, field, depth + 1)
            if expr.id in context.arguments:
                caller, value = context.arguments[expr.id]
                yield from self._field(caller, value, field, depth + 1)
        elif isinstance(expr, ast.IfExp):
            yield from self._field(context, expr.body, field, depth + 1)
            yield from self._field(context, expr.orelse, field, depth + 1)
        elif isinstance(expr, ast.Call):
            submodule = self._submodule_call(context, expr)
            if submodule is not None:
                for inner in self._submodule_forwards(context, submodule, expr):
                    for value in _returned(inner.function):
                        yield from self._field(inner, value, field, depth + 1)
                return
            for value in self.resolver.callables(context.file, expr.func):
                if hasattr(value, "qualname") and self._container(value):
                    for keyword in expr.keywords:
                        if keyword.arg == field:
                            yield context, keyword.value

    def _submodule_call(self, context: _Context, call: ast.Call) -> set | None:
        """The classes of the submodule ``self.x(...)`` / ``self.x.forward(...)`` calls, or None
        when the call is not one."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "forward":
            func = func.value
        if context.owner is None or not (isinstance(func, ast.Attribute) and _is_self(func.value)):
            return None
        classes = self.reacher.attributes(context.owner).get(func.attr) or self._auto_attribute(
            context.owner, func.attr
        )
        return set(classes) if classes else None

    def _auto_attribute(self, owner, attribute: str) -> set:
        """The classes ``self.<attribute> = AutoModel.from_config(config.text_config)`` in the
        ``__init__`` of ``owner`` (or a base) builds (``analysis.auto_classes``)."""
        found: set = set()
        for cls in self.resolver.lineage(owner):
            file = self.resolver.file(cls.file)
            info = file.facts.classes.get(cls.qualname) if file is not None else None
            init = info.methods.get("__init__") if info is not None else None
            for node in ast.walk(init) if init is not None else ():
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Call)
                    and any(_self_attribute_name(t) == attribute for t in node.targets)
                ):
                    found |= self.auto.built(file, node.value, init)
        return found

    def _where(self, context: _Context, node: ast.AST) -> str:
        relative = os.path.relpath(context.file.facts.path, self.index.root)
        path = context.file.facts.path if relative.startswith("..") else relative.replace(os.sep, "/")
        return f"{path}:{getattr(node, 'lineno', 0)}"

    # -- classes --------------------------------------------------------------------------------
    def _container(self, cls) -> bool:
        """A class export flattens into its fields: a named tuple, or registered (by a decorator,
        an ``__init_subclass__`` of its lineage, or a registration call naming it)."""
        file = self.resolver.file(cls.file)
        info = file.facts.classes.get(cls.qualname) if file is not None else None
        if info is None:
            return False
        lineage = self.resolver.lineage(cls)
        for member in lineage:
            member_file = self.resolver.file(member.file)
            member_info = member_file.facts.classes.get(member.qualname) if member_file is not None else None
            if member_info is None:
                continue
            if "__init_subclass__" in member_info.methods and registers(member_info.methods["__init_subclass__"]):
                return True
            if any(self._qualified(member_file, base) in _NAMED_TUPLE_BASES for base in member_info.node.bases):
                return True
        return self._registered_class(cls)

    def _unflattenable(self, value) -> bool:
        key = (value.file, value.qualname)
        if key not in self._verdicts:
            self._verdicts[key] = False  # a cycle of bases is not known
            self._verdicts[key] = self._plain(value, 0)
        if not self._verdicts[key]:
            return False
        return not any(self.registry.registered(member) for member in self.resolver.lineage(value))

    def _plain(self, value, depth: int) -> bool:
        """A project class with nothing that could make export flatten it (see the module docstring)."""
        file = self.resolver.file(value.file)
        info = file.facts.classes.get(value.qualname) if file is not None else None
        if info is None or depth > _MAX_DEPTH:
            return False
        node = info.node
        if node.decorator_list and not all(_is_dataclass_decorator(d) for d in node.decorator_list):
            return False
        if node.keywords or "__init_subclass__" in info.methods:
            return False
        for base in node.bases:
            if self._qualified(file, base) in _NEUTRAL_BASES:
                continue
            classes = [c for c in self.resolver.callables(file, _base_expr(base)) if hasattr(c, "qualname")]
            if not classes or not all(self._plain(c, depth + 1) for c in classes):
                return False
        return True

    def _registered_class(self, cls) -> bool:
        file = self.resolver.file(cls.file)
        info = file.facts.classes.get(cls.qualname) if file is not None else None
        if info is None:
            return False
        return self.registry.registered(cls, info.node)

    def _is_transformers_cache(self, value) -> bool:
        for member in self.resolver.lineage(value):
            module = self._module_of(member)
            if module.endswith(_TRANSFORMERS_CACHE[0]) and member.qualname == _TRANSFORMERS_CACHE[1]:
                return True
        return False

    def _module_of(self, value) -> str:
        file = self.resolver.file(value.file)
        return file.facts.module if file is not None else ""

    def _qualified(self, file, base: ast.expr) -> str | None:
        name = dotted(_base_expr(base))
        if name is None:
            return None
        qualified = self.resolver._qualified(file, name, base)
        return qualified or name


_NOT_A_PARAMETER = object()
#: Decorators that fill a parameter left ``None`` from the model's config (transformers).
_CONFIG_DEFAULT_DECORATORS = frozenset({"merge_with_config_defaults"})


def _parameter_default(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> object:
    """The default expression of parameter ``name`` (None: no default), or ``_NOT_A_PARAMETER``."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    for arg, default in [
        *zip(positional, defaults, strict=True),
        *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True),
    ]:
        if arg.arg == name:
            return default
    return _NOT_A_PARAMETER


def _fills_from_config(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    """Whether the function sets parameter ``name`` from the config when it is left unset."""
    if any(decorator_name(d).rsplit(".", 1)[-1] in _CONFIG_DEFAULT_DECORATORS for d in function.decorator_list):
        return True
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        and "config" in _attributes(node.value) | _names(node.value)
        for node in own_nodes(function)
    )


def _truth_tested(test: ast.expr) -> set[str]:
    """Names a test needs true for its branch to run: ``flag``, ``flag and ...`` (not ``not flag``,
    nor names inside comparisons such as ``cache is None``)."""
    if isinstance(test, ast.Name):
        return {test.id}
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return set().union(*(_truth_tested(value) for value in test.values))
    return set()


def _returned(function: ast.AST) -> Iterator[ast.expr]:
    """The expressions a function's own ``return`` statements give (not those of nested functions)."""
    for node in own_nodes(function):
        if isinstance(node, ast.Return) and node.value is not None:
            yield node.value


def _is_function(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))


#: function node -> what :func:`_flags_set_false` found (a function is entered once per root).
_FLAGS_SET_FALSE: weakref.WeakKeyDictionary[ast.AST, frozenset[str]] = weakref.WeakKeyDictionary()


def _flags_set_false(function: ast.AST) -> frozenset[str]:
    found = _FLAGS_SET_FALSE.get(function)
    if found is None:
        found = _FLAGS_SET_FALSE[function] = _find_flags_set_false(function)
    return found


def _find_flags_set_false(function: ast.AST) -> frozenset[str]:
    """Names a function assigns ``False`` unconditionally or under tests of the config only
    (``if not self.config.is_decoder: use_cache = False``): not under a test of its inputs
    (``if labels is not None``), which the export's inputs may not meet, nor of ``self.training``."""
    found: set[str] = set()
    todo: list[tuple[ast.AST, bool]] = [(function, True)]
    while todo:
        node, by_config = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Assign) and by_config:
                value = child.value
                if isinstance(value, ast.Constant) and value.value is False:
                    found.update(t.id for t in child.targets if isinstance(t, ast.Name))
            inside = by_config
            if isinstance(child, ast.If):
                reads = _attributes(child.test) | _names(child.test)
                inside = by_config and "config" in reads and "training" not in reads
            todo.append((child, inside))
    return frozenset(found)


def _names(expr: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(expr) if isinstance(node, ast.Name)}


def _attributes(expr: ast.AST) -> set[str]:
    return {node.attr for node in ast.walk(expr) if isinstance(node, ast.Attribute)}


def _branch(node: ast.If | ast.IfExp) -> list[ast.AST]:
    """The statements (or expression) that run when the test holds."""
    return node.body if isinstance(node, ast.If) else [node.body]


def _self_attribute_name(target: ast.expr) -> str | None:
    return target.attr if isinstance(target, ast.Attribute) and _is_self(target.value) else None


def _is_self(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Name) and expr.id == "self"


def _base_expr(base: ast.expr) -> ast.expr:
    """``Generic[T]`` -> ``Generic``."""
    return base.value if isinstance(base, ast.Subscript) else base


def _is_dataclass_decorator(decorator: ast.expr) -> bool:
    return decorator_name(decorator).rsplit(".", 1)[-1] == "dataclass"
