"""Shared helpers of the rule tests: lint and fix a snippet with chosen rules, golden snapshots of a
file's diagnostics and fix diff, and the fixture that imports a ``scripts/measure_*.py`` module.

Snapshots live in tests/fixtures/<CODE>/*.snap; regenerate with ``EXPORT_LINT_UPDATE_SNAPSHOTS=1`` and
read the diff before committing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

import pytest

from export_lint.config import Settings
from export_lint.diagnostics import Diagnostic
from export_lint.engine import lint_text
from export_lint.fixer import FixResult, fix_text, unified_diff
from export_lint.rules import by_code

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TORCH = "2.14"


def _settings(codes: Iterable[str], torch_version: str) -> Settings:
    # Fixtures are linted as model libraries are: every module's forward is traced (see the README's
    # "What is traced"); tests of export roots pass their own Settings.
    return Settings(select=tuple(codes), torch_version=torch_version, traced="all-modules")


def lint(text: str, codes: Iterable[str], torch_version: str = TORCH, path: str = "example.py") -> list[Diagnostic]:
    """The diagnostics of only ``codes`` on ``text``, dedented (a file's text has nothing to dedent)."""
    codes = tuple(codes)
    return lint_text(textwrap.dedent(text), path, _settings(codes, torch_version), [by_code()[c] for c in codes])


def fix(text: str, codes: Iterable[str], torch_version: str = TORCH, path: str = "example.py") -> FixResult:
    """``text``, dedented, with the fixes of only ``codes`` applied, unsafe ones included."""
    codes = tuple(codes)
    settings = _settings(codes, torch_version)
    return fix_text(textwrap.dedent(text), path, settings, unsafe=True, rules=[by_code()[c] for c in codes])


def snapshot(source: Path, codes: Iterable[str], torch_version: str = TORCH) -> str:
    """One ``row:col CODE [applicability] message`` line per diagnostic, a blank line, the fix diff."""
    text = source.read_text()
    name = source.relative_to(ROOT).as_posix()
    lines = [
        f"{d.start.row}:{d.start.column} {d.code} [{d.fix.applicability.value if d.fix else 'no fix'}] {d.message}"
        for d in lint(text, codes, torch_version, name)
    ]
    fixed = fix(text, codes, torch_version, name)
    return _installed_versions_masked("\n".join(lines) + "\n\n" + unified_diff(text, fixed.text, name))


def _installed_versions_masked(text: str) -> str:
    """A message naming the installed transformers (EXP002 says which release it read) is stored
    with ``<installed>``: CI installs the newest release, the snapshot must not pin one."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        return text
    return text.replace(f"transformers {version})", "transformers <installed>)")


def check_snapshot(source: Path, codes: Iterable[str], torch_version: str = TORCH, snap: Path | None = None) -> None:
    """``snapshot(source, ...)`` equals the stored ``snap`` (default: ``source`` with a .snap suffix)."""
    snap = snap or source.with_suffix(".snap")
    found = snapshot(source, codes, torch_version)
    if os.environ.get("EXPORT_LINT_UPDATE_SNAPSHOTS"):
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_text(found)
    assert found == snap.read_text()


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py, imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def script_fixture(name: str) -> Callable[[], ModuleType]:
    """A module-scoped fixture: scripts/<name>.py imported (it needs the installed torch)."""

    @pytest.fixture(scope="module")
    def fixture() -> ModuleType:
        """The script's module, imported (skipped without torch)."""
        pytest.importorskip("torch")
        return load_script(name)

    return fixture
