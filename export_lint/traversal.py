"""Fast passes over a LibCST tree: a walk that builds no nodes, and character spans by codegen.

``CSTNode.visit`` rebuilds every node it passes (``_visit_and_replace_children``) even for a
read-only visitor, which costs about as much as parsing; the walk here only reads fields, in the
same order LibCST visits them. ``PositionProvider`` tracks lines and columns through the metadata
machinery (about twice a parse); ``node_spans`` counts characters in one codegen pass instead.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import typing
from collections.abc import Callable, Iterator

import libcst as cst
from libcst._nodes.internal import CodegenState

#: Whitespace and punctuation nodes: skipped by the walk unless a rule asks for one of them.
TRIVIA_TYPES: frozenset[type[cst.CSTNode]] = frozenset(
    {
        cst.SimpleWhitespace,
        cst.ParenthesizedWhitespace,
        cst.EmptyLine,
        cst.TrailingWhitespace,
        cst.Newline,
        cst.Comment,
        cst.LeftParen,
        cst.RightParen,
        cst.LeftSquareBracket,
        cst.RightSquareBracket,
        cst.LeftCurlyBrace,
        cst.RightCurlyBrace,
        cst.Comma,
        cst.Dot,
        cst.Colon,
        cst.Semicolon,
        cst.AssignEqual,
    }
)

_FIELDS: dict[type, tuple[str, ...]] = {}


def _string_constants(code) -> Iterator[str]:
    for constant in code.co_consts:
        if isinstance(constant, str):
            yield constant
        elif hasattr(constant, "co_consts"):
            yield from _string_constants(constant)


def child_fields(node_type: type[cst.CSTNode]) -> tuple[str, ...]:
    """The fields holding a node type's children, in the order LibCST visits them.

    ``_visit_and_replace_children`` names each field as a string constant, in visiting order
    (``visit_required(self, "value", self.value, visitor)``): its code object's constants give the
    order without reading source files.
    """
    fields = _FIELDS.get(node_type)
    if fields is None:
        declared = getattr(node_type, "__dataclass_fields__", {})
        code = getattr(getattr(node_type, "_visit_and_replace_children", None), "__code__", None)
        names = _string_constants(code) if code is not None else ()
        fields = tuple(dict.fromkeys(name for name in names if name in declared))
        if not fields:  # no visit helpers found: fall back to the dataclass field order
            fields = tuple(declared)
        _FIELDS[node_type] = fields
    return fields


def _concrete_node_types() -> frozenset[type]:
    found, todo = set(), [cst.CSTNode]
    while todo:
        kind = todo.pop()
        found.add(kind)
        todo.extend(kind.__subclasses__())
    return frozenset(found)


#: ``type(x) in NODE_TYPES`` is several times faster than ``isinstance(x, CSTNode)`` (an ABC check).
NODE_TYPES = _concrete_node_types()
#: The classes parsed nodes can have: not abstract, and not the stale copy of each class that
#: LibCST's ``@add_slots`` leaves behind.
_PARSED_NODE_TYPES = frozenset(
    kind
    for kind in NODE_TYPES
    if getattr(sys.modules.get(kind.__module__), kind.__name__, None) is kind and not inspect.isabstract(kind)
)
#: Expression node types: a walk pruning them sees statements only (definitions, imports).
EXPRESSION_TYPES = frozenset(kind for kind in NODE_TYPES if cst.BaseExpression in kind.__mro__)
_TABLES: dict[frozenset[type], dict[type, tuple[str, ...]]] = {}


def _node_classes(annotation: object) -> set[type] | None:
    """The node classes a field annotation admits (subclasses included); None when unreadable."""
    found: set[type] = set()
    todo = [annotation]
    while todo:
        item = todo.pop()
        if isinstance(item, type):
            if cst.CSTNode in item.__mro__:
                found.update(kind for kind in _PARSED_NODE_TYPES if item in kind.__mro__)
            elif item in (list, tuple) or issubclass(item, str):
                return None  # a bare container or a string annotation: cannot tell
            continue
        arguments = typing.get_args(item)
        if not arguments and item is not None:
            return None
        todo.extend(arguments)
    return found


def _kept_fields(kind: type, skip: frozenset[type]) -> tuple[str, ...]:
    """The child fields of a node type that can hold a node not in ``skip``, by LibCST's field
    annotations: ``Name``'s only fields are its parentheses, so a walk skipping those reads none."""
    declared = getattr(kind, "__dataclass_fields__", {})
    kept = []
    for name in child_fields(kind):
        field = declared.get(name)
        classes = _node_classes(field.type) if field is not None else None
        if classes is None or not classes <= skip:
            kept.append(name)
    return tuple(kept)


