"""EXP008: what an export root's forward returns that torch.export cannot flatten, across files."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from export_lint.analysis.index import ProjectIndex
from export_lint.analysis.reach_cache import _decode_reach, _encode_reach
from export_lint.analysis.roots import compute_reach

OUTPUTS = """
    import torch


    def _register(cls):
        return cls


    class ModelOutput(dict):
        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            torch.utils._pytree.register_pytree_node(cls, None, None)


    class DecoderOutput(ModelOutput):
        pass


    class Cache:
        def __init__(self):
            self.keys = []


    class LayeredCache(Cache):
        pass


    class Registered:
        def __init__(self, t):
            self.t = t


    torch.utils._pytree.register_pytree_node(Registered, lambda r: ((r.t,), None), lambda c, _: Registered(*c))
"""

DECODER = """
    import torch
    from torch import nn

    from .outputs import Cache, DecoderOutput, LayeredCache, Registered


    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x, cache=None, use_cache=True):
            if use_cache and cache is None:
                cache = LayeredCache()
            return DecoderOutput(hidden=self.proj(x), cache=cache if use_cache else None)


    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = Decoder()

        def forward(self, x):
            out = self.decoder(x)
            return DecoderOutput(hidden=out.hidden, cache=out.cache)


    class Plain(nn.Module):
        def forward(self, x):
            return DecoderOutput(hidden=x, extra=Registered(x))


    class Unknown(nn.Module):
        def forward(self, x, state):
            return x, state
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def outputs(root: Path, patterns=()) -> dict[str, list[tuple[str, ...]]]:
    reach = compute_reach(ProjectIndex(str(root)), patterns)
    return {
        os.path.relpath(path, os.path.realpath(root)): [fact[:4] for fact in facts] for path, facts in reach.outputs
    }


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n',
            "pkg/__init__.py": "",
            "pkg/outputs.py": OUTPUTS,
            "pkg/decoder.py": DECODER,
        },
    )


def test_a_configured_root_returning_a_cache_through_a_submodule_and_a_registered_output(library):
    found = outputs(library, ["pkg.decoder:Model"])
    # The cache is built in Decoder.forward, returned in a field of a registered output (ModelOutput
    # registers its subclasses in __init_subclass__), read back by Model as `out.cache`.
    assert found == {
        "pkg/decoder.py": [
            ("Model.forward", "pkg.outputs.LayeredCache", "pkg/decoder.py:15", "in `DecoderOutput.cache`")
        ]
    }


def test_registered_classes_containers_and_parameters_are_silent(library):
    assert outputs(library, ["pkg.decoder:Plain", "pkg.decoder:Unknown"]) == {}


def test_no_root_no_finding(library):
    assert outputs(library) == {}


def test_a_registration_on_the_way_to_the_export_call_counts_but_one_elsewhere_does_not(library):
    script = """
        import torch
        import torch.utils._pytree as pytree

        from pkg.decoder import Model
        from pkg.outputs import LayeredCache


        def register_caches():
            pytree.register_pytree_node(LayeredCache, None, None)


        def main():
            register_caches()
            torch.export.export(Model(), (torch.randn(2, 4),))
    """
    write_project(library, {"scripts/export.py": script})
    assert outputs(library) == {}
    # The same helper never called before the export: the export fails, and is reported.
    write_project(library, {"scripts/export.py": script.replace("    register_caches()\n", "")})
    assert list(outputs(library)) == ["pkg/decoder.py"]
    # A configured root: only registrations that run at import count.
    assert list(outputs(library, ["pkg.decoder:Model"])) == ["pkg/decoder.py"]


def test_a_cache_a_flag_set_false_on_the_way_disables_is_silent(library):
    """``use_cache = False`` for an encoder config (BERT-style): the cache is never built; a flag set
    False only while training (gradient checkpointing) does not count."""
    encoder = """
        from torch import nn

        from .decoder import Decoder
        from .outputs import DecoderOutput


        class Encoder(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.config = config
                self.decoder = Decoder()

            def forward(self, x, use_cache=None):
                if not self.config.is_decoder:
                    use_cache = False
                out = self.decoder(x, use_cache=use_cache)
                return DecoderOutput(hidden=out.hidden, cache=out.cache)


        class Trained(Encoder):
            def forward(self, x, use_cache=True):
                if self.training and self.config.gradient_checkpointing:
                    use_cache = False
                out = self.decoder(x, use_cache=use_cache)
                return DecoderOutput(hidden=out.hidden, cache=out.cache)
    """
    write_project(library, {"pkg/encoder.py": encoder})
    assert outputs(library, ["pkg.encoder:Encoder"]) == {}
    assert list(outputs(library, ["pkg.encoder:Trained"])) == ["pkg/encoder.py"]


