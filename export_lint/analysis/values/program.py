"""The interprocedural part of the value analysis: one file's traced functions, their entry
values, call-site contexts and per-function summaries.

Entry values of a traced function's parameters come, in order of trust, from the export call
(dynamic dims, tensors among the example inputs), from this file's call sites in traced code
(``self.helper(x)``, ``self.encoder(h)`` -> ``Encoder.forward``, ``helper(x)``, a loop over an
``nn.ModuleList`` of a local class), and from annotations and defaults. A call of a local function
is answered by the callee's summary: its body interpreted with the call's argument values (memoised
per argument values; recursion and depth are bounded), giving what it returns. Helpers and module
classes imported from other files are answered by those files' programs (``values.other_files``).

Module forwards that no other class builds as a submodule are analysed first, with the entry values
the export call and annotations give; then the callees, with the join of what their call sites
passed. A callee that no analysed call reaches (it is only called under ``if self.training:``) is
not analysed, except a ``forward`` and a function an export root reaches from another file.
"""

from __future__ import annotations

import weakref

import libcst as cst

from export_lint.analysis.semantic import ClassInfo, SemanticModel
from export_lint.analysis.values import callers, other_files, torch_api
from export_lint.analysis.values.exports import ExportMode, export_modes
from export_lint.analysis.values.interpreter import Env, Interpreter
from export_lint.analysis.values.lattice import (
    NONE,
    STATIC,
    TENSOR,
    UNKNOWN,
    Kind,
    Value,
    join,
    sequence_of,
    static,
)
from export_lint.traversal import descendants

#: How deep summaries follow calls of calls.
MAX_DEPTH = 4
#: Summaries computed per file at most (each is one interpretation of a callee).
MAX_SUMMARIES = 400
#: torch.nn containers whose call is not one tensor-to-tensor layer.
_CONTAINERS = frozenset({"ModuleList", "ModuleDict", "Sequential", "ParameterList", "ParameterDict"})
_PARAMETER_FACTORIES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.Buffer"})


class _Function:
    __slots__ = ("node", "owner", "stack")

    def __init__(self, node: cst.FunctionDef, owner: str | None, stack: list[cst.CSTNode]) -> None:
        self.node = node
        #: The key of the class whose body defines it (a method), else None.
        self.owner = owner
        #: Scope nodes from the module down to the function itself.
        self.stack = stack


def _is_static_method(function: cst.FunctionDef) -> bool:
    return any(
        isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod")
        for d in function.decorators
    )


def _called_names(function: cst.FunctionDef) -> set[str]:
    found: set[str] = set()
    for node in descendants(function.body):
        if type(node) is cst.Call:
            func = node.func
            if type(func) is cst.Name:
                found.add(func.value)
            elif type(func) is cst.Attribute and type(func.value) is cst.Name:
                found.add(f"{func.value.value}.{func.attr.value}")
    return found


