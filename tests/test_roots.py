"""Export roots and reachability: traced code is what an export root of the project reaches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from export_lint.analysis.index import ProjectIndex
from export_lint.analysis.roots import compute_reach
from export_lint.config import ConfigError, Settings, load_settings
from export_lint.engine import lint_text

HAZARD_BLOCK = """
    import torch
    from torch import nn


    def helper(x: torch.Tensor):
        if x.sum() > 0:
            return x
        return -x


    class VQ(nn.Module):
        def encode(self, x: torch.Tensor):
            if x.max() > 1:
                return x
            return x * 2

        def forward(self, x):
            if x.min() > 0:
                return x
            return x


    class Block(nn.Module):
        def forward(self, x):
            return helper(x)


    class Augment(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x.flip(0)
            return x
"""

MODEL = """
    from torch import nn

    from .layers import VQ, Block


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block() for _ in range(2)])
            self.vq = VQ()

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.vq.encode(x)
"""

EXPORT_SCRIPT = """
    import torch

    from pkg import Net


    def build():
        return Net().eval()


    def main():
        model = build()
        torch.export.export(model, (torch.randn(2, 3),))
"""


def write_project(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n',
            "pkg/__init__.py": "from .model import Net\n",
            "pkg/layers.py": HAZARD_BLOCK,
            "pkg/model.py": MODEL,
            "scripts/export.py": EXPORT_SCRIPT,
        },
    )
    return tmp_path


def reached(root: Path, patterns=()) -> dict[str, set[str]]:
    reach = compute_reach(ProjectIndex(str(root)), patterns)
    return {
        os.path.relpath(path, os.path.realpath(root)): {name for name, _ in entries} for path, entries in reach.files
    }


def test_root_through_a_factory_reaches_submodules_their_methods_and_helpers_in_other_files(project):
    found = reached(project)
    assert found["pkg/model.py"] == {"Net.forward"}
    # ModuleList contents, a submodule's method (self.vq.encode) and a helper in the same file;
    # VQ.forward is not called and Augment is never built.
    assert found["pkg/layers.py"] == {"Block.forward", "VQ.encode", "helper"}


def run_check(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "export_lint", "check", "--no-cache", "--select", "EXP301", *args, "."],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_reports_only_reached_code_and_names_the_root(project):
    result = run_check(project)
    lines = [line for line in result.stdout.splitlines() if " EXP301 " in line]
    assert len(lines) == 2, result.stdout
    assert all(line.startswith("pkg/layers.py:") for line in lines)
    assert all("(reached from export of Net at scripts/export.py:13)" in line for line in lines)
    assert sorted(int(line.split(":")[1]) for line in lines) == [7, 14]  # helper, VQ.encode


def test_all_modules_restores_every_forward(project):
    result = run_check(project, "--traced", "all-modules")
    rows = sorted(int(line.split(":")[1]) for line in result.stdout.splitlines() if " EXP301 " in line)
    # Every module's forward and its callees: VQ.forward, helper (through Block.forward), Augment.forward.
    assert rows == [7, 19, 31], result.stdout


def test_no_root_silences_traced_rules_and_says_how_to_fix_it(tmp_path):
    write_project(tmp_path, {"pyproject.toml": '[project]\nname = "x"\n', "pkg/layers.py": HAZARD_BLOCK})
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "All checks passed!" in result.stdout
    assert "no export root" in result.stderr and "--traced all-modules" in result.stderr


def test_configured_export_roots(tmp_path):
    write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n[tool.export-lint]\nexport-roots = ["pkg.layers:Aug*"]\n',
            "pkg/layers.py": HAZARD_BLOCK,
        },
    )
    result = run_check(tmp_path)
    lines = [line for line in result.stdout.splitlines() if " EXP301 " in line]
    assert [line.split(":")[1] for line in lines] == ["31"], result.stdout
    assert "export-roots entry 'pkg.layers:Aug*'" in lines[0]
    assert reached(tmp_path, ["pkg.layers"])["pkg/layers.py"] >= {"VQ.forward", "Block.forward", "Augment.forward"}
    assert reached(tmp_path, ["pkg.*:VQ"])["pkg/layers.py"] == {"VQ.forward"}


def test_traced_setting_is_validated(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.export-lint]\ntraced = "everything"\n')
    with pytest.raises(ConfigError, match="traced"):
        load_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.export-lint]\ntraced = "all-modules"\n')
    assert load_settings(tmp_path).traced == "all-modules"


def lint_roots(code: str) -> list[tuple[int, str]]:
    diagnostics = lint_text(textwrap.dedent(code), "example.py", Settings(select=("EXP301",)))
    return [(d.start.row, d.message) for d in diagnostics]


def test_class_defined_inside_a_function_and_exported_there():
    found = lint_roots(
        """
        import torch

        def main():
            class Net(torch.nn.Module):
                def forward(self, x):
                    if x.sum() > 0:
                        return x
                    return -x

            torch.export.export(Net(), (torch.randn(2),))
        """
    )
    assert [row for row, _ in found] == [7]
    assert "reached from export of main.Net at example.py:11" in found[0][1]


def test_a_class_name_defined_twice_both_are_analysed():
    found = lint_roots(
        """
        import torch

        class Net(torch.nn.Module):
            def forward(self, x):
                if x.sum() > 0:
                    return x
                return x

        class Net(torch.nn.Module):
            def forward(self, x):
                if x.mean() > 0:
                    return x
                return x

        torch.export.export(Net(), (torch.randn(2),))
        """
    )
    # Which one the name means at the export is a run-time fact: both are reached.
    assert [row for row, _ in found] == [6, 12]


@pytest.mark.parametrize(
    "entry",
    [
        "torch.export.draft_export(model, (torch.randn(2),))",
        "torch._dynamo.export(model)(torch.randn(2))",
        "torch._export.export(model, (torch.randn(2),))",
        "torch.export.export(functools.partial(Net)(), (torch.randn(2),))",
    ],
)
def test_other_entry_points_and_partial_are_roots(entry):
    found = lint_roots(
        f"""
        import functools
        import torch

        class Net(torch.nn.Module):
            def forward(self, x):
                if x.sum() > 0:
                    return x
                return x

        class Unused(torch.nn.Module):
            def forward(self, x):
                if x.sum() > 0:
                    return x
                return x

        def main(model=None):
            model = Net()
            {entry}
        """
    )
    assert [row for row, _ in found] == [7]


def test_autograd_function_reached_through_apply_and_target_through_a_parameter():
    found = lint_roots(
        """
        import torch

        class Clip(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x: torch.Tensor):
                if x.sum() > 0:
                    return x
                return x

        class Net(torch.nn.Module):
            def forward(self, x):
                return Clip.apply(x)

        def export_it(module):
            return torch.export.export(module, (torch.randn(2),))

        export_it(Net())
        """
    )
    assert [row for row, _ in found] == [7]


def test_a_file_no_root_reaches_is_not_parsed_but_a_syntax_error_still_is(tmp_path):
    write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n',
            "pkg/layers.py": HAZARD_BLOCK,
            "pkg/broken.py": "import torch\ndef f(:\n",
        },
    )
    result = run_check(tmp_path)
    assert "pkg/broken.py:2" in result.stdout and "EXP000" in result.stdout, result.stdout
    assert " EXP301 " not in result.stdout


def test_roots_are_found_outside_the_files_linted(project):
    # pre-commit passes only the changed file: the export script is still a root.
    result = subprocess.run(
        [sys.executable, "-m", "export_lint", "check", "--no-cache", "--select", "EXP301", "pkg/layers.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = sorted(int(line.split(":")[1]) for line in result.stdout.splitlines() if " EXP301 " in line)
    assert rows == [7, 14], result.stdout + result.stderr


def hazard_class(name: str, indent: str = "") -> str:
    """A module class whose forward branches on tensor data (EXP301 at its ``if`` line)."""
    lines = [
        f"class {name}(nn.Module):",
        "    def forward(self, x: torch.Tensor):",
        "        if x.sum() > 0:",
        "            return x",
        "        return -x",
    ]
    return "\n".join(indent + line for line in lines) + "\n"


def test_a_parameter_is_followed_to_call_sites_in_other_files(tmp_path):
    # coremltools-style: a test helper exports its parameter; a base class's method passes its own
    # parameter on; test files elsewhere call the method on self with the model (a class defined
    # in the test). ai-edge-torch-style: a package function exports its parameter, called as pkg.convert(Net()).
    header = "import torch\nfrom torch import nn\n"
    write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n',
            "pkg/__init__.py": "from .conversion import convert\n",
            "pkg/conversion.py": """
                import torch

                def convert(module, args=None):
                    return torch.export.export(module, args)
            """,
            "pkg/testing_utils.py": """
                import torch

                def export_to_frontend(model, data):
                    model.eval()
                    return torch.export.export(model, (data,))

                class BaseTest:
                    def run_compare(self, data, model, frontend="export"):
                        return export_to_frontend(model, data)

                class OtherHelper:
                    def run_compare(self, data, model):
                        return None
            """,
            "tests/test_ops.py": header
            + "from pkg.testing_utils import BaseTest, OtherHelper\n"
            + hazard_class("Unrelated")
            + "class TestAdd(BaseTest):\n    def test_add(self):\n"
            + hazard_class("Net", " " * 8)
            + "        self.run_compare(torch.randn(2), Net())\n"
            + "        OtherHelper().run_compare(torch.randn(2), Unrelated())\n",
            "examples/run.py": header
            + "import pkg\n"
            + hazard_class("Small")
            + hazard_class("Local")
            + "def convert(module):\n    return module\n"
            + "pkg.convert(Small(), (torch.randn(2),))\nconvert(Local())\n",
        },
    )
    found = reached(tmp_path)
    assert found["tests/test_ops.py"] == {"TestAdd.test_add.Net.forward"}
    assert found["examples/run.py"] == {"Small.forward"}  # Local goes to a same-named function that exports nothing
    result = run_check(tmp_path)
    assert "tests/test_ops.py:13:" in result.stdout and "examples/run.py:6:" in result.stdout, result.stdout
    assert "reached from export of TestAdd.test_add.Net at pkg/testing_utils.py:6" in result.stdout
    assert result.stdout.count(" EXP301 ") == 2, result.stdout


def test_roots_built_by_installed_packages_are_named_in_the_summary(tmp_path):
    write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n',
            "export.py": """
                import timm
                import torch
                from transformers import AutoModelForCausalLM

                model = AutoModelForCausalLM.from_pretrained("gpt2").eval()
                torch.export.export(model, (torch.ones(1, 4, dtype=torch.long),))
                torch.export.export(timm.create_model("resnet18"), (torch.randn(1, 3, 224, 224),))
                torch.export.export(torch.nn.Linear(2, 2), (torch.randn(1, 2),))
            """,
        },
    )
    reach = compute_reach(ProjectIndex(str(tmp_path)))
    assert reach.external == ("transformers.AutoModelForCausalLM at export.py:7", "timm.create_model at export.py:8")
    result = run_check(tmp_path)
    assert "2 export root(s) built by installed packages" in result.stderr, result.stderr
    assert "transformers.AutoModelForCausalLM at export.py:7" in result.stderr


@pytest.mark.parametrize("select", [("EXP",), ("ALL",)])
def test_an_unreached_file_is_not_parsed_under_the_default_selection(monkeypatch, select):
    # EXP900 (unused noqa) runs on every file; in a file no rule finds anything in, its noqa
    # comments are judged against no finding, without the parse, as the parse would judge them.
    from export_lint import engine
    from export_lint.analysis.roots import Reach

    parsed: list[str] = []
    real_parse = engine.parse
    monkeypatch.setattr(engine, "parse", lambda text, path, *more: parsed.append(path) or real_parse(text, path, *more))
    source = textwrap.dedent(HAZARD_BLOCK)
    settings = Settings(select=select, reach=Reach("/nowhere", (), ()))
    assert lint_text(source, "layers.py", settings) == []
    assert parsed == []
    noqa = source.replace("import torch\n", "import torch  # noqa: EXP301\n", 1)
    unparsed = lint_text(noqa, "layers.py", settings)
    assert [d.code for d in unparsed] == ["EXP900"]
    assert parsed == []
    monkeypatch.setattr(engine, "_nothing_to_walk", lambda *args: False)
    assert lint_text(noqa, "layers.py", settings) == unparsed
    assert parsed == ["layers.py"]


def test_the_projects_own_code_and_the_standard_library_are_not_external_roots(tmp_path):
    write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n',
            "exir/lowering.py": "def to_backend(program):\n    return program\n",
            "export.py": """
                import copy
                import torch
                from mypkg.exir.lowering import to_backend

                torch.export.export(copy.deepcopy(torch.nn.Linear(2, 2)), (torch.randn(1, 2),))
                torch.export.export(to_backend(None), (torch.randn(1, 2),))
            """,
        },
    )
    assert compute_reach(ProjectIndex(str(tmp_path))).external == ()


def test_an_export_call_through_a_function_local_import_is_a_root():
    found = lint_roots(
        """
        import torch

        class Net(torch.nn.Module):
            def forward(self, x: torch.Tensor):
                if x.sum() > 0:
                    return x
                return x

        def main():
            from torch.export import export as capture
            capture(Net(), (torch.randn(2),))
        """
    )
    assert [row for row, _ in found] == [6]


def test_an_export_in_a_method_redefined_later_in_its_class_is_no_root(tmp_path):
    """Python keeps the last ``def`` of a name in a class body: the earlier test never runs, so
    what only it exports is not traced (pytorch/xla's test_export_llama, defined twice)."""
    write_project(
        tmp_path,
        {
            "test_models.py": """
                import torch


                class Old(torch.nn.Module):
                    def forward(self, x):
                        return x


                class New(torch.nn.Module):
                    def forward(self, x):
                        return x + 1


                class TestExport:
                    def test_export(self):
                        torch.export.export(Old(), (torch.randn(2),))

                    def test_export(self):  # noqa: F811
                        torch.export.export(New(), (torch.randn(2),))
            """
        },
    )
    assert reached(tmp_path)["test_models.py"] == {"New.forward"}
