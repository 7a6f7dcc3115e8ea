"""Code that runs only on some torch releases: the branches of ``if`` statements that test the
torch version (``if torch_version < Version("2.7"):`` ... ``else:`` ...).

A diagnostic of a version-gated rule (a removed API, a hazard of old releases) inside a branch
whose releases and the rule's never meet is not a hazard: that code never runs where the rule's
hazard is real. Recognised tests (one comparison, ``not`` of one, or a boolean flag):

- ``<torch version> <op> <version>`` either way round, where the torch version is
  ``torch.__version__``, ``torch_version()``, ``Version(torch.__version__)``, ... (the expression,
  or what a name in it was assigned, mentions both ``torch`` and ``version``), and the version is a
  string (``"2.7.0"``), ``Version("2.7")`` / ``parse("2.7")``, a tuple of ints, or a constant named
  like ``TORCH_VERSION_2_7_0``;
- flags named like ``TORCH_GREATER_EQUAL_2_7`` / ``_TORCH_GE_2_4`` and calls such as
  ``is_torch_greater_or_equal("2.7")`` (at least that release), ``..._LESS_THAN_2_7`` (below it).

Read with :mod:`ast`; nothing is imported or run.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator

from export_lint import versions

Version = versions.Version


@dataclasses.dataclass(frozen=True)
class Releases:
    """Torch releases ``low <= v < high`` (None: unbounded)."""

    low: Version | None = None
    high: Version | None = None

    def meet(self, other: Releases) -> Releases:
        low = max((v for v in (self.low, other.low) if v is not None), default=None, key=_key)
        high = min((v for v in (self.high, other.high) if v is not None), default=None, key=_key)
        return Releases(low, high)

    def holds(self, version: Version) -> bool:
        return (self.low is None or _key(version) >= _key(self.low)) and (
            self.high is None or _key(version) < _key(self.high)
        )

    def complement(self) -> Releases | None:
        """The other branch's releases, when that is one range (a one-sided bound)."""
        if self.low is not None and self.high is None:
            return Releases(None, self.low)
        if self.high is not None and self.low is None:
            return Releases(self.high, None)
        return None


def _key(version: Version) -> Version:
    return version + (0,) * (4 - len(version))


@dataclasses.dataclass(frozen=True)
class GuardedRegion:
    """Rows ``first..last`` (1-based, inclusive) run only on ``releases``."""

    first: int
    last: int
    releases: Releases


def guarded_regions(tree: ast.Module) -> list[GuardedRegion]:
    """Every branch of the module guarded by a torch-version test, nested guards met."""
    assigned = _assignments(tree)
    found: list[GuardedRegion] = []

    def walk(body: list[ast.stmt], releases: Releases | None) -> None:
        for stmt in body:
            if isinstance(stmt, ast.If):
                test = _test_releases(stmt.test, assigned)
                inner = releases if test is None else (test if releases is None else releases.meet(test))
                _add(found, stmt.body, inner)
                walk(stmt.body, inner)
                other = test.complement() if test is not None else None
                outer = releases if other is None else (other if releases is None else releases.meet(other))
                if test is not None and other is None:
                    outer = releases  # a two-sided test: its else branch is not one range
                _add(found, stmt.orelse, outer)
                walk(stmt.orelse, outer)
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(stmt, field, None)
                if isinstance(children, list):
                    blocks = [h.body for h in children] if field == "handlers" else [children]
                    for block in blocks:
                        walk([c for c in block if isinstance(c, ast.stmt)], releases)

    walk(tree.body, None)
    return found


def _add(found: list[GuardedRegion], body: list[ast.stmt], releases: Releases | None) -> None:
    if releases is not None and body:
        found.append(GuardedRegion(body[0].lineno, body[-1].end_lineno or body[-1].lineno, releases))