class FileProgram:
    """Values of every traced function of one file (see the module docstring)."""

    def __init__(self, semantic: SemanticModel, torch_version: str, analyse: bool = True, callers: bool = True) -> None:
        self.semantic = semantic
        #: Whether the calls other files' traced code makes of this file's functions give them
        #: entry values (``values.callers``); not for a calling file analysed for those values.
        self.callers = callers
        self.torch_version = torch_version
        self.modes: dict[str, ExportMode] = export_modes(semantic, torch_version)
        self.has_dynamic = any(mode.dynamic for mode in self.modes.values())
        #: id(expression) -> its value, for every expression of the analysed functions.
        self.record: dict[int, Value] = {}
        self._functions: dict[int, _Function] = {}
        self._classes: dict[str, ClassInfo] = {}
        self._class_keys: dict[int, str] = {}
        self._attributes: dict[str, dict[str, Value]] = {}
        self._contexts: dict[int, Env] = {}
        self._closures: dict[int, Env] = {}
        self._summaries: dict[tuple, Value] = {}
        self._active: set[int] = set()
        self._analysed: set[int] = set()
        #: id(FunctionDef) -> the entry values it was analysed with
        self._entries: dict[int, Env] = {}
        self._summary_count = 0
        #: id(FunctionDef) -> the program of another file that defines it (bound methods of
        #: submodules defined there).
        self._foreign: dict[int, FileProgram] = {}
        #: qualified name -> (the program of its file, its name there), looked up once per file.
        self._others: dict[str, tuple[FileProgram, str] | None] = {}
        self._index()
        if analyse:
            self._analyse_traced()

    # -- the file's functions and classes -------------------------------------------------
    def _index(self) -> None:
        module_name = self.semantic.module_name
        pairs = (
            self.semantic.all_classes() if self.semantic.reached is not None else list(self.semantic.classes.items())
        )
        for qualname, info in pairs:
            key = f"{module_name}.{qualname}"
            self._classes[key] = info
            self._class_keys[id(info.node)] = key

        def walk(body: object, stack: list[cst.CSTNode], owner: str | None) -> None:
            statements = getattr(body, "body", ())
            for statement in statements if isinstance(statements, (list, tuple)) else ():
                kind = type(statement)
                if kind is cst.FunctionDef:
                    self._functions[id(statement)] = _Function(statement, owner, [*stack, statement])
                    walk(statement.body, [*stack, statement], None)
                elif kind is cst.ClassDef:
                    walk(statement.body, [*stack, statement], self._class_keys.get(id(statement)))
                elif kind in (cst.If, cst.Try, cst.With, cst.For, cst.While, cst.TryStar):
                    walk(statement.body, stack, owner)
                    for extra in ("orelse", "finalbody"):
                        part = getattr(statement, extra, None)
                        if part is not None:
                            walk(part.body if isinstance(part, (cst.Else, cst.Finally, cst.If)) else part, stack, owner)
                    for handler in getattr(statement, "handlers", ()):
                        walk(handler.body, stack, owner)

        walk(self.semantic.module, [], None)

    def class_key(self, info: ClassInfo) -> str | None:
        return self._class_keys.get(id(info.node))

    def _module_class(self, key: str) -> bool:
        info = self._classes.get(key)
        if info is None:
            return False
        if self.semantic.classes.get(info.name) is info:
            return self.semantic.is_module_class_name(f"{self.semantic.module_name}.{info.name}")
        return self.semantic.is_module_class(info.node)

    # -- what the interpreter asks -----------------------------------------------------------
    def qualified_name(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode]) -> str | None:
        return self.semantic.qualified_name(expr, scopes)

    def closure(self, function: cst.FunctionDef, env: Env) -> None:
        known = self._closures.get(id(function))
        self._closures[id(function)] = env if known is None else _join_env(known, env)

    def attribute(self, owner: Value, name: str) -> Value:
        key = owner.cls or ""
        if owner.kind is not Kind.MODULE:
            return UNKNOWN
        info = self._classes.get(key)
        if info is None:
            if key.startswith("torch.nn."):
                return TENSOR if name in ("weight", "bias") else UNKNOWN  # a torch.nn layer's weights
            found = self._other_class(key)
            if found is None:
                return UNKNOWN
            other, other_key = found
            value = other.attribute(Value(Kind.MODULE, cls=other_key), name)
            if value.kind is Kind.CALLABLE and isinstance(value.const, int):
                self._foreign[value.const] = other
            return value
        if name == "training":
            return static(False)
        value = self._class_attributes(key).get(name)
        if value is not None:
            return value
        method = (
            self.semantic.find_method(info, name)
            if self.semantic.classes.get(info.name) is info
            else info.methods.get(name)
        )
        if method is not None and id(method) in self._functions:
            return Value(Kind.CALLABLE, cls=key, const=id(method))
        return UNKNOWN

    def call_value(
        self, callee: Value, args: list[tuple[str | None, Value]], star: bool, call: cst.Call, depth: int
    ) -> Value:
        if callee.kind is Kind.CALLABLE and isinstance(callee.const, int):
            function = self._functions.get(callee.const)
            if function is None:
                other = self._foreign.get(callee.const)
                return other.call_value(callee, args, star, call, depth + 1) if other is not None else UNKNOWN
            owner = Value(Kind.MODULE, cls=callee.cls) if callee.cls and not _is_static_method(function.node) else None
            return self.summary(function, owner, args, star, depth)
        if callee.kind is Kind.MODULE and callee.cls:
            info = self._classes.get(callee.cls)
            if info is not None:
                forward = self.attribute(callee, "forward")
                return self.call_value(forward, args, star, call, depth) if forward.kind is Kind.CALLABLE else UNKNOWN
            last = callee.cls.rsplit(".", 1)[-1]
            if callee.cls.startswith("torch.nn."):
                if last not in torch_api.NON_TENSOR_LAYERS | _CONTAINERS:
                    # A tensor layer returns a tensor whatever the analysis knew of its input (a
                    # call that does not get one raises, and export traces no such path).
                    return TENSOR if args else UNKNOWN
                return UNKNOWN
            found = self._other_class(callee.cls)
            if found is not None:
                other, other_key = found
                return other.call_value(Value(Kind.MODULE, cls=other_key), args, star, call, depth + 1)
        return UNKNOWN

    def call_name(
        self,
        func: cst.Name,
        scopes: list[cst.CSTNode],
        args: list[tuple[str | None, Value]],
        star: bool,
        call: cst.Call,
        depth: int,
    ) -> Value | None:
        binding = self.semantic.binding(func.value, scopes)
        if binding.kind == "function" and isinstance(binding.node, cst.FunctionDef):
            function = self._functions.get(id(binding.node))
            return self.summary(function, None, args, star, depth) if function is not None else UNKNOWN
        if binding.kind == "class" and isinstance(binding.node, cst.ClassDef):
            key = self._class_keys.get(id(binding.node))
            return Value(Kind.MODULE, cls=key) if key is not None and self._module_class(key) else UNKNOWN
        if binding.kind == "import" and binding.qualified_name and other_files.followed(binding.qualified_name):
            return self._other_function(binding.qualified_name, args, star, depth)
        return None

    def call_qualified(
        self, qualified: str, args: list[tuple[str | None, Value]], star: bool, depth: int
    ) -> Value | None:
        """``module.helper(x)`` of an imported module of another file: its summary there."""
        if qualified.split(".")[0] == "torch" or not other_files.followed(qualified):
            return None
        return self._other_function(qualified, args, star, depth)

    # -- other files ---------------------------------------------------------------------
    def _other(self, qualified: str) -> tuple[FileProgram, str] | None:
        if qualified in self._others:
            return self._others[qualified]
        reach = getattr(self.semantic, "reach", None)
        found = other_files.semantic_of(qualified, self.semantic.path, reach)
        result = None
        if found is not None:
            semantic, name = found
            program = _FOREIGN.get(semantic)
            if program is None or program.torch_version != self.torch_version:
                program = _FOREIGN[semantic] = FileProgram(semantic, self.torch_version, analyse=False)
            result = (program, name)
        self._others[qualified] = result
        return result

    def _other_function(
        self, qualified: str, args: list[tuple[str | None, Value]], star: bool, depth: int
    ) -> Value | None:
        """``helper(x)`` imported from another file: its summary there (None: not a function)."""
        if not any(value.holds_tensors for _, value in args):
            return None  # nothing the callee could turn into a tensor fact: not worth a parse
        found = self._other(qualified)
        if found is None:
            return None
        other, name = found
        function = other.module_function(name)
        return other.summary(function, None, args, star, depth + 1) if function is not None else None

    def _other_class(self, qualified: str) -> tuple[FileProgram, str] | None:
        """A module class defined in another file: its file's program and its key there."""
        found = self._other(qualified)
        if found is None:
            return None
        other, name = found
        key = f"{other.semantic.module_name}.{name}"
        return (other, key) if key in other._classes and other._module_class(key) else None

    def function_named(self, qualname: str) -> _Function | None:
        """A function or method of this file by its qualname (``Class.method``)."""
        prefix = len(self.semantic.module_name) + 1
        for function in self._functions.values():
            owner = function.owner[prefix:] + "." if function.owner else ""
            if owner + function.node.name.value == qualname:
                return function
        return None

    def _foreign_contexts(self, traced: list[_Function]) -> None:
        """Entry values from the calls of other files (``values.callers``) for the traced functions
        no traced code of this file calls by name (so no call of this file joins them later)."""
        reach = getattr(self.semantic, "reach", None)
        if not self.callers or reach is None:
            return
        sites_of = reach.callers_of(self.semantic.path)
        if not sites_of:
            return
        called: set[str] = set()
        for function in traced:
            called |= _called_names(function.node)
        prefix = len(self.semantic.module_name) + 1
        for function in traced:
            name = function.node.name.value
            qualname = (function.owner[prefix:] + "." if function.owner else "") + name
            sites = sites_of.get(qualname)
            if not sites or (f"self.{name}" if function.owner else name) in called:
                continue
            owner = (
                Value(Kind.MODULE, cls=function.owner)
                if function.owner and not _is_static_method(function.node)
                else None
            )
            for args, star in callers.passed_arguments(reach, sites, self.torch_version):
                self._add_context(function, self._bind_arguments(function.node, owner, args, star))

    def module_function(self, name: str) -> _Function | None:
        """A function defined at the top of this file."""
        for statement in self.semantic.module.body:
            if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
                return self._functions.get(id(statement))
        return None

    # -- summaries ---------------------------------------------------------------------
    def summary(
        self, function: _Function, owner: Value | None, args: list[tuple[str | None, Value]], star: bool, depth: int
    ) -> Value:
        """What calling ``function`` with these argument values returns."""
        env = self._bind_arguments(function.node, owner, args, star)
        self._add_context(function, env)
        env = _with_declared_tensors(function.node, env)
        key = (id(function.node), tuple(sorted(env.items(), key=lambda item: item[0])))
        known = self._summaries.get(key)
        if known is not None:
            return known
        if depth >= MAX_DEPTH or id(function.node) in self._active or self._summary_count >= MAX_SUMMARIES:
            return UNKNOWN
        self._summary_count += 1
        self._active.add(id(function.node))
        try:
            result = Interpreter(self, function.stack, None, depth + 1).run(function.node, env)
        finally:
            self._active.discard(id(function.node))
        self._summaries[key] = result
        return result

    def _bind_arguments(
        self, function: cst.FunctionDef, owner: Value | None, args: list[tuple[str | None, Value]], star: bool
    ) -> Env:
        params = function.params
        positional = [*params.posonly_params, *params.params]
        env: Env = {}
        if owner is not None and positional:
            env[positional[0].name.value] = owner
            positional = positional[1:]
        values = [value for keyword, value in args if keyword is None]
        for param, value in zip(positional, values, strict=False):
            env[param.name.value] = value
        if isinstance(params.star_arg, cst.Param):
            extra = values[len(positional) :]
            env[params.star_arg.name.value] = Value(Kind.SEQUENCE, items=tuple(extra)) if not star else UNKNOWN
        keywords = {keyword: value for keyword, value in args if keyword is not None}
        for param in [*positional, *params.kwonly_params]:
            name = param.name.value
            if name in keywords:
                env[name] = keywords[name]
            elif name not in env:
                env[name] = UNKNOWN if star else _default_value(param)
        if params.star_kwarg is not None:
            env[params.star_kwarg.name.value] = UNKNOWN
        return env

    def _add_context(self, function: _Function, env: Env) -> None:
        known = self._contexts.get(id(function.node))
        self._contexts[id(function.node)] = dict(env) if known is None else _join_calls(known, env)

    # -- class attributes from __init__ ---------------------------------------------------
    def _class_attributes(self, key: str) -> dict[str, Value]:
        """``self.<name>`` values ``__init__`` gives: buffers and parameters (tensors), submodules
        (modules), lists of submodules of one class (sequences of modules)."""
        found = self._attributes.get(key)
        if found is not None:
            return found
        found = self._attributes[key] = {}
        info = self._classes.get(key)
        init = info.methods.get("__init__") if info is not None else None
        function = self._functions.get(id(init)) if init is not None else None
        if function is None:
            return found
        agreed: dict[str, Value] = {}
        for node in descendants(init.body):
            kind = type(node)
            if kind is cst.Call:
                func = node.func
                if (
                    isinstance(func, cst.Attribute)
                    and func.attr.value == "register_buffer"
                    and isinstance(func.value, cst.Name)
                    and func.value.value == "self"
                    and node.args
                    and isinstance(node.args[0].value, cst.SimpleString)
                ):
                    name = node.args[0].value.evaluated_value
                    if isinstance(name, str):
                        _agree(agreed, name, TENSOR)
            elif kind is cst.Assign or kind is cst.AnnAssign:
                targets = [t.target for t in node.targets] if kind is cst.Assign else [node.target]
                if node.value is None:
                    continue
                for target in targets:
                    if (
                        isinstance(target, cst.Attribute)
                        and isinstance(target.value, cst.Name)
                        and target.value.value == "self"
                    ):
                        _agree(agreed, target.attr.value, self._init_value(node.value, function.stack))
        found.update({name: value for name, value in agreed.items() if value.kind is not Kind.UNKNOWN})
        return found

    def _init_value(self, expr: cst.BaseExpression, stack: list[cst.CSTNode]) -> Value:
        if not isinstance(expr, cst.Call):
            return UNKNOWN
        qualified = self.semantic.qualified_name(expr.func, stack)
        if qualified is None:
            return UNKNOWN
        if qualified in _PARAMETER_FACTORIES:
            return TENSOR
        if qualified in self._classes and self._module_class(qualified):
            return Value(Kind.MODULE, cls=qualified)
        last = qualified.rsplit(".", 1)[-1]
        if not qualified.startswith("torch.") and other_files.followed(qualified):
            # A submodule class of another file (followed when it is called).
            return Value(Kind.MODULE, cls=qualified) if self._other_class(qualified) is not None else UNKNOWN
        if qualified.startswith("torch.nn.") and self.semantic.is_module_class_name(qualified):
            if last == "ModuleList" and len(expr.args) == 1:
                element = self._element_class(expr.args[0].value, stack)
                return sequence_of(element) if element.kind is Kind.MODULE else UNKNOWN
            if last.startswith("MaxPool") and any(a.keyword and a.keyword.value == "return_indices" for a in expr.args):
                return UNKNOWN
            return Value(Kind.MODULE, cls=qualified)
        return UNKNOWN

    def _element_class(self, expr: cst.BaseExpression, stack: list[cst.CSTNode]) -> Value:
        """The one local module class a ``ModuleList`` literal or comprehension holds."""
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self._init_value(expr.elt, stack)
        if isinstance(expr, (cst.List, cst.Tuple)) and expr.elements:
            values = {self._init_value(e.value, stack) for e in expr.elements}
            return values.pop() if len(values) == 1 else UNKNOWN
        return UNKNOWN

    # -- entry values and the analysis of traced functions ----------------------------------
    def _base_entry(self, function: _Function) -> Env:
        node = function.node
        params = node.params
        listed = [*params.posonly_params, *params.params, *params.kwonly_params]
        env: Env = {}
        if function.owner is not None and listed and not _is_static_method(node):
            env[listed[0].name.value] = Value(Kind.MODULE, cls=function.owner)
            listed = listed[1:]
        info = self._classes.get(function.owner or "")
        is_forward = info is not None and node.name.value == "forward" and self._module_class(function.owner or "")
        mode = self.modes.get(info.name) if is_forward and info is not None else None
        only = len(listed) == 1 and params.star_arg in (None, cst.MaybeSentinel.DEFAULT) and params.star_kwarg is None
        for param in listed:
            name = param.name.value
            value = _param_value(param, is_forward, only, mode)
            if mode is not None and name in mode.dynamic:
                value = Value(Kind.TENSOR, name, tuple(sorted(mode.dynamic[name].items())))
            env[name] = value
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                env[star.name.value] = UNKNOWN
        return env

    def _entry(self, function: _Function) -> Env:
        env = dict(self._closures.get(id(function.node), {}))
        env.update(self._base_entry(function))
        context = self._contexts.get(id(function.node))
        if context:
            for name, value in context.items():
                if value.kind is not Kind.UNKNOWN and name in env:
                    env[name] = value
        return env

    def _analyse(self, function: _Function) -> None:
        if id(function.node) in self._analysed:
            return
        self._analysed.add(id(function.node))
        entry = self._entry(function)
        self._entries[id(function.node)] = dict(entry)
        Interpreter(self, function.stack, self.record).run(function.node, entry)

    def _analyse_traced(self) -> None:
        traced_ids = self.semantic.traced_functions()
        traced = [f for f in self._functions.values() if id(f.node) in traced_ids]
        constructed: set[str] = set()  # what the classes' __init__ build: their submodules
        for function in self._functions.values():
            if function.node.name.value == "__init__" and function.owner is not None:
                constructed |= _called_names(function.node)
        exported = {self._classes[f.owner].name for f in traced if f.owner in self._classes} & set(self.modes)
        self._foreign_contexts(traced)

        def is_entry(function: _Function) -> bool:
            info = self._classes.get(function.owner or "")
            if info is None or function.node.name.value != "forward":
                return False  # a method or helper: analysed from its call sites (below)
            return info.name in exported or info.name not in constructed

        pending = [f for f in traced if not is_entry(f)]
        for function in traced:
            if is_entry(function):
                self._analyse(function)
        # A callee is analysed with what its call sites passed, once an analysed caller reached it
        # (waves: a callee's callers may come later in the file). A `forward` nothing reached is
        # analysed with its own entry values (any module's call may run it). What is left then no
        # analysed call reached. Every-module mode traces a method or helper only because traced
        # code calls it by name: that call is dead (`if self.training:`) or lost, and the function
        # stays without values (the rules are silent in it). An export root may reach one through
        # a call in another file: with no call to it in this file's traced code, it is analysed
        # with its own entry values (and its callees in the next waves).
        uncalled: list[_Function] | None = None
        while pending:
            ready = [f for f in pending if id(f.node) in self._contexts]
            if not ready:
                ready = [f for f in pending if f.node.name.value == "forward"][:1]
            if not ready and self.semantic.reached is not None:
                if uncalled is None:
                    called: set[str] = set()
                    for function in traced:
                        called |= _called_names(function.node)
                    uncalled = [
                        f
                        for f in pending
                        if (f"self.{f.node.name.value}" if f.owner else f.node.name.value) not in called
                    ]
                ready = [f for f in uncalled if id(f.node) not in self._analysed][:1]
            if not ready:
                break
            for function in ready:
                self._analyse(function)
            pending = [f for f in pending if id(f.node) not in self._analysed]
        # A call analysed later (a deeper wave, or a summary that knew more) may have told more
        # of a callee's parameters than the calls it was analysed with: analyse it again (twice
        # at most; the values only gain facts, and the later run's values stand).
        for _ in range(2):
            stale = [f for f in traced if id(f.node) in self._entries and self._entry(f) != self._entries[id(f.node)]]
            if not stale:
                break
            for function in stale:
                self._analysed.discard(id(function.node))
                self._analyse(function)

    # -- queries -------------------------------------------------------------------------
    def values_of(self, function: cst.FunctionDef) -> bool:
        """Analyse ``function`` if not yet (a nested function of traced code); False when unknown."""
        if id(function) in self._analysed:
            return True
        found = self._functions.get(id(function))
        if found is None or id(function) in self.semantic.traced_functions():
            return False  # a traced callee that no analysed call reaches (see _analyse_traced)
        self._analyse(found)  # a function nested in traced code
        return True


