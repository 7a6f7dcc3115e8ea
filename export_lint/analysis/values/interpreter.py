"""Flow-sensitive abstract interpretation of one function body.

Statements run in order over an environment (name -> :class:`Value`); branches run on copies and
join where they meet, ``return``/``raise`` end a path (an early return leaves the code after it
only the other paths), loops run to a fixpoint (a few rounds, then what still changes is dropped to
unknown), and ``a if c else b``, comprehensions, tuple unpacking, ``with`` and ``try`` are followed.
``self.training`` reads as ``False`` (export traces eval mode), so ``if self.training:`` bodies are
not run. Calls of this file's functions, methods and submodules go to :class:`Calls` (the
interprocedural part, ``values.program``), which answers with the callee's summary.

When ``record`` is given, every expression evaluated on a live path gets its value there (by node
id); what is never evaluated (dead code) has no value, and rules stay silent on it.
"""

from __future__ import annotations

from typing import Protocol

import libcst as cst

from export_lint.analysis.values import torch_api
from export_lint.analysis.values.exports import int_literal
from export_lint.analysis.values.lattice import (
    BOOL_TENSOR,
    DATA_SCALAR,
    DATA_SHAPED,
    NONE,
    SIZE,
    STATIC,
    TENSOR,
    UNKNOWN,
    Kind,
    Value,
    combine,
    element_of,
    join,
    join_all,
    sequence_of,
    static,
)
from export_lint.traversal import descendants

Env = dict[str, Value]

#: Rounds a loop body runs before the names it still changes are dropped to unknown.
LOOP_ROUNDS = 3

#: List methods that add elements (the list is rebound to what it holds afterwards).
_GROWING = frozenset({"append", "extend", "insert"})
_BUILTIN_SEQUENCES = frozenset({"list", "tuple", "sorted", "reversed", "set", "frozenset", "iter"})


class Calls(Protocol):
    """What the interpreter asks about the rest of the program."""

    def qualified_name(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode]) -> str | None: ...

    def attribute(self, owner: Value, name: str) -> Value: ...

    def call_value(
        self, callee: Value, args: list[tuple[str | None, Value]], star: bool, call: cst.Call, depth: int
    ) -> Value: ...

    def call_name(
        self,
        func: cst.Name,
        scopes: list[cst.CSTNode],
        args: list[tuple[str | None, Value]],
        star: bool,
        call: cst.Call,
        depth: int,
    ) -> Value | None: ...

    def closure(self, function: cst.FunctionDef, env: Env) -> None: ...

    def call_qualified(
        self, qualified: str, args: list[tuple[str | None, Value]], star: bool, depth: int
    ) -> Value | None: ...


class _Loop:
    def __init__(self) -> None:
        self.breaks: list[Env] = []
        self.continues: list[Env] = []


def join_envs(envs: list[Env | None]) -> Env | None:
    """Where paths meet: a name bound on only some paths keeps its value (using it on the other
    paths would raise), a name bound on several gets the join."""
    live = [env for env in envs if env is not None]
    if not live:
        return None
    if len(live) == 1:
        return dict(live[0])
    result = dict(live[0])
    for env in live[1:]:
        for name, value in env.items():
            known = result.get(name)
            result[name] = value if known is None else join(known, value)
    return result


