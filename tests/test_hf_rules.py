"""EXP002, EXP003, EXP201, EXP202 on the cookbook's Whisper and BLIP files: golden diagnostics and fix
diffs, the look-alikes they must not report, and (slow) the real torch.export before and after the fix.

Snapshots live in tests/fixtures/<code>/; regenerate with ``EXPORT_LINT_UPDATE_SNAPSHOTS=1`` and read
the diff before committing.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from golden import FIXTURES, ROOT, check_snapshot, fix, lint

from export_lint.rules import exp002_hf_cache_output as exp002

WHISPER = ROOT / "examples" / "whisper_export.py"
BLIP = ROOT / "examples" / "blip_decoder.py"
HF_CODES = ("EXP002", "EXP003", "EXP201", "EXP202")


SNAPSHOTS = [
    ("EXP002", WHISPER, "2.14"),
    ("EXP003", WHISPER, "2.6"),
    ("EXP201", BLIP, "2.5"),
    ("EXP202", BLIP, "2.14"),
]


@pytest.mark.parametrize(("code", "source", "torch_version"), SNAPSHOTS, ids=lambda v: getattr(v, "name", v))
def test_golden_diagnostics_and_fix_diff(code, source, torch_version):
    check_snapshot(source, [code], torch_version, FIXTURES / code / f"{source.stem}_torch{torch_version}.snap")


def test_cookbook_files_report_exactly_their_codes():
    whisper, blip = WHISPER.read_text(), BLIP.read_text()
    assert [d.code for d in lint(whisper, HF_CODES, "2.14")] == ["EXP002"]
    assert [d.code for d in lint(whisper, HF_CODES, "2.6")] == ["EXP003", "EXP002"]
    assert [d.code for d in lint(blip, HF_CODES, "2.14")] == ["EXP202", "EXP202"]
    assert [d.code for d in lint(blip, HF_CODES, "2.5")] == ["EXP202", "EXP201", "EXP202"]


def test_fixes_are_idempotent_on_the_cookbook_files():
    for source in (WHISPER, BLIP):
        once = fix(source.read_text(), HF_CODES, "2.5").text
        assert fix(once, HF_CODES, "2.5").text == once
        assert {d.code for d in lint(once, HF_CODES, "2.5")} <= {"EXP202"}


# -- tokenizers: known by where they come from ------------------------------------------------
_FORWARD = """
import torch
{imports}

{prelude}

class Model(torch.nn.Module):
    def __init__(self, tokenizer=None):
        super().__init__()
        self.tokenizer = {tokenizer}

    def forward(self, caption):
        text = self.tokenizer(caption, return_tensors="pt").to("cpu")
        text.input_ids[:, 0] = 1
        return text.input_ids.float()

