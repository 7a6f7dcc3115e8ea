"""The project index: every Python file of the linted project, by module name, summarised with
:mod:`ast` on demand (imports, classes with their methods and bases, functions). Built once per run,
read as text, never imported; a file's summary is kept per content hash for the run."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator

#: Folders never searched for project files (the usual virtualenvs, caches and build output).
_SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".venv", "venv", "env", ".tox", ".nox", "node_modules", "build", "dist", "site-packages"}
)
#: Files larger than this are not summarised (generated tables, vendored bundles).
MAX_BYTES = 2_000_000
#: Names whose callers are searched for in the whole project per run (each search reads every
#: file's text), and the most files a followed name may appear in.
MAX_NAME_SEARCHES = 32
MAX_CALLER_FILES = 60


@dataclasses.dataclass
class ClassFacts:
    """A class of a project file: ``qualname`` joins enclosing functions and classes with dots."""

    qualname: str
    node: ast.ClassDef
    bases: list[str]
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]


@dataclasses.dataclass
class FileFacts:
    path: str
    module: str
    is_package: bool
    tree: ast.Module
    #: local name -> qualified name (absolute), for module-level imports.
    imports: dict[str, str]
    #: qualname -> facts, every class of the file (nested ones, and a later class of the same name
    #: under ``Name#2``, so none is lost).
    classes: dict[str, ClassFacts]
    #: module-level functions by name.
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
    text: str


def dotted(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        head = dotted(expr.value)
        return f"{head}.{expr.attr}" if head else None
    return None


def own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of functions, lambdas and classes inside it."""
    todo = list(ast.iter_child_nodes(function))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def decorator_name(decorator: ast.expr) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return dotted(target) or ""


