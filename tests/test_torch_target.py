"""The target torch: from `torch-version`, else the project's pins, else the installed torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from export_lint import versions
from export_lint.config import ConfigError, load_settings
from export_lint.torch_pins import lowest_allowed, project_torch


@pytest.mark.parametrize(
    ("spec", "lowest"),
    [
        (">=2.5,<2.7", "2.5"),
        ("<2.7", "2.4.1"),  # no lower bound: the oldest release the matrix knows
        ("==2.6.0", "2.6.0"),
        ("~=2.5.1", "2.5.1"),
        ("==2.5.*", "2.5"),
        ("=2.5", "2.5"),  # conda
        (">2.5", "2.5"),  # the gates are per minor: 2.5.1 is allowed
        (">=2.4,!=2.4.*", "2.5.1"),
        ("", None),
        ("banana", None),
    ],
)
def test_lowest_allowed(spec, lowest):
    assert lowest_allowed(spec) == lowest


def write(folder, name, text):
    (folder / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def test_project_dependencies_come_before_optional_ones_and_other_files(tmp_path):
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        dependencies = ["numpy", "torch>=2.6; sys_platform == 'linux'", "torchvision"]
        [project.optional-dependencies]
        old = ["torch>=2.4"]
        """,
    )
    write(tmp_path, "requirements.txt", "torch==2.5.1\n")
    version, source = project_torch(tmp_path)
    assert version == "2.6"
    assert "[project].dependencies" in source and "torch>=2.6" in source


def test_optional_dependencies_take_the_lowest_of_the_groups(tmp_path):
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        dependencies = ["numpy"]
        [project.optional-dependencies]
        gpu = ["torch>=2.7"]
        cpu = ["torch[opt] >= 2.5, < 2.9"]
        """,
    )
    assert project_torch(tmp_path)[0] == "2.5"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("requirements-dev.txt", "-r base.txt\n# torch==9.9\ntorch>=2.8,<3  # cpu\n", "2.8"),
        ("constraints.txt", "numpy<3\ntorch==2.9.1+cpu\n", "2.9.1"),
        (
            "uv.lock",
            '[[package]]\nname = "torch"\nversion = "2.10.0"\n\n[[package]]\nname = "torch"\nversion = "2.7.1"\n',
            "2.7.1",
        ),
        ("poetry.lock", '[[package]]\nname = "torch"\nversion = "2.6.0"\n', "2.6.0"),
        ("pdm.lock", '[[package]]\nname = "Torch"\nversion = "2.11.0"\n', "2.11.0"),
        ("environment.yml", "dependencies:\n  - python=3.11\n  - pytorch::pytorch=2.5\n", "2.5"),
        ("environment.yml", "dependencies:\n  - pip\n  - pip:\n    - torch==2.12.1\n", "2.12.1"),
    ],
)
def test_each_kind_of_pin_file(tmp_path, name, text, expected):
    write(tmp_path, name, text)
    version, source = project_torch(tmp_path)
    assert version == expected
    assert name in source


def test_files_are_read_in_order(tmp_path):
    write(tmp_path, "environment.yml", "dependencies:\n  - pytorch=2.4\n")
    write(tmp_path, "uv.lock", '[[package]]\nname = "torch"\nversion = "2.6.0"\n')
    assert project_torch(tmp_path)[0] == "2.6.0"
    write(tmp_path, "requirements.txt", "torch>=2.5\n")
    assert project_torch(tmp_path)[0] == "2.5"


def test_no_pins(tmp_path):
    write(tmp_path, "pyproject.toml", '[project]\nname = "demo"\ndependencies = ["torch", "numpy>=2"]\n')
    assert project_torch(tmp_path) is None


def test_settings_take_the_pins_when_torch_version_is_unset(tmp_path):
    write(tmp_path, "pyproject.toml", '[project]\nname = "demo"\ndependencies = ["torch>=2.5,<2.7"]\n')
    settings = load_settings(tmp_path)
    assert settings.torch_version == "2.5"
    assert "pyproject.toml [project].dependencies: torch>=2.5,<2.7" in settings.torch_version_source


def test_config_and_flag_win_over_the_pins(tmp_path):
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        dependencies = ["torch>=2.5"]
        [tool.export-lint]
        torch-version = "2.9"
        """,
    )
    settings = load_settings(tmp_path)
    assert (settings.torch_version, settings.torch_version_source.endswith("[tool.export-lint] torch-version")) == (
        "2.9",
        True,
    )
    flagged = load_settings(tmp_path, overrides={"torch_version": "2.6"})
    assert (flagged.torch_version, flagged.torch_version_source) == ("2.6", "--torch-version")


def test_without_pins_the_installed_torch_or_the_newest_known(tmp_path):
    settings = load_settings(tmp_path)
    installed = versions.installed_torch_version()
    assert settings.torch_version == (installed or versions.NEWEST_KNOWN_TORCH)
    assert settings.torch_version_source.startswith("installed torch" if installed else "newest release")


