"""The real ``pre-commit`` (from PyPI) running this checkout's ``.pre-commit-hooks.yaml``.

pre-commit clones the hook repository at a commit and pip-installs it into its own virtualenv, so
the test snapshots this working tree (tracked and untracked, non-ignored files) into a throwaway
git repository and points a ``.pre-commit-config.yaml`` at it: the manifest, the install and the
hooks are the ones users get. One environment serves every scenario (same repo and rev).

Speed: a cold install from PyPI measured 58 s here (pip resolving libcst and setuptools online).
The virtualenv therefore sees the test interpreter's site-packages, which already hold libcst
(``VIRTUALENV_SYSTEM_SITE_PACKAGES``), and builds without isolation (``PIP_NO_BUILD_ISOLATION=0``,
pip's inverted spelling of ``--no-build-isolation``): ~10 s, no network, and export-lint itself is
still built from the snapshot and installed into the hook's own environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_cli import HAZARD, write

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = shutil.which("pre-commit")
GIT = shutil.which("git")

pytestmark = pytest.mark.skipif(PRE_COMMIT is None or GIT is None, reason="needs pre-commit and git")


def git(*args: str, cwd: Path) -> str:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    environment.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(
        [GIT, *args], cwd=cwd, env=environment, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    """A git repository holding a snapshot of this working tree; (path, commit)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    snapshot = tmp_path_factory.mktemp("hook-repo")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file()
    git("init", "-q", cwd=snapshot)
    git("add", "-A", cwd=snapshot)
    git("commit", "-q", "-m", "snapshot", cwd=snapshot)
    return snapshot, git("rev-parse", "HEAD", cwd=snapshot)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def user_repo(tmp_path, hook_repo) -> Path:
    """A user's repository whose .pre-commit-config.yaml uses both hooks of this checkout."""
    path, rev = hook_repo
    config = (
        f"repos:\n  - repo: {path}\n    rev: {rev}\n    hooks:\n      - id: export-lint\n      - id: export-lint-fix\n"
    )
    write(tmp_path, {".pre-commit-config.yaml": config})
    git("init", "-q", cwd=tmp_path)
    git("add", ".pre-commit-config.yaml", cwd=tmp_path)
    return tmp_path


def pre_commit(hook: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home),
        "VIRTUALENV_SYSTEM_SITE_PACKAGES": "true",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [PRE_COMMIT, "run", hook, "--color", "never"], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_hook_fails_on_a_staged_hazard_and_prints_the_diagnostic(user_repo, pre_commit_home):
    write(user_repo, {"model.py": HAZARD})
    git("add", "model.py", cwd=user_repo)
    result = pre_commit("export-lint", user_repo, pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "model.py:8:21: EXP001" in result.stdout
    assert "Failed" in result.stdout
    installed = list(pre_commit_home.glob("repo*/py_env-*/lib/python*/site-packages/export_lint/cli.py"))
    assert installed, "the hook must run export-lint installed into its own environment"


def test_hook_passes_on_clean_files_and_honours_excludes(user_repo, pre_commit_home):
    write(
        user_repo,
        {
            "clean.py": "import torch\n\nx = torch.ones(1)\n",
            "legacy/old.py": HAZARD,
            "pyproject.toml": '[tool.export-lint]\nextend-exclude = ["legacy"]\n',
        },
    )
    git("add", "clean.py", "legacy/old.py", "pyproject.toml", cwd=user_repo)
    result = pre_commit("export-lint", user_repo, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_hook_passes_when_no_python_file_is_staged(user_repo, pre_commit_home):
    write(user_repo, {"README.md": "# hi\n", "unstaged.py": HAZARD})  # a hazard that is not staged
    git("add", "README.md", cwd=user_repo)
    result = pre_commit("export-lint", user_repo, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(no files to check)Skipped" in result.stdout
    assert "EXP001" not in result.stdout


def test_fix_hook_fixes_the_file_and_fails_so_the_commit_is_redone(user_repo, pre_commit_home):
    # Only EXP001, so that the second run passes whatever other rules say about the fixed file.
    write(user_repo, {"model.py": HAZARD, "pyproject.toml": '[tool.export-lint]\nselect = ["EXP001"]\n'})
    git("add", "model.py", "pyproject.toml", cwd=user_repo)
    result = pre_commit("export-lint-fix", user_repo, pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "torch.export.export(FExportWrapper(f)" in (user_repo / "model.py").read_text()
    git("add", "model.py", cwd=user_repo)
    again = pre_commit("export-lint-fix", user_repo, pre_commit_home)
    assert again.returncode == 0, again.stdout + again.stderr