def module_name_of(relative: str) -> tuple[str, bool]:
    """``pkg/sub/mod.py`` -> (``pkg.sub.mod``, False); ``pkg/__init__.py`` -> (``pkg``, True)."""
    parts = relative[:-3].replace(os.sep, "/").split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def absolute_import(module: str, level: int, importer: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` in module ``importer``."""
    if not level:
        return module
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, module] if module else base)


def _imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in _top_level(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    names[head] = head
        elif isinstance(node, ast.ImportFrom):
            source = absolute_import(node.module or "", node.level, module, is_package)
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{source}.{alias.name}" if source else alias.name
    return names


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.Try, ast.With)):
            yield from _top_level(stmt.body)
            yield from _top_level(getattr(stmt, "orelse", []))
            for handler in getattr(stmt, "handlers", []):
                yield from _top_level(handler.body)


def class_qualnames(tree: ast.Module) -> Iterator[tuple[str, ast.ClassDef]]:
    """Every class of a module with its qualname (``outer.Inner``, ``make_model.Net``), in source
    order; the n-th later class of a qualname already seen is named ``Name#n`` (n from 2)."""
    seen: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.ClassDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}"
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    name = f"{name}#{seen[name]}"
                yield name, child
                yield from walk(child, f"{name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from walk(child, f"{prefix}{child.name}.")
            elif not isinstance(child, (ast.expr, ast.Lambda)):
                yield from walk(child, prefix)

    yield from walk(tree, "")


def summarize(path: str, text: str, module: str, is_package: bool) -> FileFacts | None:
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    imports = _imports(tree, module, is_package)
    classes: dict[str, ClassFacts] = {}
    for qualname, node in class_qualnames(tree):
        methods = {stmt.name: stmt for stmt in node.body if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))}
        bases = [qualify(dotted(base) or "", imports, module) for base in node.bases]
        classes[qualname] = ClassFacts(qualname, node, [b for b in bases if b], methods)
    functions = {
        stmt.name: stmt for stmt in _top_level(tree.body) if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    return FileFacts(path, module, is_package, tree, imports, classes, functions, text)


def qualify(name: str, imports: dict[str, str], module: str, local: Iterable[str] = ()) -> str:
    """A dotted name of a file as an absolute name: through its imports, else as the file's own."""
    if not name:
        return ""
    head, _, rest = name.partition(".")
    if head in imports:
        target = imports[head]
        return f"{target}.{rest}" if rest else target
    return f"{module}.{name}"


class ProjectIndex:
    """The Python files under ``root`` (and ``root/src``), by module name."""

    def __init__(
        self,
        root: str,
        extra_files: Iterable[str] = (),
        texts: dict[str, str] | None = None,
        discover: bool = True,
        on_demand: bool = False,
    ) -> None:
        self.root = os.path.realpath(root)
        #: Whether a module a name resolves to is looked for under ``root`` when not indexed yet
        #: (an index of a few files of a large installed package, as ``verify``'s static side builds).
        self.on_demand = on_demand
        #: real path -> text, for files linted from memory (stdin, the API).
        self.texts = {os.path.realpath(path): text for path, text in (texts or {}).items()}
        self.files: dict[str, str] = {}  # module name -> real path
        self.packages: set[str] = set()
        self._facts: dict[str, FileFacts | None] = {}
        self._hashes: dict[str, str] = {}
        self._mentions: dict[str, list[str] | None] = {}
        self._texts: dict[str, str | None] = {}  # read once per run
        bases = [self.root]
        if os.path.isdir(os.path.join(self.root, "src")):
            bases.insert(0, os.path.join(self.root, "src"))
        paths = list(self._discover(self.root)) if discover else []
        for path in [*extra_files, *self.texts]:
            real = os.path.realpath(path)
            if real in self.texts or (real.endswith(".py") and os.path.isfile(real)):
                paths.append(real)
        for path in paths:
            for base in bases:
                if path.startswith(base + os.sep):
                    module, is_package = module_name_of(os.path.relpath(path, base))
                    if module and all(part.isidentifier() for part in module.split(".")):
                        self.files.setdefault(module, path)
                        if is_package:
                            self.packages.add(module)
                    break
            else:  # a file outside the project: known by its stem only
                module = os.path.basename(path)[:-3]
                self.files.setdefault(module, path)
        self.module_of: dict[str, str] = {path: module for module, path in self.files.items()}

    @staticmethod
    def _discover(root: str) -> Iterator[str]:
        if os.path.isfile(root):
            if root.endswith(".py"):
                yield root
            return
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(folder, name)

    def _on_demand(self, parts: list[str]) -> str | None:
        """With ``on_demand``: the file of module ``parts`` under the root, indexed from now on, when
        its top package is one the index already holds."""
        if not self.on_demand or not any(module.split(".")[0] == parts[0] for module in self.files):
            return None
        stem = os.path.join(self.root, *parts)
        for candidate, is_package in ((stem + ".py", False), (os.path.join(stem, "__init__.py"), True)):
            real = os.path.realpath(candidate)
            if real.startswith(self.root + os.sep) and os.path.isfile(real):
                module = ".".join(parts)
                self.files[module] = real
                self.module_of[real] = module
                if is_package:
                    self.packages.add(module)
                return real
        return None

    def text(self, path: str) -> str | None:
        if path in self.texts:
            return self.texts[path]
        if path not in self._texts:
            self._texts[path] = self._read(path)
        return self._texts[path]

    def _read(self, path: str) -> str | None:
        try:
            # Regular files only (a FIFO or a link to /dev/zero named x.py would block or never
            # end), checked on the open descriptor; the size cap holds even if the file grows.
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(descriptor, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
                    return None
                data = handle.read(MAX_BYTES + 1)
        except OSError:
            return None
        if len(data) > MAX_BYTES:
            return None
        self._hashes[path] = hashlib.sha256(data).hexdigest()
        return data.decode("utf-8", errors="replace")

    def files_mentioning(self, name: str) -> list[str] | None:
        """The project files whose text contains ``name`` (a cheap superset of those calling it),
        remembered per name for the run; None for a name too common to follow (in more than
        ``MAX_CALLER_FILES`` files) or past ``MAX_NAME_SEARCHES`` names."""
        if name in self._mentions:
            return self._mentions[name]
        if len(self._mentions) >= MAX_NAME_SEARCHES:
            return None
        found: list[str] | None = []
        for path in sorted(set(self.files.values())):
            if name in (self.text(path) or ""):
                found.append(path)  # type: ignore[union-attr]
                if len(found) > MAX_CALLER_FILES:  # type: ignore[arg-type]
                    found = None
                    break
        self._mentions[name] = found
        return found

    def facts(self, path: str) -> FileFacts | None:
        if path not in self._facts:
            text = self.text(path)
            module = self.module_of.get(path, os.path.basename(path)[:-3])
            self._facts[path] = (
                None
                if text is None
                else summarize(path, text, module, module in self.packages and path.endswith("__init__.py"))
            )
        return self._facts[path]

    def resolve(self, qualified: str, depth: int = 0) -> tuple[FileFacts, str, str] | None:
        """(file, kind, name) of a qualified name defined in the project: kind is ``class`` (name a
        qualname) or ``function``; re-exports through ``__init__`` imports are followed."""
        if depth > 8 or not qualified:
            return None
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            path = self.files.get(".".join(parts[:cut])) or self._on_demand(parts[:cut])
            if path is None:
                continue
            facts = self.facts(path)
            if facts is None:
                return None
            rest = ".".join(parts[cut:])
            if rest in facts.classes:
                return facts, "class", rest
            if rest in facts.functions:
                return facts, "function", rest
            head, _, tail = rest.partition(".")
            if head in facts.imports:
                target = facts.imports[head]
                return self.resolve(f"{target}.{tail}" if tail else target, depth + 1)
            return None
        return None