@pytest.mark.parametrize("literal", ["2.10", "2.5", "3"])
def test_a_toml_number_is_an_error_with_the_fix(tmp_path, literal):
    write(tmp_path, "pyproject.toml", f"[tool.export-lint]\ntorch-version = {literal}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(tmp_path)
    assert f'write torch-version = "{literal}"' in str(error.value)
    assert "must be a string" in str(error.value)


def test_a_project_pinning_old_torch_gets_the_old_gates_without_a_flag(tmp_path):
    # EXP201 (frozen storage) is real below torch 2.7 only: the pins alone turn it on.
    write(tmp_path, "pyproject.toml", '[project]\nname = "demo"\ndependencies = ["torch>=2.5,<2.7"]\n')
    write(
        tmp_path,
        "model.py",
        """
        import torch

        class Model(torch.nn.Module):
            def forward(self, x):
                offsets = torch.tensor([1.0, 2.0, 3.0]).to(x.device)
                offsets += 1
                return x + offsets

        ep = torch.export.export(Model(), (torch.randn(1, 3),))
        """,
    )
    run = [sys.executable, "-m", "export_lint", "check", "--select", "EXP201", "model.py"]
    pinned = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True)
    assert "EXP201" in pinned.stdout, pinned.stdout + pinned.stderr
    flagged = subprocess.run([*run, "--torch-version", "2.7"], cwd=tmp_path, capture_output=True, text=True)
    assert "EXP201" not in flagged.stdout, flagged.stdout


def test_the_blip_style_decoder_with_its_own_tokenizer_is_reported_for_torch_2_5(tmp_path):
    from export_lint.rules.exp201_frozen_storage_mutation import _OWN_TOKENIZER

    (tmp_path / "decoder.py").write_text(_OWN_TOKENIZER.format(write=""), encoding="utf-8")
    run = [sys.executable, "-m", "export_lint", "check", "--select", "EXP201", "decoder.py"]
    old = subprocess.run([*run, "--torch-version", "2.5"], cwd=tmp_path, capture_output=True, text=True)
    assert "EXP201" in old.stdout and "input_ids" in old.stdout, old.stdout + old.stderr
    new = subprocess.run([*run, "--torch-version", "2.6"], cwd=tmp_path, capture_output=True, text=True)
    assert "EXP201" not in new.stdout, new.stdout


def test_pip_files_under_reqs_are_read_with_their_markers_and_docs_pins_skipped(tmp_path):
    # coremltools keeps its pins in reqs/pytorch.pip (one per platform) and a docs build's in reqs/docs.pip.
    (tmp_path / "reqs").mkdir()
    write(tmp_path, "reqs/docs.pip", "sphinx\ntorch>=1.13.0\n")
    write(
        tmp_path,
        "reqs/pytorch.pip",
        """
        torch==2.2.0; platform_machine != "arm64"
        torch==2.8.0; platform_machine == "arm64"
        """,
    )
    version, source = project_torch(tmp_path)
    assert version == "2.2.0"
    assert source.endswith("pytorch.pip: torch==2.2.0, torch==2.8.0")


def test_nested_requirement_folders_and_includes(tmp_path):
    (tmp_path / "requirements" / "pytorch").mkdir(parents=True)
    write(tmp_path, "requirements/typing.txt", "torch==2.9.1\n")
    write(tmp_path, "requirements/pytorch/base.txt", "numpy\ntorch >=2.5.0, <2.10.0\n")
    assert project_torch(tmp_path)[0] == "2.5.0"  # the lowest any file of the folder allows
    # A root requirements file comes first, and its -r includes are followed.
    write(tmp_path, "requirements.txt", "-r requirements/pytorch/base.txt\n")
    version, source = project_torch(tmp_path)
    assert version == "2.5.0" and source.startswith(str(tmp_path / "requirements.txt"))


def test_requirements_in_and_location_order(tmp_path):
    (tmp_path / "reqs").mkdir()
    write(tmp_path, "reqs/torch.pip", "torch==2.4.1\n")
    assert project_torch(tmp_path)[0] == "2.4.1"
    write(tmp_path, "requirements.in", "torch>=2.7\n")
    assert project_torch(tmp_path)[0] == "2.7"  # root requirement files before reqs/
    write(tmp_path, "pyproject.toml", '[project]\nname = "demo"\ndependencies = ["torch>=2.6"]\n')
    assert project_torch(tmp_path)[0] == "2.6"  # pyproject.toml before any requirement file


def test_an_include_outside_the_project_is_not_read(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("torch==2.4.1\n", encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    write(project, "requirements.txt", "-r ../outside.txt\nnumpy\n")
    assert project_torch(project) is None


def test_the_pip_pins_set_the_target_of_check(tmp_path):
    # EXP007 (export_for_training removed) holds from torch 2.11; a project pinning 2.8 in reqs/ is not told.
    (tmp_path / "reqs").mkdir()
    write(tmp_path, "reqs/pytorch.pip", "torch==2.8.0\n")
    write(tmp_path, "export.py", "from torch.export import export_for_training\n")
    run = [sys.executable, "-m", "export_lint", "check", "--select", "EXP007", "export.py"]
    pinned = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True)
    assert pinned.returncode == 0 and "EXP007" not in pinned.stdout, pinned.stdout + pinned.stderr
    (tmp_path / "reqs" / "pytorch.pip").unlink()
    unpinned = subprocess.run([*run, "--torch-version", "2.11"], cwd=tmp_path, capture_output=True, text=True)
    assert "EXP007" in unpinned.stdout, unpinned.stdout + unpinned.stderr