CONFIGURED = """
    from torch import nn


    class Cache:
        pass


    class OnConfig:
        use_cache: bool = True


    class OffConfig:
        use_cache: bool = False


    class SilentConfig:
        hidden_size = 4


    class Model(nn.Module):
        def __init__(self, config: OnConfig):
            super().__init__()
            self.config = config

        def forward(self, x, cache=None, use_cache=None):
            use_cache = use_cache if use_cache is not None else self.config.use_cache
            if use_cache and cache is None:
                cache = Cache()
            return x, cache


    class Unfilled(nn.Module):
        def __init__(self, config: OnConfig):
            super().__init__()
            self.config = config

        def forward(self, x, cache=None, use_cache=None):
            if use_cache and cache is None:
                cache = Cache()
            return x, cache


    class Outer(nn.Module):
        def __init__(self, config: OnConfig):
            super().__init__()
            self.inner = Unfilled(config)

        def forward(self, x):
            return self.inner(x, use_cache=True)


    class OffModel(Model):
        def __init__(self, config: OffConfig):
            super().__init__(config)


    class SilentModel(Model):
        def __init__(self, config: SilentConfig):
            super().__init__(config)
"""


def test_a_cache_the_config_leaves_off_by_default_is_silent(tmp_path):
    """transformers fills ``use_cache=None`` from the config: a config defaulting it to False, or not
    defining it (read as None), builds no cache; one defaulting it to True does. A forward that does
    not fill it leaves it None (no cache) unless its caller passes it on."""
    write_project(tmp_path, {"pyproject.toml": '[project]\nname = "x"\n', "model.py": CONFIGURED})
    assert list(outputs(tmp_path, ["model:Model"])) == ["model.py"]
    assert outputs(tmp_path, ["model:Unfilled"]) == {}
    assert list(outputs(tmp_path, ["model:Outer"])) == ["model.py"]
    assert outputs(tmp_path, ["model:OffModel"]) == {}
    assert outputs(tmp_path, ["model:SilentModel"]) == {}


def test_a_base_class_outside_the_project_is_silent(tmp_path):
    write_project(
        tmp_path,
        {
            "model.py": """
                import torch
                from somelib import Base


                class Out(Base):
                    pass


                class Model(torch.nn.Module):
                    def forward(self, x):
                        return Out(x)


                torch.export.export(Model(), (torch.randn(2),))
            """
        },
    )
    assert outputs(tmp_path) == {}


def test_the_reach_cache_keeps_the_facts(library):
    reach = compute_reach(ProjectIndex(str(library)), ["pkg.decoder:Model"])
    assert reach.outputs
    assert _decode_reach(_encode_reach(reach, "s"), "s") == reach
    assert _decode_reach({**_encode_reach(reach, "s"), "outputs": [["x", [["too", "short"]]]]}, "s") is None


def test_check_reports_at_the_roots_forward_with_the_class_and_the_remedy(library):
    (library / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.export-lint]\nexport-roots = ["pkg.decoder:Model"]\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "export_lint", "check", "--no-cache", "--select", "EXP008", "."],
        cwd=library,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stdout.splitlines() if " EXP008 " in line]
    assert len(lines) == 1, result.stdout + result.stderr
    assert lines[0].startswith("pkg/decoder.py:24:9: EXP008 `forward` returns an object of class `LayeredCache`")
    assert "register_pytree_node" in lines[0] and "export-roots entry 'pkg.decoder:Model'" in lines[0]


AUTO_PACKAGE = {
    "transformers/__init__.py": "",
    "transformers/models/__init__.py": "",
    "transformers/models/auto/__init__.py": "",
    "transformers/models/auto/modeling_auto.py": """
        from collections import OrderedDict

        MODEL_MAPPING_NAMES = OrderedDict([("tiny_text", "TinyTextModel"), ("other", "OtherModel")])


        class AutoModel:
            @classmethod
            def from_config(cls, config):
                raise NotImplementedError
    """,
    "transformers/models/tiny/__init__.py": "",
    "transformers/models/tiny/configuration_tiny.py": """
        class TinyTextConfig:
            model_type = "tiny_text"


        class TinyConfig:
            model_type = "tiny"
            sub_configs_defaults = {"text_config": TinyTextConfig}
    """,
    "transformers/models/tiny/modeling_tiny.py": """
        from torch import nn

        from ..auto.modeling_auto import AutoModel
        from .configuration_tiny import TinyConfig


        class TinyCache:
            pass


        class TinyTextModel(nn.Module):
            def forward(self, x):
                return x, TinyCache()


        class TinyModel(nn.Module):
            def __init__(self, config: TinyConfig):
                super().__init__()
                self.language_model = AutoModel.from_config(config.text_config)

            def forward(self, x):
                return self.language_model(x)
    """,
}


