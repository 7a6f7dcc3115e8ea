"""Fast passes over a LibCST tree: a walk that builds no nodes, and character spans by codegen.

``CSTNode.visit`` rebuilds every node it passes (``_visit_and_replace_children``) even for a
read-only visitor, which costs about as much as parsing; the walk here only reads fields, in the
same order LibCST visits them. ``PositionProvider`` tracks lines and columns through the metadata
machinery (about twice a parse); ``node_spans`` counts characters in one codegen pass instead.
"""

from __future__ import annotations

import contextlib
import inspect
import re
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

_FIELD_VISIT = re.compile(r'visit_\w+\(\s*self,\s*"(\w+)"')
_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(node_type: type[cst.CSTNode]) -> tuple[str, ...]:
    """The fields holding a node type's children, in the order LibCST visits them."""
    fields = _FIELDS.get(node_type)
    if fields is None:
        try:
            source = inspect.getsource(node_type._visit_and_replace_children)
            fields = tuple(dict.fromkeys(_FIELD_VISIT.findall(source)))
        except (OSError, TypeError):
            fields = ()
        if not fields:  # no visit helpers found: fall back to the dataclass field order
            fields = tuple(name for name in getattr(node_type, "__dataclass_fields__", {}))
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
_SEQUENCES = (tuple, list)


def children(node: cst.CSTNode, skip: frozenset[type] = frozenset()) -> Iterator[cst.CSTNode]:
    """A node's children in visiting order, leaving out nodes whose type is in ``skip``."""
    node_types = NODE_TYPES
    for name in child_fields(type(node)):
        value = getattr(node, name)
        kind = type(value)
        if kind in node_types:
            if kind not in skip:
                yield value
        elif kind in _SEQUENCES:
            for item in value:
                kind = type(item)
                if kind in node_types and kind not in skip:
                    yield item


def walk(
    root: cst.CSTNode,
    on_visit: Callable[[cst.CSTNode], object],
    on_leave: Callable[[cst.CSTNode], object],
    skip: frozenset[type] = TRIVIA_TYPES,
) -> None:
    """Depth-first ``on_visit``/``on_leave`` over the tree without recursion (no depth limit).

    ``on_visit`` returning ``False`` skips the node's children (``on_leave`` is still called).
    """
    todo: list[tuple[cst.CSTNode, bool]] = [(root, False)]
    pop, push = todo.pop, todo.append
    while todo:
        node, leaving = pop()
        if leaving:
            on_leave(node)
            continue
        descend = on_visit(node) is not False
        push((node, True))
        if descend:
            below = list(children(node, skip))
            for child in reversed(below):
                push((child, False))


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
_FAST_VISITORS: dict[tuple[str, str], frozenset[type] | None] = {}


def _fast_skip(visitor_type: type) -> frozenset[type] | None:
    """The trivia a visitor class can skip, or None when it needs LibCST's own traversal."""
    # Keyed by where the class is defined: visitors defined inside functions are new classes per call.
    key = (visitor_type.__module__, visitor_type.__qualname__)
    if key in _FAST_VISITORS:
        return _FAST_VISITORS[key]
    skip: frozenset[type] | None = None
    if issubclass(visitor_type, cst.CSTVisitor) and not any(
        getattr(visitor_type, hook) is not getattr(cst.CSTVisitor, hook)
        for hook in ("on_visit_attribute", "on_leave_attribute")
    ):
        hooks = [
            name.split("_", 1)[1]
            for name in dir(visitor_type)
            if name.startswith(("visit_", "leave_"))
            and getattr(visitor_type, name) is not getattr(cst.CSTVisitor, name, None)  # the base has empty stubs
        ]
        if all(hook in _NODE_TYPE_NAMES for hook in hooks):  # no per-attribute hooks (visit_If_body)
            overrides_generic = any(
                getattr(visitor_type, hook) is not getattr(cst.CSTVisitor, hook) for hook in ("on_visit", "on_leave")
            )
            skip = frozenset() if overrides_generic else frozenset(t for t in TRIVIA_TYPES if t.__name__ not in hooks)
    _FAST_VISITORS[key] = skip
    return skip


def visit(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Walk ``node`` with a read-only ``visitor``, without rebuilding nodes where LibCST would.

    Applies to ``CSTVisitor`` subclasses without per-attribute hooks; anything else goes through
    LibCST's own ``node.visit``. Whitespace and punctuation nodes are only visited by visitors
    that name them (or override ``on_visit``/``on_leave``). Rules and the semantic model use this
    for their sub-walks, which through ``node.visit`` cost as much as parsing the file again.
    LibCST itself is left untouched: other LibCST code in the same process keeps its semantics.
    """
    skip = _fast_skip(type(visitor))
    if skip is None:
        node.visit(visitor)
    else:
        walk(node, visitor.on_visit, visitor.on_leave, skip)