def children(node: cst.CSTNode, skip: frozenset[type] = frozenset()) -> list[cst.CSTNode]:
    """A node's children in visiting order, leaving out nodes whose type is in ``skip``."""
    found: list[cst.CSTNode] = []
    children_into(node, type(node), skip, found)
    found.reverse()
    return found


def children_into(node: cst.CSTNode, kind: type, skip: frozenset[type], into: list) -> None:
    """Append a node's children, in reverse visiting order, to ``into`` (a walk's to-do stack)."""
    node_types = NODE_TYPES
    start = len(into)
    table = _TABLES.get(skip)
    if table is None:
        table = _TABLES[skip] = {}
    fields = table.get(kind)
    if fields is None:
        fields = table[kind] = _kept_fields(kind, skip)
    for name in fields:
        value = getattr(node, name)
        value_kind = type(value)
        if value_kind in node_types:
            if value_kind not in skip:
                into.append(value)
        elif value_kind is tuple or value_kind is list:
            for item in value:
                item_kind = type(item)
                if item_kind in node_types and item_kind not in skip:
                    into.append(item)
    into[start:] = into[start:][::-1]


def walk(
    root: cst.CSTNode,
    on_visit: Callable[[cst.CSTNode], object],
    on_leave: Callable[[cst.CSTNode], object],
    skip: frozenset[type] = TRIVIA_TYPES,
) -> None:
    """Depth-first ``on_visit``/``on_leave`` over the tree without recursion (no depth limit).

    ``on_visit`` returning ``False`` skips the node's children (``on_leave`` is still called).
    """
    todo: list = [root]
    pop, push = todo.pop, todo.append
    while todo:
        node = pop()
        kind = type(node)
        if kind is tuple:  # (node,): its children are done
            on_leave(node[0])
            continue
        push((node,))
        if on_visit(node) is not False:
            children_into(node, kind, skip, todo)


def descendants(
    root: cst.CSTNode, prune: frozenset[type] = frozenset(), skip: frozenset[type] = TRIVIA_TYPES
) -> list[cst.CSTNode]:
    """``root`` and the nodes under it in visiting order, without entering nodes (other than
    ``root``) whose type is in ``prune``; those nodes themselves are listed."""
    found: list[cst.CSTNode] = []
    todo: list[cst.CSTNode] = [root]
    while todo:
        node = todo.pop()
        found.append(node)
        kind = type(node)
        if kind in prune and node is not root:
            continue
        children_into(node, kind, skip, todo)
    return found


