"""The results cache serves a stored result only while nothing it depends on has changed.

Issue 7: the key is the file's bytes, export-lint's version and sources, the effective settings and
the rule set; a file's result also depends on the other files the semantic model read for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import libcst as cst
import pytest

import export_lint
from export_lint import cache as cache_module
from export_lint import runner
from export_lint.config import Settings
from export_lint.rule import Rule

HAZARD = "import torch\n\n\ndef f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))\n"
CLEAN = "import torch\n\nx = torch.ones(1)\n"


class ImportedModuleCall(Rule):
    """Test rule: reports calls of an ``nn.Module`` subclass, however far away it is defined."""

    code = "EXP990"
    name = "imported-module-call"
    message = "`{name}` is a module"

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.semantic.qualified_name(node.func)
        if qualified and qualified.startswith("helpers.") and self.semantic.is_module_class_name(qualified):
            self.report(node, name=qualified)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder as the current directory, and a counter of files actually linted."""
    monkeypatch.chdir(tmp_path)
    # Other files of a shared checkout may be edited while the tests run: keep only the version.
    monkeypatch.setattr(cache_module, "_code_fingerprint", lambda: export_lint.__version__)
    linted: list[str] = []
    original = runner._cached_lint

    def counting(path: str, settings: Settings):
        linted.append(path)
        return original(path, settings)

    monkeypatch.setattr(runner, "_cached_lint", counting)
    return tmp_path, linted


def lint(paths: list[str], settings: Settings) -> list[tuple[str, str]]:
    results = runner.lint_files(paths, settings, jobs=1, cache=True)
    return [(d.path, d.code) for result in results for d in result.diagnostics]