ep = torch.export.export(Model(), ("a cat",), strict=True)
"""


def _model_codes(imports: str, tokenizer: str, prelude: str = "") -> list[str]:
    text = _FORWARD.format(imports=imports, tokenizer=tokenizer, prelude=prelude)
    return sorted(d.code for d in lint(text, HF_CODES, "2.5"))


@pytest.mark.parametrize(
    ("imports", "tokenizer", "prelude"),
    [
        ("from transformers import AutoTokenizer", 'AutoTokenizer.from_pretrained("bert-base-uncased")', ""),
        ("import transformers as hf", 'hf.BertTokenizerFast(vocab_file="vocab.txt")', ""),
        ("from transformers import AutoProcessor", 'AutoProcessor.from_pretrained("x")', ""),
        (
            "from transformers import BertTokenizer",
            "init_tokenizer()",
            'def init_tokenizer():\n    tokenizer = BertTokenizer.from_pretrained("bert-base-uncased")\n    return tokenizer',
        ),
    ],
)
def test_tokenizers_resolved_through_imports_are_reported(imports, tokenizer, prelude):
    assert _model_codes(imports, tokenizer, prelude) == ["EXP003", "EXP201", "EXP202", "EXP202"]


@pytest.mark.parametrize(
    ("imports", "tokenizer", "prelude"),
    [
        ("", "tokenizer", ""),  # an unannotated parameter: unknown
        ("", "lambda s: s.split()", ""),
        ("", "SimpleTokenizer()", "class SimpleTokenizer:\n    def __call__(self, s, **kw):\n        return s"),
        ("from mylib import AutoTokenizer", 'AutoTokenizer.from_pretrained("x")', ""),
    ],
)
def test_things_named_tokenizer_that_are_not_known_tokenizers_are_not(imports, tokenizer, prelude):
    # Only the `str` export input is reported: nothing is known about `self.tokenizer`.
    assert _model_codes(imports, tokenizer, prelude) == ["EXP202"]


def test_annotated_tokenizer_parameter_is_a_tokenizer():
    text = _FORWARD.format(imports="from transformers import PreTrainedTokenizerFast", prelude="", tokenizer="tok")
    text = text.replace("def __init__(self, tokenizer=None)", "def __init__(self, tok: PreTrainedTokenizerFast)")
    assert sorted(d.code for d in lint(text, HF_CODES, "2.5")) == ["EXP003", "EXP201", "EXP202", "EXP202"]


# -- EXP201 must not fire ------------------------------------------------------------------------
def test_exp201_silent_on_untraced_code_and_computed_tensors():
    text = textwrap.dedent(
        """
        import torch
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")

        class CaptionDataset(torch.utils.data.Dataset):
            def __getitem__(self, index):
                text = tokenizer("a cat", return_tensors="pt")
                text.input_ids[:, 0] = tokenizer.bos_token_id
                return text

        def collate(batch):
            ids = torch.tensor([[1, 2, 3]])
            ids[:, 0] = 0
            return ids

        def train(model, loader):
            for batch in loader:
                labels = torch.tensor([0, 1])
                labels += 1
                model(batch, labels)

        class Model(torch.nn.Module):
            def forward(self, x):
                text = tokenizer("a cat", return_tensors="pt")
                targets = text.input_ids.masked_fill(text.input_ids == 0, -100)
                targets[:, :1] = -100
                shifted = torch.tensor([1.0, 2.0]) + x
                shifted[0] = 0.0
                return targets, shifted
        """
    )
    assert [d.code for d in lint(text, ["EXP201"], "2.5")] == []


def test_exp201_gated_before_torch_2_6():
    # docs/torch-versions.md: the write fails on torch 2.4.1 and 2.5.1 and exports from 2.6.0 on.
    blip = BLIP.read_text()
    assert [d.code for d in lint(blip, ["EXP201"], "2.5.1")] == ["EXP201"]
    for version in ("2.6", "2.6.0", "2.7.1", "2.14"):
        assert lint(blip, ["EXP201"], version) == []


def test_exp201_fix_is_unsafe_when_the_encoding_is_read_by_key():
    text = BLIP.read_text().replace(
        "return self.lm_head(hidden), decoder_targets",
        'return self.lm_head(hidden), decoder_targets, text["input_ids"]',
    )
    (found,) = lint(text, ["EXP201"], "2.5")
    assert found.fix.applicability.value == "unsafe"
    (safe,) = lint(BLIP.read_text(), ["EXP201"], "2.5")
    assert safe.fix.applicability.value == "safe"


# -- EXP003 ---------------------------------------------------------------------------------------
def test_exp003_implicit_strict_only_before_torch_2_8():
    text = BLIP.read_text().replace("    strict=False,\n", "")
    assert [d.code for d in lint(text, ["EXP003"], "2.6")] == ["EXP003"]
    # 2.7.0's export still defaults to strict=True; 2.8.0's to strict=False.
    assert [d.code for d in lint(text, ["EXP003"], "2.7.1")] == ["EXP003"]
    assert lint(text, ["EXP003"], "2.8") == []
    explicit = BLIP.read_text().replace("strict=False", "strict=True")
    assert [d.code for d in lint(explicit, ["EXP003"], "2.14")] == ["EXP003"]
    assert lint(explicit.replace("strict=True", "strict=use_strict"), ["EXP003"], "2.6") == []


# -- EXP002 gate and the fallback fix -------------------------------------------------------------
@pytest.mark.parametrize(
    ("class_name", "version", "returns"),
    [
        ("WhisperForConditionalGeneration", "4.53.3", False),
        ("WhisperForConditionalGeneration", "4.54.0", True),
        ("WhisperForConditionalGeneration", "5.24.0", True),
        ("LlamaForCausalLM", "4.47.1", False),
        ("LlamaForCausalLM", "4.48.0", True),
        ("AutoModelForCausalLM", "4.52.0", False),
        ("GPT2LMHeadModel", "4.56.0", True),
    ],
)
def test_exp002_transformers_versions_returning_the_cache(class_name, version, returns):
    assert exp002.returns_cache_object(class_name, version) is returns


def test_exp002_silent_when_the_cache_is_off_or_registered():
    text = WHISPER.read_text()
    export = "exported_program = torch.export.export("
    for silenced in (
        text.replace("WhisperConfig(**WHISPER_TINY)", "WhisperConfig(**WHISPER_TINY, use_cache=False)"),
        text.replace("model.eval()", "model.eval()\nmodel.config.use_cache = False"),
        text.replace("decoder_input_ids),\n", 'decoder_input_ids),\n    kwargs={"use_cache": False},\n'),
        text.replace(export, "torch.utils._pytree.register_pytree_node(Cache, f, g)\n" + export),
        text.replace("model = WhisperForConditionalGeneration(", "model = WhisperModelWrapper("),
    ):
        assert lint(silenced, ["EXP002"]) == [], silenced


def test_exp002_without_the_registration_helper_passes_use_cache_false(monkeypatch):
    monkeypatch.setattr(exp002, "installed_transformers", lambda: ("4.57.0", False))
    fixed = fix(WHISPER.read_text(), ["EXP002"])
    assert '    kwargs={"use_cache": False},\n)' in fixed.text
    (found,) = lint(WHISPER.read_text(), ["EXP002"])
    assert found.fix.applicability.value == "unsafe"
    monkeypatch.setattr(exp002, "installed_transformers", lambda: ("4.53.3", False))
    assert lint(WHISPER.read_text(), ["EXP002"]) == []


# -- the real torch.export -------------------------------------------------------------------------
_TINY_WHISPER = (
    "WHISPER_TINY = dict(vocab_size=100, num_mel_bins=8, encoder_layers=1, decoder_layers=1, d_model=64, "
    "encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, "
    "max_source_positions=16, max_target_positions=32, decoder_start_token_id=1, pad_token_id=0, "
    "bos_token_id=1, eos_token_id=2)\n"
)


def _tiny(text: str) -> str:
    """The Whisper script with a tiny config of the same architecture (whisper-tiny takes ~50 s here)."""
    return re.sub(r"WHISPER_TINY = dict\(.*?\n\)\n", _TINY_WHISPER, text, flags=re.S)


@pytest.mark.slow
def test_whisper_script_fails_then_exports_after_the_fix_and_matches_eager(unregistered_caches):
    torch = pytest.importorskip("torch")
    original = _tiny(WHISPER.read_text())
    namespace: dict = {}
    with pytest.raises(RuntimeError, match="EncoderDecoderCache'> in output, which is not a known type"):
        exec(compile(original, "whisper_export.py", "exec"), namespace)
    fixed = fix(original, HF_CODES, "2.5").text
    assert "register_cache_pytrees_for_model(model)" in fixed and "strict=False" in fixed
    namespace = {}
    exec(compile(fixed, "whisper_export_fixed.py", "exec"), namespace)
    args = (namespace["input_features"], namespace["attention_mask"], namespace["decoder_input_ids"])
    exported = namespace["exported_program"].module()(*args)
    eager = namespace["model"](*args)
    assert torch.allclose(exported.logits, eager.logits, atol=1e-5)


@pytest.mark.slow
def test_blip_decoder_exports_after_the_fix_bakes_the_caption_and_fails_strict():
    torch = pytest.importorskip("torch")
    fixed = fix(BLIP.read_text(), HF_CODES, "2.5").text
    assert "text.input_ids = text.input_ids.clone()" in fixed
    namespace: dict = {}
    exec(compile(fixed, "blip_decoder_fixed.py", "exec"), namespace)
    model, image, caption = namespace["model"], namespace["image"], namespace["caption_input"]
    exported = namespace["exported_program"]
    logits, targets = exported.module()(image, caption)
    eager_logits, eager_targets = model(image, caption)
    assert torch.allclose(logits, eager_logits, atol=1e-5) and torch.equal(targets, eager_targets)
    # EXP202: the caption is a constant of the graph.
    with pytest.raises(AssertionError, match="Guard failed: caption == 'a picture of a cat'"):
        exported.module()(image, "a dog")
    # EXP003: strict export of the tokenizing forward fails.
    with pytest.raises(torch._dynamo.exc.Unsupported):
        torch.export.export(model, (image, caption), strict=True)


@pytest.fixture
def unregistered_caches():
    """Pytree registration is process-global: start and end with no transformers cache class registered."""
    pytree = pytest.importorskip("torch.utils._pytree")
    from transformers.cache_utils import Cache

    def clear() -> None:
        for cls in list(pytree.SUPPORTED_NODES):
            if isinstance(cls, type) and issubclass(cls, Cache):
                pytree._deregister_pytree_node(cls)

    clear()
    yield
    clear()


@pytest.mark.slow
def test_decoder_only_cache_fails_and_registration_fixes_it(unregistered_caches):
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.exporters.exporter_dynamo import register_cache_pytrees_for_model

    config = LlamaConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=50,
    )
    model = LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 50, (1, 5))
    with pytest.raises(RuntimeError, match="DynamicCache'> in output, which is not a known type"):
        torch.export.export(model, (ids,))
    register_cache_pytrees_for_model(model)
    exported = torch.export.export(model, (ids,))
    assert torch.allclose(exported.module()(ids).logits, model(ids).logits, atol=1e-5)
