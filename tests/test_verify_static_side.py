"""verify's static side: the model's class is the export root, so a library that makes no export
call of its own still gets its traced-code findings (no torch needed here)."""

from __future__ import annotations

import importlib.util
import json
import os
import textwrap
from pathlib import Path

from export_lint.verify.static_side import ExportRoot, import_base, static_findings, traced_code

LIBRARY = {
    "toylib/__init__.py": "",
    "toylib/layers.py": """
        import torch


        class Clip(torch.nn.Module):
            def forward(self, x):
                if x.sum() > 0:
                    return x
                return -x
    """,
    "toylib/models.py": """
        import torch

        from toylib.layers import Clip


        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.clip = Clip()

            def forward(self, x):
                return self.clip(x) + 1


        class Unused(torch.nn.Module):
            def forward(self, x):
                if x.max() > 1:
                    return x
                return x + 1
    """,
}


def _library(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    for name, text in LIBRARY.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return site


def test_the_import_folder_comes_from_the_module_name_and_the_path(tmp_path):
    site = _library(tmp_path)
    root = ExportRoot(str(site / "toylib" / "models.py"), "Net", "toylib.models")
    assert import_base(root) == str(site)
    assert import_base(ExportRoot(str(site / "toylib" / "models.py"), "Net", "_export_lint_target_3")) is None


def test_a_library_model_is_linted_with_its_class_as_the_export_root(tmp_path):
    site = _library(tmp_path)
    models, layers = str((site / "toylib" / "models.py").resolve()), str((site / "toylib" / "layers.py").resolve())
    root = ExportRoot(models, "Net", "toylib.models")
    without = static_findings([models], ["ALL"])
    assert not any(without.values())  # no export call anywhere: traced-code rules are silent
    found = static_findings([models], ["ALL"], [root])
    rows = {(os.path.basename(path), item["row"], item["code"]) for path, items in found.items() for item in items}
    assert ("layers.py", 6, "EXP301") in rows  # the submodule the root reaches, in a file verify did not name
    assert not any(name == "models.py" for name, _, _ in rows)  # Unused is not reached
    memo: dict = {}
    assert static_findings([models], ["ALL"], [root], memo=memo) == found
    assert static_findings([models], ["ALL"], [root], memo=memo) == found and memo
    accepts = traced_code([root], [models])
    installed = importlib.util.find_spec("libcst").origin  # another installed package: not the model's code
    assert accepts(layers) and not accepts(installed)
    json.dumps(root.to_json())
