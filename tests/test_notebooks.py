"""Jupyter notebooks are linted and fixed cell by cell, as ruff does (issue 15): included by default,
positions per cell, IPython magics and shell escapes skipped, fixes written back into the cells
with the notebook's JSON formatting, outputs and metadata untouched."""

from __future__ import annotations

import json

import pytest
from test_cli import run, write

nbformat = pytest.importorskip("nbformat")

from export_lint import lint_paths  # noqa: E402


def notebook(*cells: tuple[str, str], outputs: bool = True) -> str:
    """A notebook's JSON as Jupyter writes it, from (cell type, source) pairs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if kind == "code" and outputs:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="seen\n")]
            cell.execution_count = 1
        nb.cells.append(cell)
    return nbformat.writes(nb) + "\n"


DEMO = notebook(
    ("markdown", "# Export demo"),
    ("code", "%matplotlib inline\nimport torch\n!pip install nothing"),
    ("code", "%%bash\necho torch.export.export"),
    ("code", "def f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))"),
)


def test_a_hazard_in_a_notebook_is_reported_at_its_cell(tmp_path):
    write(tmp_path, {"demo.ipynb": DEMO})
    result = run("check", "--select", "EXP001", "--output-format", "concise", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith("demo.ipynb:cell 4:5:21: EXP001 [*] Export target `f`")
    found = json.loads(run("check", "--select", "EXP001", "--output-format", "json", cwd=tmp_path).stdout)
    assert [(d["cell"], d["location"], d["filename"]) for d in found] == [(4, {"row": 5, "column": 21}, "demo.ipynb")]


#: Two hazards: cell 3 row 1 sorts after cell 2 row 4 (cells first, then rows).
TWO_CELLS_SECOND = ("code", "torch.export.export(lambda y: y, (torch.ones(1),))")
TWO_CELLS = notebook(("code", "import torch\n\n\ntorch.export.export(lambda x: x, (torch.ones(1),))"), TWO_CELLS_SECOND)


@pytest.mark.parametrize("cached", [False, True])
def test_the_full_format_shows_each_cells_own_lines(tmp_path, cached):
    write(tmp_path, {"two.ipynb": TWO_CELLS})
    flags = [] if cached else ["--no-cache"]
    if cached:
        run("check", "--select", "EXP001", cwd=tmp_path)  # fills the cache; the second run reads it
    out = run("check", *flags, "--select", "EXP001", "--output-format", "full", cwd=tmp_path).stdout
    first, second = out.split("two.ipynb:cell 2:")
    assert first.startswith("two.ipynb:cell 1:4:21: EXP001") and "4 | torch.export.export(lambda x: x," in first
    assert second.startswith("1:21: EXP001") and "1 | torch.export.export(lambda y: y, (" in second
    assert "lambda x" not in second


def test_file_line_formats_name_the_cell_instead_of_a_wrong_file_line(tmp_path):
    write(tmp_path, {"two.ipynb": TWO_CELLS})

    def rendered(fmt: str) -> str:
        return run("check", "--no-cache", "--select", "EXP001", "--output-format", fmt, cwd=tmp_path).stdout

    github = rendered("github").splitlines()
    assert [line.split("::")[1].split(",")[2:4] for line in github] == [["line=1", "col=1"]] * 2
    assert "::cell 1, line 4, col 21: Export target `lambda x: x` is a lambda" in github[0]
    assert "::cell 2, line 1, col 21: " in github[1]
    junit = rendered("junit")
    assert ">cell 1, line 4, col 21, " in junit and ">cell 2, line 1, col 21, " in junit and ' line="' not in junit
    results = json.loads(rendered("sarif"))["runs"][0]["results"]
    assert [r["properties"] for r in results] == [
        {"cell": 1, "cellLine": 4, "cellColumn": 21},
        {"cell": 2, "cellLine": 1, "cellColumn": 21},
    ]
    assert all("region" not in r["locations"][0]["physicalLocation"] for r in results)


def test_add_noqa_writes_the_comment_into_each_cell_and_silences_it(tmp_path):
    source = notebook(
        ("code", "import torch\n!ls\n\ntorch.export.export(lambda x: x, (torch.ones(1),))"), TWO_CELLS_SECOND
    )
    write(tmp_path, {"two.ipynb": source})
    done = run("check", "--no-cache", "--select", "EXP001", "--add-noqa", "two.ipynb", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "Added 2 noqa directives.\n"), done.stderr
    written = json.loads((tmp_path / "two.ipynb").read_text())
    sources = ["".join(cell["source"]) for cell in written["cells"]]
    assert sources == [
        "import torch\n!ls\n\ntorch.export.export(lambda x: x, (torch.ones(1),))  # noqa: EXP001",
        "torch.export.export(lambda y: y, (torch.ones(1),))  # noqa: EXP001",
    ]
    assert written["cells"][0]["outputs"] == json.loads(source)["cells"][0]["outputs"]
    again = run("check", "--no-cache", "--select", "EXP001", "two.ipynb", cwd=tmp_path)
    assert again.returncode == 0, again.stdout


def test_magics_and_shell_escapes_are_skipped_not_syntax_errors(tmp_path):
    write(tmp_path, {"magic.ipynb": notebook(("code", "import torch\n%time x = 1\n!ls\nfiles = !ls\ntorch.ones?"))})
    result = run("check", "--output-format", "concise", "magic.ipynb", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "All checks passed! (1 file analysed)\n"), result.stdout


def test_a_shell_escape_continued_with_a_backslash_is_skipped_whole(tmp_path):
    """Failed before: the continuation lines of `!pip install a \\` were linted as Python (EXP000 on
    NVIDIA/Model-Optimizer's example notebooks)."""
    cell = "import torch\n!pip install a \\\n    b \\\n  c\nx = torch.ones(1)\n%time y = \\\n  x\n"
    write(tmp_path, {"cont.ipynb": notebook(("code", cell))})
    result = run("check", "--output-format", "concise", "cont.ipynb", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "All checks passed! (1 file analysed)\n"), result.stdout


def test_check_fix_writes_the_cells_back_and_keeps_everything_else(tmp_path):
    write(tmp_path, {"demo.ipynb": DEMO})
    result = run("check", "--fix", "--select", "EXP001", "demo.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    fixed_text = (tmp_path / "demo.ipynb").read_text()
    fixed, before = json.loads(fixed_text), json.loads(DEMO)
    assert "torch.export.export(ExportWrapper(f), (torch.ones(1),))" in "".join(fixed["cells"][3]["source"])
    for index in (0, 1, 2):  # markdown, magics and the cell magic: untouched
        assert fixed["cells"][index] == before["cells"][index]
    assert fixed["cells"][3]["outputs"] == before["cells"][3]["outputs"]
    assert fixed["metadata"] == before["metadata"]
    # Jupyter's own formatting: one-space indentation, its key order, the final newline.
    assert fixed_text == json.dumps(fixed, indent=1, ensure_ascii=False) + "\n"
    assert list(fixed) == list(before)
    nbformat.validate(nbformat.reads(fixed_text, as_version=4))
    assert run("check", "--select", "EXP001", "demo.ipynb", cwd=tmp_path).returncode == 0


def test_fix_shows_a_diff_per_cell_and_apply_writes(tmp_path):
    write(tmp_path, {"demo.ipynb": DEMO})
    diff = run("fix", "--select", "EXP001", "demo.ipynb", cwd=tmp_path)
    assert "--- a/demo.ipynb:cell 4\n+++ b/demo.ipynb:cell 4\n" in diff.stdout
    assert (tmp_path / "demo.ipynb").read_text() == DEMO
    applied = run("fix", "--apply", "--select", "EXP001", "demo.ipynb", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "ExportWrapper(f)" in (tmp_path / "demo.ipynb").read_text()


def test_an_import_in_an_earlier_cell_serves_a_later_one():
    source = notebook(
        ("code", "import torch"), ("markdown", "text"), ("code", "torch.export.export(lambda x: x, (1,))")
    )
    found = _lint_text_as_notebook(source)
    assert [(d.code, d.cell, d.start.row) for d in found] == [("EXP001", 3, 1)]


def test_notebooks_are_found_when_walking_folders(tmp_path):
    write(tmp_path, {"sub/demo.ipynb": DEMO, "sub/m.py": "x = 1\n"})
    files = run("check", "--show-files", cwd=tmp_path).stdout.splitlines()
    assert str(tmp_path / "sub" / "demo.ipynb") in files
    found = lint_paths([tmp_path], select=["EXP001"])
    assert [(d.path.endswith("demo.ipynb"), d.cell) for d in found] == [(True, 4)]


def test_noqa_in_a_cell_suppresses_there():
    source = notebook(("code", "import torch\ntorch.export.export(lambda x: x, (1,))  # noqa: EXP001"))
    assert _lint_text_as_notebook(source) == []


def test_a_broken_notebook_is_one_clear_diagnostic(tmp_path):
    write(tmp_path, {"bad.ipynb": '{"cells": [torch'})
    result = run("check", "--output-format", "concise", "bad.ipynb", cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.ipynb:1:1: EXP000 cannot read notebook" in result.stdout


def _lint_text_as_notebook(source: str):
    from export_lint import lint_source
    from export_lint.config import Settings

    return lint_source(source.encode(), "nb.ipynb", Settings(select=("EXP",)))


def test_check_fix_on_stdin_with_a_notebook_name_prints_the_fixed_notebook(tmp_path):
    result = run(
        "check", "--fix", "--select", "EXP001", "--stdin-filename", "demo.ipynb", cwd=tmp_path, stdin=DEMO.encode()
    )
    assert result.returncode == 0, result.stderr
    fixed = json.loads(result.stdout)
    assert "ExportWrapper(f)" in "".join(fixed["cells"][3]["source"])
    assert fixed["cells"][1] == json.loads(DEMO)["cells"][1]


def test_the_editor_server_comments_out_the_same_ipython_lines():
    """The server joins cells keeping columns: continued shell lines and a cell magic's body are
    comments there too, so the joined text compiles (it did not before)."""
    pytest.importorskip("lsprotocol")
    from export_lint.server.notebooks import Cell, JoinedCells

    cells = [
        Cell("c1", "import torch\n!pip install a \\\n    b\nx = torch.ones(1)"),
        Cell("c2", "%%bash\necho one\nls -la"),
        Cell("c3", "y = x + 1\ny?"),
    ]
    joined = JoinedCells(cells)
    compile(joined.text, "nb.ipynb", "exec")
    assert len(joined.text) == sum(len(cell.text) + 1 for cell in cells)  # columns and offsets kept


def test_a_notebook_saved_without_its_version_field_is_read_as_version_4(tmp_path):
    # torchrec's plot notebooks have version-4 cells and no "nbformat" key: read, not an EXP000.
    raw = json.loads(DEMO)
    del raw["nbformat"], raw["nbformat_minor"]
    write(tmp_path, {"demo.ipynb": json.dumps(raw, indent=1)})
    result = run("check", "--select", "EXP", "--output-format", "concise", cwd=tmp_path)
    assert "EXP000" not in result.stdout, result.stdout
    assert result.stdout.splitlines()[0].startswith("demo.ipynb:cell 4:5:21: EXP001"), result.stdout


def test_a_future_import_opening_a_later_cell_is_not_a_syntax_error(tmp_path):
    # pytorch/TensorRT's CitriNet notebook: cell 11 starts with `from __future__ import ...`, valid
    # in IPython (each cell is compiled alone); joined with the earlier cells it would not be.
    source = notebook(
        ("code", "import torch"),
        ("code", "# helpers\nfrom __future__ import annotations\nimport os\nx = 1"),
        ("code", "def f(x):\n    return x\n\n\ntorch.export.export(f, (torch.ones(1),))"),
    )
    assert [d.code for d in _lint_text_as_notebook(source)] == ["EXP001"]