def test_unchanged_files_come_from_the_cache_and_a_changed_file_is_linted_again(project):
    root, linted = project
    (root / "a.py").write_text(HAZARD)
    (root / "b.py").write_text(CLEAN)
    settings = Settings(select=("EXP001",), project_root=str(root))
    assert lint(["a.py", "b.py"], settings) == [("a.py", "EXP001")]
    assert linted == ["a.py", "b.py"]
    assert (
        (root / ".export_lint_cache" / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    linted.clear()
    assert lint(["a.py", "b.py"], settings) == [("a.py", "EXP001")]
    assert linted == []
    (root / "b.py").write_text(HAZARD)  # same mtime resolution or not, the bytes decide
    assert lint(["a.py", "b.py"], settings) == [("a.py", "EXP001"), ("b.py", "EXP001")]
    assert linted == ["b.py"]


def test_files_settled_before_the_last_run_are_not_read_again_but_edits_are_seen(project, monkeypatch):
    """A warm run trusts a file's stat (size, mtime, ctime, inode) when the file last changed well
    before its result was stored; a write always moves the ctime, even if mtime is put back."""
    root, linted = project
    (root / "a.py").write_text(HAZARD)
    (root / "b.py").write_text(CLEAN)
    settings = Settings(select=("EXP001",), project_root=str(root))
    lint(["a.py", "b.py"], settings)
    hashed: list[int] = []
    real_hash = cache_module.content_hash
    monkeypatch.setattr(cache_module, "content_hash", lambda data: hashed.append(len(data)) or real_hash(data))
    # Just stored: the files changed within RACY_NS of it, so their bytes are read and hashed.
    assert lint(["a.py", "b.py"], settings) == [("a.py", "EXP001")]
    assert len(hashed) == 2 and linted == ["a.py", "b.py"]
    monkeypatch.setattr(cache_module, "RACY_NS", 0)  # as if the files had settled long ago
    hashed.clear()
    assert lint(["a.py", "b.py"], settings) == [("a.py", "EXP001")]
    assert hashed == [] and linted == ["a.py", "b.py"]
    before = (root / "b.py").stat()
    (root / "b.py").write_text(CLEAN.replace("ones", "zero"))  # same size
    os.utime(root / "b.py", ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    assert (root / "b.py").stat().st_size == before.st_size
    assert lint(["a.py", "b.py"], settings) == [("a.py", "EXP001")]
    assert linted == ["a.py", "b.py", "b.py"]


def test_a_changed_setting_misses_the_cache(project):
    root, linted = project
    (root / "a.py").write_text(HAZARD)
    assert lint(["a.py"], Settings(select=("EXP001",), project_root=str(root))) == [("a.py", "EXP001")]
    linted.clear()
    assert lint(["a.py"], Settings(select=("EXP001",), ignore=("EXP001",), project_root=str(root))) == []
    assert linted == ["a.py"]
    linted.clear()
    older_torch = Settings(select=("EXP001",), torch_version="2.1", project_root=str(root))
    lint(["a.py"], older_torch)
    assert linted == ["a.py"]


def test_a_new_export_lint_version_misses_the_cache(project, monkeypatch):
    root, linted = project
    (root / "a.py").write_text(HAZARD)
    settings = Settings(select=("EXP001",), project_root=str(root))
    lint(["a.py"], settings)
    linted.clear()
    monkeypatch.setattr(export_lint, "__version__", export_lint.__version__ + ".post1")
    assert lint(["a.py"], settings) == [("a.py", "EXP001")]
    assert linted == ["a.py"]


def test_an_edited_rule_source_misses_the_cache(tmp_path):
    """In a checkout the version does not move: export-lint's own source files are part of the key."""
    root = tmp_path
    settings = Settings(select=("EXP001",), project_root=str(root))
    before = cache_module.run_key(settings)
    rule_file = Path(export_lint.__file__).parent / "engine.py"
    stat = rule_file.stat()
    try:
        os.utime(rule_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert cache_module.run_key(settings) != before
    finally:
        os.utime(rule_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_changed_base_class_in_another_file_misses_the_cache(project, monkeypatch):
    root, linted = project
    from export_lint import rules

    monkeypatch.setattr(rules, "all_rules", lambda: (ImportedModuleCall,))
    (root / "helpers.py").write_text("import torch\n\n\nclass Model(torch.nn.Module):\n    pass\n")
    (root / "main.py").write_text("import torch\n\nfrom helpers import Model\n\nm = Model()\n")
    settings = Settings(select=("EXP990",), project_root=str(root))
    assert lint(["main.py"], settings) == [("main.py", "EXP990")]
    linted.clear()
    assert lint(["main.py"], settings) == [("main.py", "EXP990")]
    assert linted == []
    (root / "helpers.py").write_text("import torch\n\n\nclass Model:\n    pass\n")
    assert lint(["main.py"], settings) == []
    assert linted == ["main.py"]


def test_an_edit_that_leaves_what_is_read_of_another_file_keeps_its_importers_cached(project, monkeypatch):
    """Only a file's top level (classes, bases, method parameters, imports) is read for another
    file: editing a method body re-lints that file alone, not every file importing from it."""
    root, linted = project
    from export_lint import rules

    monkeypatch.setattr(rules, "all_rules", lambda: (ImportedModuleCall,))
    helpers = "import torch\n\n\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
    (root / "helpers.py").write_text(helpers)
    (root / "main.py").write_text("import torch\n\nfrom helpers import Model\n\nm = Model()\n")
    settings = Settings(select=("EXP990",), project_root=str(root))
    assert lint(["helpers.py", "main.py"], settings) == [("main.py", "EXP990")]
    linted.clear()
    (root / "helpers.py").write_text(helpers.replace("return x", "return x * 2  # a new body"))
    assert lint(["helpers.py", "main.py"], settings) == [("main.py", "EXP990")]
    assert linted == ["helpers.py"]
    (root / "helpers.py").write_text(helpers.replace("forward(self, x)", "forward(self, x, y)"))
    assert lint(["helpers.py", "main.py"], settings) == [("main.py", "EXP990")]
    assert linted == ["helpers.py", "helpers.py", "main.py"]


def test_a_corrupt_cache_file_is_ignored_and_rewritten(project):
    root, linted = project
    (root / "a.py").write_text(HAZARD)
    settings = Settings(select=("EXP001",), project_root=str(root))
    lint(["a.py"], settings)
    (stored,) = (root / ".export_lint_cache").glob("*.json")
    stored.write_bytes(b"not json")
    linted.clear()
    assert lint(["a.py"], settings) == [("a.py", "EXP001")]
    assert linted == ["a.py"]
    header, _, payload = stored.read_bytes().partition(b"\n")
    assert json.loads(header)["format"] == "export-lint-cache" and isinstance(json.loads(payload), dict)


def test_a_cached_result_keeps_the_name_the_file_is_given(project):
    root, _ = project
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_text(HAZARD)
    settings = Settings(select=("EXP001",), project_root=str(root))
    lint(["pkg/a.py"], settings)
    assert lint([str(root / "pkg" / "a.py")], settings) == [(str(root / "pkg" / "a.py"), "EXP001")]


EXPORT_LINT = shutil.which("export-lint")


@pytest.mark.skipif(EXPORT_LINT is None, reason="export-lint is not installed")
def test_cli_no_cache_writes_nothing_and_clean_removes_the_cache(tmp_path):
    (tmp_path / "a.py").write_text(HAZARD)
    run = lambda *args: subprocess.run([EXPORT_LINT, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)  # noqa: E731
    assert run("check", "--select", "EXP001", "--no-cache", ".").returncode == 1
    assert not (tmp_path / ".export_lint_cache").exists()
    first = run("check", "--select", "EXP001", ".")
    assert (tmp_path / ".export_lint_cache" / "CACHEDIR.TAG").is_file()
    second = run("check", "--select", "EXP001", ".")
    assert second.stdout == first.stdout and second.returncode == first.returncode == 1
    cleaned = run("clean")
    assert cleaned.returncode == 0 and "Removed" in cleaned.stderr
    assert not (tmp_path / ".export_lint_cache").exists()