def test_a_part_built_by_an_auto_factory_is_followed_through_the_config_and_the_auto_mapping(tmp_path):
    write_project(tmp_path, AUTO_PACKAGE)
    found = outputs(tmp_path, ["transformers.models.tiny.modeling_tiny:TinyModel"])
    assert found == {
        "transformers/models/tiny/modeling_tiny.py": [
            (
                "TinyModel.forward",
                "transformers.models.tiny.modeling_tiny.TinyCache",
                "transformers/models/tiny/modeling_tiny.py:14",
                "in a tuple",
            )
        ]
    }
    # A model type the mapping does not name: unknown, silent.
    mapping = tmp_path / "transformers/models/auto/modeling_auto.py"
    mapping.write_text(mapping.read_text().replace('"tiny_text"', '"renamed"'))
    assert outputs(tmp_path, ["transformers.models.tiny.modeling_tiny:TinyModel"]) == {}


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")
@pytest.mark.parametrize(("model", "cls"), [("llama", "LlamaModel"), ("aria", "AriaModel")])
def test_installed_transformers_models_return_their_cache(model, cls):
    """The installed transformers' own models: with the cache on, a decoder's forward returns a
    DynamicCache, and so does Aria's, whose language model is built by ``AutoModel.from_config``
    (the recall corpus measured both exports failing that way on 5.24)."""
    import transformers

    from export_lint.verify.static_side import ExportRoot, static_findings

    path = os.path.join(os.path.dirname(transformers.__file__), "models", model, f"modeling_{model}.py")
    root = ExportRoot(os.path.realpath(path), cls, f"transformers.models.{model}.modeling_{model}")
    found = static_findings([path], ("EXP008",), [root])
    messages = [item["message"] for items in found.values() for item in items]
    assert any("Cache`" in message and "use_cache=False" in message for message in messages), found


def test_the_results_cache_relints_the_forward_when_another_file_registers_the_class(tmp_path):
    """The finding is in model.py; the registration that silences it lands in another file."""
    write_project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n',
            "pkg/__init__.py": "",
            "pkg/model.py": """
                import torch


                class Boxes:
                    def __init__(self, t):
                        self.t = t


                class Model(torch.nn.Module):
                    def forward(self, x):
                        return Boxes(x)
            """,
            "export.py": """
                import torch

                from pkg.model import Model

                torch.export.export(Model(), (torch.randn(2),))
            """,
        },
    )

    def check() -> str:
        command = [sys.executable, "-m", "export_lint", "check", "--select", "EXP008", "pkg/model.py"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120).stdout

    assert "EXP008" in check()
    assert "EXP008" in check()  # from the cache
    (tmp_path / "pkg" / "registry.py").write_text(
        "import torch.utils._pytree as pytree\n\nfrom pkg.model import Boxes\n\n"
        "pytree.register_pytree_node(Boxes, lambda b: ((b.t,), None), lambda c, _: Boxes(*c))\n"
    )
    assert "EXP008" not in check()


def test_an_export_call_passing_the_flag_off_is_silent(tmp_path):
    model = """
        import torch


        class Cache:
            pass


        class Model(torch.nn.Module):
            def forward(self, x, use_cache=True):
                cache = Cache() if use_cache else None
                return x, cache


        torch.export.export(Model(), (torch.randn(2),), {EXTRA})
    """
    write_project(tmp_path, {"model.py": model.replace("{EXTRA}", "{}")})
    assert list(outputs(tmp_path)) == ["model.py"]
    write_project(tmp_path, {"model.py": model.replace("{EXTRA}", '{"use_cache": False}')})
    assert outputs(tmp_path) == {}
    write_project(tmp_path, {"model.py": model.replace("(torch.randn(2),), {EXTRA}", "(torch.randn(2), False)")})
    assert outputs(tmp_path) == {}