class _SpanState(CodegenState):
    """Codegen that counts characters and records each node's syntactic [start, end) offsets."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.offset = 0
        self.last_token = ""
        self.spans: dict[cst.CSTNode, tuple[int, int]] = {}
        self._starts: list[int] = []

    def add_token(self, value: str) -> None:
        self.offset += len(value)
        self.last_token = value

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def pop_trailing_newline(self) -> None:
        self.offset -= len(self.last_token)
        self.last_token = ""

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._starts.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._starts.pop()
        if node not in self.spans:  # a syntactic span recorded inside wins
            self.spans[node] = (start, self.offset)

    @contextlib.contextmanager
    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> Iterator[None]:
        start = self.offset
        try:
            yield
        finally:
            end = self.offset
            if start_node is not None:
                start = self.spans[start_node][0]
            if end_node is not None:
                end = self.spans[end_node][1]
            self.spans[node] = (start, end)


def node_spans(module: cst.Module) -> dict[cst.CSTNode, tuple[int, int]]:
    """Character offsets of every node, as ``PositionProvider`` would place them (one codegen pass)."""
    state = _SpanState(module)
    module._codegen(state)
    return state.spans


# -- a faster walk for read-only visitors ------------------------------------------------

_NODE_TYPE_NAMES = frozenset(kind.__name__ for kind in NODE_TYPES)
#: Name -> node classes. LibCST's ``@add_slots`` rebuilds each class, so one name can have two.
_TYPES_BY_NAME: dict[str, list[type]] = {}
for _kind in NODE_TYPES:
    _TYPES_BY_NAME.setdefault(_kind.__name__, []).append(_kind)


class _Plan:
    """How to walk with one visitor class: the trivia it can skip and its ``visit_``/``leave_`` hooks."""

    def __init__(self, skip: frozenset[type], generic: bool, visits: dict[type, str], leaves: dict[type, str]):
        self.skip = skip
        self.generic = generic  # overrides on_visit/on_leave: call those for every node
        self.visits = visits
        self.leaves = leaves


_PLANS: dict[tuple[str, str], _Plan | None] = {}


def _plan(visitor_type: type) -> _Plan | None:
    """The walk plan of a visitor class, or None when it needs LibCST's own traversal."""
    # Keyed by where the class is defined: visitors defined inside functions are new classes per call.
    key = (visitor_type.__module__, visitor_type.__qualname__)
    if key in _PLANS:
        return _PLANS[key]
    plan: _Plan | None = None
    if issubclass(visitor_type, cst.CSTVisitor) and not any(
        getattr(visitor_type, hook) is not getattr(cst.CSTVisitor, hook)
        for hook in ("on_visit_attribute", "on_leave_attribute")
    ):
        hooks = [
            name
            for name in dir(visitor_type)
            if name.startswith(("visit_", "leave_"))
            and getattr(visitor_type, name) is not getattr(cst.CSTVisitor, name, None)  # the base has empty stubs
        ]
        kinds = [name.split("_", 1)[1] for name in hooks]
        if all(kind in _NODE_TYPE_NAMES for kind in kinds):  # no per-attribute hooks (visit_If_body)
            generic = any(
                getattr(visitor_type, hook) is not getattr(cst.CSTVisitor, hook) for hook in ("on_visit", "on_leave")
            )
            skip = frozenset() if generic else frozenset(t for t in TRIVIA_TYPES if t.__name__ not in kinds)
            visits = {
                t: name for name, k in zip(hooks, kinds, strict=True) if name[0] == "v" for t in _TYPES_BY_NAME[k]
            }
            leaves = {
                t: name for name, k in zip(hooks, kinds, strict=True) if name[0] == "l" for t in _TYPES_BY_NAME[k]
            }
            plan = _Plan(skip, generic, visits, leaves)
    _PLANS[key] = plan
    return plan


def _walk_hooks(
    root: cst.CSTNode, visits: dict[type, Callable], leaves: dict[type, Callable], skip: frozenset[type]
) -> None:
    """``walk`` calling only the hooks a visitor has, looked up by node type (no per-node getattr)."""
    todo: list = [root]
    pop, push = todo.pop, todo.append
    while todo:
        node = pop()
        kind = type(node)
        if kind is tuple:  # (node,): leave it, its children done
            leaves[type(node[0])](node[0])
            continue
        if kind in leaves:
            push((node,))
        hook = visits.get(kind)
        if hook is None or hook(node) is not False:
            children_into(node, kind, skip, todo)


def visit(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Walk ``node`` with a read-only ``visitor``, without rebuilding nodes where LibCST would.

    Applies to ``CSTVisitor`` subclasses without per-attribute hooks; anything else goes through
    LibCST's own ``node.visit``. Whitespace and punctuation nodes are only visited by visitors
    that name them (or override ``on_visit``/``on_leave``). Rules and the semantic model use this
    for their sub-walks, which through ``node.visit`` cost as much as parsing the file again.
    LibCST itself is left untouched: other LibCST code in the same process keeps its semantics.
    """
    plan = _plan(type(visitor))
    if plan is None:
        node.visit(visitor)
    elif plan.generic:
        walk(node, visitor.on_visit, visitor.on_leave, plan.skip)
    else:
        visits = {kind: getattr(visitor, name) for kind, name in plan.visits.items()}
        leaves = {kind: getattr(visitor, name) for kind, name in plan.leaves.items()}
        _walk_hooks(node, visits, leaves, plan.skip)