class Interpreter:
    """Runs one function body abstractly; ``returns`` holds the joined return value."""

    def __init__(
        self,
        calls: Calls,
        scopes: list[cst.CSTNode],
        record: dict[int, Value] | None,
        depth: int = 0,
    ) -> None:
        self.calls = calls
        #: The scope nodes around the function, outermost first (a stack for name resolution).
        self.scopes = scopes
        self.record = record
        self.depth = depth
        self.returns: list[Value] = []
        self._loops: list[_Loop] = []

    # -- entry ------------------------------------------------------------------------
    def run(self, function: cst.FunctionDef, env: Env) -> Value:
        end = self.block(function.body, env)
        if end is not None:
            self.returns.append(NONE)
        return join_all(self.returns) if self.returns else UNKNOWN

    # -- statements -------------------------------------------------------------------
    def block(self, body: cst.BaseSuite, env: Env | None) -> Env | None:
        statements = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else []
        for statement in statements:
            if env is None:
                return None
            env = self.statement(statement, env)
        return env

    def statement(self, node: cst.CSTNode, env: Env) -> Env | None:
        kind = type(node)
        if kind is cst.SimpleStatementLine or kind is cst.SimpleStatementSuite:
            for small in node.body:
                if env is None:
                    return None
                env = self.small(small, env)
            return env
        if kind is cst.If:
            return self._if(node, env)
        if kind is cst.For:
            return self._for(node, env)
        if kind is cst.While:
            return self._while(node, env)
        if kind is cst.With:
            for item in node.items:
                self.eval(item.item, env)
                if item.asname is not None:
                    self.bind(item.asname.name, UNKNOWN, env)
            return self.block(node.body, env)
        if kind is cst.Try or kind is cst.TryStar:
            return self._try(node, env)
        if kind is cst.FunctionDef:
            self.calls.closure(node, dict(env))
            env[node.name.value] = UNKNOWN
            return env
        if kind is cst.ClassDef:
            env[node.name.value] = UNKNOWN
            return env
        if kind is cst.Match:
            self.eval(node.subject, env)
            for name in _assigned_in(node):
                env[name] = UNKNOWN
            return env
        return env

    def small(self, node: cst.CSTNode, env: Env) -> Env | None:
        kind = type(node)
        if kind is cst.Expr:
            self.eval(node.value, env)
        elif kind is cst.Assign:
            value = self.eval(node.value, env)
            for target in node.targets:
                self.bind(target.target, value, env)
        elif kind is cst.AnnAssign:
            if node.value is not None:
                self.bind(node.target, self.eval(node.value, env), env)
        elif kind is cst.AugAssign:
            current = self.eval(node.target, env)
            self.bind(node.target, combine(current, self.eval(node.value, env)), env)
        elif kind is cst.Return:
            self.returns.append(self.eval(node.value, env) if node.value is not None else NONE)
            return None
        elif kind is cst.Raise:
            if node.exc is not None:
                self.eval(node.exc, env)
            return None
        elif kind is cst.Assert:
            self.eval(node.test, env)
        elif kind is cst.Break:
            if self._loops:
                self._loops[-1].breaks.append(dict(env))
            return None
        elif kind is cst.Continue:
            if self._loops:
                self._loops[-1].continues.append(dict(env))
            return None
        elif kind is cst.Del:
            for name in _names_of(node.target):
                env.pop(name, None)
        elif kind is cst.Global or kind is cst.Nonlocal:
            for item in node.names:
                env[item.name.value] = UNKNOWN
        elif kind is cst.Import or kind is cst.ImportFrom:
            names = node.names if isinstance(node.names, (list, tuple)) else ()
            for alias in names:
                bound = alias.asname.name if alias.asname is not None else alias.name
                for name in _names_of(bound):
                    env[name.split(".")[0]] = UNKNOWN
        return env

    def _if(self, node: cst.If, env: Env) -> Env | None:
        test = self.eval(node.test, env)
        truth = _truth(test)
        body = self.block(node.body, dict(env)) if truth is not False else None
        orelse: Env | None
        if truth is True:
            orelse = None
        elif isinstance(node.orelse, cst.If):
            orelse = self._if(node.orelse, dict(env))
        elif isinstance(node.orelse, cst.Else):
            orelse = self.block(node.orelse.body, dict(env))
        else:
            orelse = dict(env)
        return join_envs([body, orelse])

    def _loop(self, env: Env, round_: object) -> tuple[Env, _Loop]:
        """Run ``round_(head) -> end of body`` to a fixpoint of the loop head; returns the head."""
        head = dict(env)
        loop = _Loop()
        for attempt in range(LOOP_ROUNDS + 1):
            loop = _Loop()
            self._loops.append(loop)
            try:
                end = round_(dict(head))
            finally:
                self._loops.pop()
            following = join_envs([head, end, *loop.continues])
            if following == head:
                break
            if attempt == LOOP_ROUNDS - 1:
                following = {
                    name: value if head.get(name) == value else UNKNOWN for name, value in (following or {}).items()
                }
            head = following or head
        return head, loop

    def _for(self, node: cst.For, env: Env) -> Env | None:
        element = element_of(self.eval(node.iter, env))

        def round_(head: Env) -> Env | None:
            self.bind(node.target, element, head)
            return self.block(node.body, head)

        head, loop = self._loop(env, round_)
        after = self.block(node.orelse.body, dict(head)) if node.orelse is not None else head
        return join_envs([after, *loop.breaks])

    def _while(self, node: cst.While, env: Env) -> Env | None:
        def round_(head: Env) -> Env | None:
            if _truth(self.eval(node.test, head)) is False:
                return None
            return self.block(node.body, head)

        head, loop = self._loop(env, round_)
        if _truth(self.eval(node.test, head)) is True and not loop.breaks:
            return None  # `while True:` without a break only leaves by return or raise
        after = self.block(node.orelse.body, dict(head)) if node.orelse is not None else head
        return join_envs([after, *loop.breaks])

    def _try(self, node: cst.Try | cst.TryStar, env: Env) -> Env | None:
        end = self.block(node.body, dict(env))
        # A handler may start anywhere in the body: what the body changed is joined with the entry.
        start = join_envs([env, end]) or dict(env)
        paths: list[Env | None] = []
        for handler in node.handlers:
            handler_env = dict(start)
            if handler.type is not None:
                self.eval(handler.type, handler_env)
            if handler.name is not None:
                self.bind(handler.name.name, UNKNOWN, handler_env)
            paths.append(self.block(handler.body, handler_env))
        if node.orelse is not None and end is not None:
            end = self.block(node.orelse.body, end)
        paths.append(end)
        joined = join_envs(paths)
        if node.finalbody is not None:
            final = self.block(node.finalbody.body, dict(joined if joined is not None else start))
            return final if joined is not None else None
        return joined

    # -- binding ----------------------------------------------------------------------
    def bind(self, target: cst.BaseExpression, value: Value, env: Env) -> None:
        kind = type(target)
        if kind is cst.Name:
            env[target.value] = value
        elif kind is cst.Tuple or kind is cst.List:
            elements = target.elements
            starred = any(isinstance(e, cst.StarredElement) for e in elements)
            items = value.items if value.kind in (Kind.SEQUENCE, Kind.SHAPE) and not starred else None
            for position, element in enumerate(elements):
                if isinstance(element, cst.StarredElement):
                    self.bind(element.value, sequence_of(element_of(value)), env)
                    continue
                if items is not None and len(items) == len(elements):
                    part = items[position]
                elif value.kind is Kind.SHAPE:
                    part = torch_api.size_at(value, None if starred else position)
                else:
                    part = element_of(value)
                self.bind(element.value, part, env)
        elif kind is cst.StarredElement:
            self.bind(target.value, sequence_of(element_of(value)), env)
        elif kind is cst.Attribute:
            self.eval(target.value, env)
        elif kind is cst.Subscript:
            self.eval(target.value, env)
            self._slices(target, env)

    # -- expressions ------------------------------------------------------------------
    def eval(self, expr: cst.BaseExpression, env: Env) -> Value:
        value = self._eval(expr, env)
        if self.record is not None:
            self.record[id(expr)] = value
        return value

    def _eval(self, expr: cst.BaseExpression, env: Env) -> Value:
        kind = type(expr)
        if kind is cst.Name:
            found = env.get(expr.value)
            if found is not None:
                return found
            if expr.value in ("True", "False"):
                return static(expr.value == "True")
            return NONE if expr.value == "None" else UNKNOWN
        if kind is cst.Attribute:
            return self._attribute(expr, env)
        if kind is cst.Call:
            return self._call(expr, env)
        if kind is cst.Subscript:
            return self._subscript(expr, env)
        if kind is cst.BinaryOperation:
            left, right = self.eval(expr.left, env), self.eval(expr.right, env)
            if isinstance(expr.operator, (cst.BitAnd, cst.BitOr, cst.BitXor)) and Kind.BOOL_TENSOR in (
                left.kind,
                right.kind,
            ):
                return BOOL_TENSOR
            return combine(left, right)
        if kind is cst.UnaryOperation:
            inner = self.eval(expr.expression, env)
            if isinstance(expr.operator, cst.Not):
                if inner.data_dependent:
                    return DATA_SCALAR
                truth = _truth(inner)
                return (
                    static(not truth) if truth is not None else (STATIC if inner.kind is not Kind.UNKNOWN else UNKNOWN)
                )
            return inner
        if kind is cst.BooleanOperation:
            return self._boolean(expr, env)
        if kind is cst.Comparison:
            return self._comparison(expr, env)
        if kind is cst.IfExp:
            truth = _truth(self.eval(expr.test, env))
            if truth is True:
                return self.eval(expr.body, env)
            if truth is False:
                return self.eval(expr.orelse, env)
            return join(self.eval(expr.body, env), self.eval(expr.orelse, env))
        if kind is cst.Integer:
            return static(int(expr.value.replace("_", ""), 0))
        if kind in (cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis):
            return STATIC
        if kind is cst.FormattedString:
            for part in expr.parts:
                if isinstance(part, cst.FormattedStringExpression):
                    self.eval(part.expression, env)
            return STATIC
        if kind is cst.Tuple or kind is cst.List:
            values = [self.eval(e.value, env) for e in expr.elements]
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                parts = [
                    element_of(v) if isinstance(e, cst.StarredElement) else v
                    for e, v in zip(expr.elements, values, strict=True)
                ]
                return sequence_of(join_all(parts))
            return Value(Kind.SEQUENCE, items=tuple(values), element=join_all(values) if values else None)
        if kind is cst.Set:
            return sequence_of(join_all([self.eval(e.value, env) for e in expr.elements]))
        if kind is cst.Dict:
            for element in expr.elements:
                if isinstance(element, cst.DictElement):
                    self.eval(element.key, env)
                self.eval(element.value, env)
            return UNKNOWN
        if kind in (cst.ListComp, cst.GeneratorExp, cst.SetComp):
            inner = self._comprehension(expr.for_in, env)
            return sequence_of(self.eval(expr.elt, inner))
        if kind is cst.DictComp:
            inner = self._comprehension(expr.for_in, env)
            self.eval(expr.key, inner)
            self.eval(expr.value, inner)
            return UNKNOWN
        if kind is cst.NamedExpr:
            value = self.eval(expr.value, env)
            self.bind(expr.target, value, env)
            return value
        if kind is cst.Lambda:
            inner = dict(env)
            for param in _params(expr.params):
                inner[param.name.value] = UNKNOWN
            self.eval(expr.body, inner)
            return UNKNOWN
        if kind is cst.StarredElement:
            return self.eval(expr.value, env)
        if kind is cst.Await or kind is cst.Yield:
            inner_expr = expr.expression if kind is cst.Await else expr.value
            if isinstance(inner_expr, cst.BaseExpression):
                self.eval(inner_expr, env)
            return UNKNOWN
        return UNKNOWN

    def _comprehension(self, for_in: cst.CompFor, env: Env) -> Env:
        inner = dict(env)
        current: cst.CompFor | None = for_in
        first = True
        while current is not None:
            # The first iterable runs in the enclosing scope, the others inside the comprehension.
            iterable = self.eval(current.iter, env if first else inner)
            first = False
            self.bind(current.target, element_of(iterable), inner)
            for condition in current.ifs:
                self.eval(condition.test, inner)
            current = current.inner_for_in
        return inner

    def _attribute(self, expr: cst.Attribute, env: Env) -> Value:
        base = self.eval(expr.value, env)
        name = expr.attr.value
        if base.is_tensor:
            return torch_api.tensor_attribute(base, name)
        if base.kind is Kind.MODULE:
            return self.calls.attribute(base, name)
        return UNKNOWN

    def _slices(self, expr: cst.Subscript, env: Env) -> list[Value]:
        found: list[Value] = []
        for element in expr.slice:
            part = element.slice
            if isinstance(part, cst.Index):
                found.append(self.eval(part.value, env))
            elif isinstance(part, cst.Slice):
                bounds = [self.eval(b, env) for b in (part.lower, part.upper, part.step) if b is not None]
                data = any(b.kind is Kind.DATA_SCALAR for b in bounds)
                found.append(Value(Kind.SEQUENCE, const="data-slice") if data else Value(Kind.SEQUENCE, const="slice"))
        return found

    def _subscript(self, expr: cst.Subscript, env: Env) -> Value:
        base = self.eval(expr.value, env)
        indices = self._slices(expr, env)
        single = expr.slice[0].slice if len(expr.slice) == 1 else None
        position = int_literal(single.value) if isinstance(single, cst.Index) else None
        if base.kind is Kind.SHAPE:
            if isinstance(single, cst.Index):
                return torch_api.size_at(base, position)
            return Value(Kind.SEQUENCE, element=base.element)
        if base.kind is Kind.SEQUENCE:
            if isinstance(single, cst.Slice):
                return sequence_of(element_of(base))
            if base.items is not None and position is not None and -len(base.items) <= position < len(base.items):
                return base.items[position]
            return element_of(base)
        if base.kind is Kind.DATA_SCALAR:
            return DATA_SCALAR
        if base.is_tensor:
            if base.kind is Kind.DATA_SHAPED_TENSOR:
                return DATA_SHAPED
            for index in indices:
                if index.kind in (Kind.BOOL_TENSOR, Kind.DATA_SHAPED_TENSOR) or index.const == "data-slice":
                    return DATA_SHAPED
            return TENSOR
        return UNKNOWN

    def _boolean(self, expr: cst.BooleanOperation, env: Env) -> Value:
        left = self.eval(expr.left, env)
        truth = _truth(left)
        is_and = isinstance(expr.operator, cst.And)
        if (truth is False and is_and) or (truth is True and not is_and):
            return left  # the right side never runs
        right = self.eval(expr.right, env)
        if truth is not None:
            return right
        return left if left == right else (join(left, right) if left.kind is right.kind else UNKNOWN)

    def _comparison(self, expr: cst.Comparison, env: Env) -> Value:
        values = [self.eval(expr.left, env), *(self.eval(c.comparator, env) for c in expr.comparisons)]
        operators = [c.operator for c in expr.comparisons]
        if any(isinstance(o, (cst.Is, cst.IsNot)) for o in operators):
            return STATIC
        if any(isinstance(o, (cst.In, cst.NotIn)) for o in operators):
            # `0 in mask` reads tensor data through Tensor.__contains__.
            if len(operators) == 1 and values[1].is_tensor:
                return DATA_SCALAR
            return STATIC if all(v.kind is not Kind.UNKNOWN for v in values) else UNKNOWN
        if any(v.is_tensor for v in values):
            return BOOL_TENSOR
        if any(v.kind is Kind.DATA_SCALAR for v in values):
            return DATA_SCALAR
        if all(v.kind in (Kind.STATIC, Kind.SIZE) for v in values):
            return STATIC
        return UNKNOWN

    # -- calls ------------------------------------------------------------------------
    def _call(self, call: cst.Call, env: Env) -> Value:
        func = call.func
        receiver = self.eval(func.value, env) if isinstance(func, cst.Attribute) else None
        args: list[tuple[str | None, Value]] = []
        star = False
        for arg in call.args:
            value = self.eval(arg.value, env)
            if arg.star:
                star = True
                continue
            args.append((arg.keyword.value if arg.keyword is not None else None, value))
        positional = [value for keyword, value in args if keyword is None]
        if receiver is not None and isinstance(func, cst.Attribute):
            method = func.attr.value
            if receiver.is_tensor:
                return torch_api.tensor_method(receiver, method, positional, call)
            if receiver.kind is Kind.MODULE:
                callee = self.calls.attribute(receiver, method)
                return self.calls.call_value(callee, args, star, call, self.depth)
            if receiver.kind is Kind.SEQUENCE and method in ("index", "count"):
                return STATIC
            if receiver.kind is Kind.SEQUENCE and method in _GROWING and isinstance(func.value, cst.Name):
                # `parts.append(t)`: the list now holds what it held and the new element.
                added = positional[-1] if positional else UNKNOWN
                if method == "extend":
                    added = element_of(added)
                held = receiver.items == () and receiver.element is None
                env[func.value.value] = sequence_of(added if held else join(element_of(receiver), added))
                return NONE
            if receiver.kind is not Kind.UNKNOWN:
                return UNKNOWN
        if isinstance(func, cst.Name):
            if func.value in env:
                return self.calls.call_value(env[func.value], args, star, call, self.depth)
            found = self.calls.call_name(func, self.scopes, args, star, call, self.depth)
            if found is not None:
                return found
        elif not isinstance(func, cst.Attribute):
            return self.calls.call_value(self.eval(func, env), args, star, call, self.depth)
        qualified = self.calls.qualified_name(func, self.scopes)
        if qualified is None:
            return UNKNOWN
        builtin = _builtin(qualified, positional, star)
        if builtin is not None:
            return builtin
        if isinstance(func, cst.Attribute):  # `box_ops.clip_boxes_to_image(...)`: a module's function
            found = self.calls.call_qualified(qualified, args, star, self.depth)
            if found is not None:
                return found
        return torch_api.torch_function(qualified, positional, call)