def _assignments(tree: ast.Module) -> dict[str, list[ast.expr]]:
    """name -> values it is assigned anywhere in the file (``cur = get_torch_version()``)."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found.setdefault(node.target.id, []).append(node.value)
    return found


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_AT_LEAST = ("GREATER_EQUAL", "_GE_", "GEQ", "AT_LEAST", "_GTE_", "GREATER_OR_EQUAL")
_BELOW = ("LESS_THAN", "_LT_", "LOWER_THAN")


def _test_releases(test: ast.expr, assigned: dict[str, list[ast.expr]]) -> Releases | None:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _test_releases(test.operand, assigned)
        return inner.complement() if inner is not None else None
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _OPS:
        op, left, right = _OPS[type(test.ops[0])], test.left, test.comparators[0]
        bound = _version_value(right)
        if bound is None or not _is_torch_version(left, assigned):
            op, left, right = _FLIP[op], right, left
            bound = _version_value(right)
            if bound is None or not _is_torch_version(left, assigned):
                return None
        if op == "<":
            return Releases(None, bound)
        if op == ">=":
            return Releases(bound, None)
        # ``<= 2.6`` / ``> 2.6``: the gates are per minor release, so 2.6.x counts as 2.6.
        following = (*bound[:2], 10**6) if len(bound) <= 2 else (*bound[:-1], bound[-1] + 1)
        return Releases(None, following) if op == "<=" else Releases(following, None)
    flag = _flag_name(test)
    if flag is not None:
        name, bound = flag
        upper = name.upper().join("__")
        if "TORCH" not in upper or bound is None:
            return None
        if any(word in upper for word in _AT_LEAST):
            return Releases(bound, None)
        if any(word in upper for word in _BELOW):
            return Releases(None, bound)
    return None


def _flag_name(test: ast.expr) -> tuple[str, Version | None] | None:
    """``TORCH_GE_2_7`` -> (name, (2, 7)); ``is_torch_greater_or_equal("2.7")`` -> (name, (2, 7))."""
    if isinstance(test, ast.Call):
        name = _last_name(test.func)
        if name is None or not test.args:
            return None
        return name, _version_value(test.args[0])
    name = _last_name(test)
    return (name, _digits_suffix(name)) if name is not None else None


def _last_name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    return expr.attr if isinstance(expr, ast.Attribute) else None


def _digits_suffix(name: str) -> Version | None:
    """``TORCH_VERSION_2_7_0`` -> (2, 7, 0): the trailing ``_``-separated numbers (two or three)."""
    numbers: list[int] = []
    for part in reversed(name.split("_")):
        if not part.isdigit() or len(numbers) == 3:
            break
        numbers.insert(0, int(part))
    return tuple(numbers) if len(numbers) >= 2 and numbers[0] == 2 else None


def _mentions(expr: ast.expr) -> str:
    """The names, attributes and short strings of an expression, lowercased."""
    parts: list[str] = []
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            parts.append(node.id)
        elif isinstance(node, ast.Attribute):
            parts.append(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 40:
            parts.append(node.value)  # importlib.metadata.version("torch")
    return " ".join(parts).lower()


def _is_torch_version(expr: ast.expr, assigned: dict[str, list[ast.expr]], depth: int = 0) -> bool:
    text = _mentions(expr)
    if "torch" in text and "version" in text:
        return True
    if isinstance(expr, ast.Name) and depth < 3:
        return any(_is_torch_version(value, assigned, depth + 1) for value in assigned.get(expr.id, ()))
    if isinstance(expr, ast.Call) and depth < 3:  # Version(cur) / parse(cur)
        return any(_is_torch_version(arg, assigned, depth + 1) for arg in expr.args[:1])
    return False


def _version_value(expr: ast.expr) -> Version | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        try:
            return versions.parse_version(expr.value)
        except ValueError:
            return None
    if isinstance(expr, ast.Tuple) and expr.elts:
        if all(isinstance(e, ast.Constant) and type(e.value) is int for e in expr.elts):
            return tuple(e.value for e in expr.elts)  # type: ignore[misc]
        return None
    if isinstance(expr, ast.Call) and len(expr.args) == 1 and not expr.keywords:
        return _version_value(expr.args[0])
    name = _last_name(expr)
    return _digits_suffix(name) if name is not None else None


def never_meets(releases: Releases, spec: str) -> bool:
    """Whether no release in ``releases`` satisfies the rule gate ``spec`` (``">=2.11"``)."""
    return not any(releases.holds(v) and versions.matches(v, spec) for v in _candidates(releases, spec))


def _candidates(releases: Releases, spec: str) -> Iterator[Version]:
    yield from (versions.parse_version(v) for v in versions.KNOWN_RELEASES)
    for minor in range(0, 40):
        yield (2, minor, 0)
    for bound in (releases.low, releases.high):
        if bound is not None:
            yield bound
    for part in spec.split(","):
        digits = part.strip().lstrip("<>=!")
        if digits:
            try:
                yield versions.parse_version(digits)
            except ValueError:
                continue


def drop_never_real(tree: ast.Module, diagnostics: list, gates: dict[str, str]) -> list:
    """``diagnostics`` without those of gated rules (code -> gate) in branches whose releases never
    meet the gate."""
    regions = guarded_regions(tree)
    if not regions:
        return diagnostics
    kept = []
    for diagnostic in diagnostics:
        gate = gates.get(diagnostic.code)
        row = diagnostic.start.row if diagnostic.start is not None else None
        if gate and row is not None:
            around = [r.releases for r in regions if r.first <= row <= r.last]
            if any(never_meets(releases, gate) for releases in around):
                continue
        kept.append(diagnostic)
    return kept