#: Programs of other files (values.other_files), built on demand, one per file and target torch.
_FOREIGN: weakref.WeakKeyDictionary[SemanticModel, FileProgram] = weakref.WeakKeyDictionary()


def _agree(agreed: dict[str, Value], name: str, value: Value) -> None:
    known = agreed.get(name)
    agreed[name] = value if known is None else (known if known == value else UNKNOWN)


def _join_env(a: Env, b: Env, keep_missing: bool = True) -> Env:
    result = dict(a) if keep_missing else {name: value for name, value in a.items() if name in b}
    for name, value in b.items():
        known = result.get(name)
        if known is None:
            if keep_missing:
                result[name] = value
        else:
            result[name] = join(known, value)
    return result


def _join_calls(a: Env, b: Env) -> Env:
    """The values two calls of a function pass (or one call, seen at two depths of the summaries),
    where what one passes is unknown the other's stands: each call is a path export traces, so a
    fact of one of them (a data-shaped tensor handed to a data-dependent branch) is a hazard of the
    trace whatever the analysis could not tell of the other; known values join as usual."""
    result = dict(a)
    for name, value in b.items():
        known = result.get(name)
        if known is None:
            result[name] = value
        elif {known, value} == {UNKNOWN, NONE}:
            result[name] = UNKNOWN  # `None` from one call, anything from the other
        elif known.kind is Kind.UNKNOWN or known == NONE:
            result[name] = value  # (a call that passes `None` for a tensor is one the analysis could not narrow)
        elif value.kind is not Kind.UNKNOWN and value != NONE:
            result[name] = join(known, value)
    return result


