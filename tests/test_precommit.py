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


def snapshot_of_this_checkout(folder: Path) -> str:
    """Copy this working tree (tracked and untracked, non-ignored files) into a new git repo; its commit."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    assert (folder / ".pre-commit-hooks.yaml").is_file()
    git("init", "-q", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "-q", "-m", "snapshot", cwd=folder)
    return git("rev-parse", "HEAD", cwd=folder)


def user_repo(folder: Path, hook_repo: Path, rev: str, files: dict[str, str], staged: list[str]) -> Path:
    """A user's repository whose .pre-commit-config.yaml uses both hooks of this checkout."""
    config = f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: export-lint\n      - id: export-lint-fix\n"
    write(folder, {".pre-commit-config.yaml": config, **files})
    git("init", "-q", cwd=folder)
    git("add", ".pre-commit-config.yaml", *staged, cwd=folder)
    return folder


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


def test_pre_commit_hooks_of_this_checkout(tmp_path):
    """One test, so that pytest-xdist never builds the hook environment twice; each scenario says what failed."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    hooks = tmp_path / "hook-repo"
    hooks.mkdir()
    rev = snapshot_of_this_checkout(hooks)
    home = tmp_path / "pre-commit-home"

    # A staged hazard: the check hook fails and prints the diagnostic.
    repo = user_repo(tmp_path / "hazard", hooks, rev, {"model.py": HAZARD}, ["model.py"])
    result = pre_commit("export-lint", repo, home)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Failed" in result.stdout, f"staged hazard must fail:\n{output}"
    assert "model.py:8:21: EXP001" in result.stdout, output
    installed = list(home.glob("repo*/py_env-*/lib/python*/site-packages/export_lint/cli.py"))
    assert installed, "the hook must run export-lint installed into its own environment"

    # Clean staged files pass, and the project's excludes hold for the file names pre-commit passes.
    files = {
        "clean.py": "import torch\n\nx = torch.ones(1)\n",
        "legacy/old.py": HAZARD,
        "pyproject.toml": '[tool.export-lint]\nextend-exclude = ["legacy"]\n',
    }
    repo = user_repo(tmp_path / "clean", hooks, rev, files, list(files))
    result = pre_commit("export-lint", repo, home)
    assert result.returncode == 0 and "Passed" in result.stdout, f"clean files must pass:\n{result.stdout}"

    # No Python file staged (an unstaged hazard in the tree): skipped, passes, lints nothing.
    files = {"README.md": "# hi\n", "unstaged.py": HAZARD}
    repo = user_repo(tmp_path / "nothing", hooks, rev, files, ["README.md"])
    result = pre_commit("export-lint", repo, home)
    assert result.returncode == 0, f"no Python file staged must pass:\n{result.stdout}"
    assert "(no files to check)Skipped" in result.stdout and "EXP001" not in result.stdout, result.stdout

    # The fix hook rewrites the file and fails, so that the user re-stages; then it passes.
    # Only EXP001, so that the second run passes whatever other rules say about the fixed file.
    files = {"model.py": HAZARD, "pyproject.toml": '[tool.export-lint]\nselect = ["EXP001"]\n'}
    repo = user_repo(tmp_path / "fix", hooks, rev, files, list(files))
    result = pre_commit("export-lint-fix", repo, home)
    assert result.returncode == 1, f"a fix must fail the hook:\n{result.stdout}"
    assert "torch.export.export(ExportWrapper(f)" in (repo / "model.py").read_text()
    git("add", "model.py", cwd=repo)
    again = pre_commit("export-lint-fix", repo, home)
    assert again.returncode == 0, f"nothing left to fix must pass:\n{again.stdout}"


def readme_local_hooks() -> tuple[str, str]:
    """The README's `repo: local` pre-commit config, as written, and the fix hook's entry it names."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## pre-commit", 1)[1].split("\n## ", 1)[0]
    config = re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)
    fix_entry = re.search(r"`entry: (export-lint check --fix[^`]*)`", section).group(1)
    return config, fix_entry


def test_the_readme_local_hook_works_as_written(tmp_path):
    # `language: system`: the hook runs the export-lint installed beside this test (a checkout's).
    config, fix_entry = readme_local_hooks()
    assert "repo: local" in config
    bin_folder = str(Path(shutil.which("export-lint") or "export-lint").parent)
    environment = {**os.environ, "PATH": bin_folder + os.pathsep + os.environ["PATH"], "NO_COLOR": "1"}
    environment["PRE_COMMIT_HOME"] = str(tmp_path / "home")

    def run_hooks(repo: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PRE_COMMIT, "run", "--color", "never"], cwd=repo, env=environment, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    files = {
        "a/pyproject.toml": '[tool.export-lint]\nignore = ["EXP001"]\n',
        "a/model.py": HAZARD,
        "b/model.py": HAZARD,
        "b/clean.py": "import torch\n",
    }
    repo = write(tmp_path / "user", {".pre-commit-config.yaml": config, **files})
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    result = run_hooks(repo)
    assert result.returncode == 1 and "Failed" in result.stdout, result.stdout + result.stderr
    assert "b/model.py:8:21: EXP001" in result.stdout and "a/model.py" not in result.stdout, result.stdout

    fixing = config.replace("entry: export-lint check --force-exclude", f"entry: {fix_entry}")
    (repo / ".pre-commit-config.yaml").write_text(fixing, encoding="utf-8")
    git("add", "-A", cwd=repo)
    fixed = run_hooks(repo)
    assert fixed.returncode == 1, fixed.stdout  # it changed a file: re-stage and commit
    assert "ExportWrapper(f)" in (repo / "b" / "model.py").read_text()
    assert "ExportWrapper" not in (repo / "a" / "model.py").read_text()
    git("add", "-A", cwd=repo)
    assert run_hooks(repo).returncode == 0