def _builtin(name: str, args: list[Value], star: bool) -> Value | None:
    """Builtins on abstract values; None when ``name`` is not one handled here."""
    first = args[0] if len(args) == 1 and not star else None
    if name in ("int", "float", "bool"):
        if first is None:
            return UNKNOWN
        if first.data_dependent:
            return DATA_SCALAR
        return first if first.kind in (Kind.SIZE, Kind.STATIC) else UNKNOWN
    if name == "len":
        if first is None:
            return UNKNOWN
        if first.kind is Kind.DATA_SHAPED_TENSOR:
            return DATA_SCALAR
        if first.is_tensor:
            return torch_api.size_at(torch_api.shape_of(first), 0)
        if first.kind is Kind.SEQUENCE and first.items is not None:
            return static(len(first.items))
        return STATIC if first.kind in (Kind.SEQUENCE, Kind.SHAPE, Kind.DATA_SCALAR) else UNKNOWN
    if name in ("abs", "round"):
        if first is None:
            return UNKNOWN
        if first.is_tensor:
            return TENSOR
        return first if first.kind in (Kind.DATA_SCALAR, Kind.SIZE, Kind.STATIC) else UNKNOWN
    if name in ("min", "max", "sum"):
        parts = args if len(args) > 1 else [element_of(args[0])] if args else []
        if any(p.is_tensor for p in parts):
            return UNKNOWN if name != "sum" else TENSOR
        if any(p.kind is Kind.DATA_SCALAR for p in parts):
            return DATA_SCALAR
        return SIZE if parts and all(p.kind in (Kind.SIZE, Kind.STATIC) for p in parts) else UNKNOWN
    if name == "range":
        if star or not args:
            return UNKNOWN
        if any(a.kind is Kind.DATA_SCALAR for a in args):
            return sequence_of(DATA_SCALAR)
        return sequence_of(SIZE if all(a.kind in (Kind.SIZE, Kind.STATIC) for a in args) else UNKNOWN)
    if name == "zip":
        return sequence_of(Value(Kind.SEQUENCE, items=tuple(element_of(a) for a in args))) if not star else UNKNOWN
    if name == "enumerate":
        if first is None:
            return UNKNOWN
        return sequence_of(Value(Kind.SEQUENCE, items=(SIZE, element_of(first))))
    if name in _BUILTIN_SEQUENCES:
        if first is None:
            return UNKNOWN if args or star else sequence_of(UNKNOWN)
        return sequence_of(element_of(first))
    if name in ("isinstance", "hasattr", "callable", "getattr", "str", "repr", "print", "type", "id"):
        return STATIC if name not in ("getattr", "type") else UNKNOWN
    return None


def _truth(value: Value) -> bool | None:
    """The truth of a value known without running: a constant's; None otherwise."""
    if value.kind is Kind.STATIC and isinstance(value.const, bool):
        return value.const
    if value == NONE:
        return False
    return None


def _params(params: cst.Parameters) -> list[cst.Param]:
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append(star)
    return found


def _names_of(node: cst.CSTNode) -> list[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, cst.Attribute):
        head = _names_of(node.value)
        return [f"{head[0]}.{node.attr.value}"] if head else []
    if isinstance(node, (cst.Tuple, cst.List)):
        return [name for element in node.elements for name in _names_of(element.value)]
    if isinstance(node, cst.StarredElement):
        return _names_of(node.value)
    return []


def _assigned_in(node: cst.CSTNode) -> set[str]:
    """Every name a statement binds anywhere inside (match patterns, nested assignments)."""
    found: set[str] = set()
    for inner in descendants(node):
        if isinstance(inner, cst.Name):
            found.add(inner.value)
    return found