def _with_declared_tensors(function: cst.FunctionDef, env: Env) -> Env:
    """``env`` where a parameter annotated as a tensor, not optional and without a default
    (``mask: torch.Tensor``), was passed what the caller's analysis could not tell: a tensor.
    (Not for the callee's entry values: there the other calls' values stand.)"""
    params = function.params
    result = env
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        name = param.name.value
        value = env.get(name)
        if value is None or value.kind is not Kind.UNKNOWN or param.default is not None or param.annotation is None:
            continue
        annotation = param.annotation.annotation
        if isinstance(annotation, (cst.Name, cst.Attribute)) and torch_api.annotation_is_tensor(annotation):
            result = dict(result) if result is env else result
            result[name] = TENSOR
    return result


def _default_value(param: cst.Param) -> Value:
    default = param.default
    if default is None:
        return UNKNOWN
    if isinstance(default, cst.Name) and default.value in ("None", "True", "False"):
        return NONE if default.value == "None" else static(default.value == "True")
    if isinstance(default, cst.Integer):
        return static(int(default.value.replace("_", ""), 0))
    if isinstance(default, (cst.Float, cst.SimpleString)):
        return STATIC
    return UNKNOWN


def _param_value(param: cst.Param, is_forward: bool, only: bool, mode: ExportMode | None) -> Value:
    """A parameter's value from what the function itself says: annotated ``Tensor``; or,
    unannotated in ``forward``, the only input or one the file's export calls pass a tensor for
    (``forward(self, inputs_shape, device)`` is not all tensors)."""
    default = param.default
    if default is not None and not (isinstance(default, cst.Name) and default.value == "None"):
        return UNKNOWN  # `output_attentions: torch.Tensor | None = False` is a flag, whatever its annotation
    if param.annotation is not None:
        return TENSOR if torch_api.annotation_is_tensor(param.annotation.annotation) else UNKNOWN
    if not is_forward:
        return UNKNOWN
    if (mode is not None and param.name.value in mode.tensor_params) or (only and default is None):
        return TENSOR
    return UNKNOWN
