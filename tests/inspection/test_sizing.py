"""Sizing from dimensions: the formula against the real transformers models built from the same config."""
import pytest
import torch
from transformers import (
    BertConfig, BertModel, Gemma3ForCausalLM, Gemma3TextConfig, GPT2Config, GPT2LMHeadModel, LlamaConfig,
    LlamaForCausalLM,
)

from llm_playground.errors import PlaygroundError, UnknownNameError
from llm_playground.inspection.counts import parameter_counts
from llm_playground.inspection.sizing import (
    PRESETS, ModelDimensions, format_sizing, from_hf_config, human_bytes, memory_report, parameter_breakdown,
    parameter_count, preset, size_model,
)

LLAMA2_7B = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                        vocab_size=32000, max_position_embeddings=4096, tie_word_embeddings=False)
SMOLLM2 = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                      num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192, tie_word_embeddings=True)
LLAMA3_8B = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                        num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False)
GEMMA3_270M = Gemma3TextConfig(vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
                               num_attention_heads=4, num_key_value_heads=1, head_dim=256)
MINILM = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536)


@pytest.mark.parametrize("name, expected", [
    ("gpt2", 124_439_808), ("smollm2-135m", 134_515_008), ("gemma3-270m", 268_098_176),
    ("minilm-l6", 22_713_216), ("llama2-7b", 6_738_415_616), ("llama3-8b", 8_030_261_248),
])
def test_presets_give_the_published_exact_counts(name, expected):
    assert parameter_count(PRESETS[name]) == expected


def test_llama2_7b_from_its_dimensions_alone():
    dims = ModelDimensions(n_layer=32, d_model=4096, n_head=32, d_ff=11008, vocab_size=32000, context_length=4096)
    total = parameter_count(dims)
    assert abs(total - 6.74e9) / 6.74e9 < 0.01
    assert total == 6_738_415_616
    bf16 = memory_report(total, dims).weights_bytes["bf16"]
    assert bf16 == 2 * 6_738_415_616 and human_bytes(bf16) == "13.5 GB"


@pytest.mark.parametrize("model_class, config", [
    (GPT2LMHeadModel, GPT2Config()), (LlamaForCausalLM, SMOLLM2), (LlamaForCausalLM, LLAMA2_7B),
    (LlamaForCausalLM, LLAMA3_8B), (Gemma3ForCausalLM, GEMMA3_270M), (BertModel, MINILM),
], ids=["gpt2", "smollm2", "llama2-7b", "llama3-8b", "gemma3-270m", "minilm"])
def test_formula_equals_the_library_model_per_kind(model_class, config):
    with torch.device("meta"):  # shapes only: a 7B model costs no memory
        model = model_class(config)
    dims = from_hf_config(model.config)
    counted = parameter_counts(model)
    assert parameter_breakdown(dims) == counted["by_kind"]
    assert parameter_count(dims) == counted["total"] == sum(p.numel() for p in model.parameters())


def test_kv_cache_per_token_and_at_full_context():
    llama = memory_report(parameter_count(PRESETS["llama2-7b"]), PRESETS["llama2-7b"])
    assert llama.kv_cache_bytes_per_token == {"fp32": 2 * 32 * 32 * 128 * 4, "bf16": 2 * 32 * 32 * 128 * 2}
    assert llama.kv_cache_bytes_full_context["bf16"] == 524_288 * 4096  # 2 GiB for one 4k sequence
    smol = memory_report(1, PRESETS["smollm2-135m"])  # 3 KV heads of 64 for 9 query heads
    assert smol.kv_cache_bytes_per_token["bf16"] == 2 * 30 * 3 * 64 * 2
    assert any("Grouped-query" in note for note in smol.notes)
    longer = preset("llama2-7b", context_length=8192)
    assert memory_report(1, longer).kv_cache_bytes_full_context["bf16"] == 2 * llama.kv_cache_bytes_full_context["bf16"]


def test_training_memory_and_flops():
    report = memory_report(1000, None)
    assert report.weights_bytes == {"fp32": 4000, "bf16": 2000, "int8": 1000, "int4": 500}
    assert report.training_bytes == 16_000
    assert (report.forward_flops_per_token, report.training_flops_per_token) == (2000, 6000)
    assert report.kv_cache_bytes_per_token == {} and report.attention_flops_per_token is None
    dims = PRESETS["gpt2"]
    assert memory_report(1, dims).attention_flops_per_token == 2 * 12 * 1024 * 768


def test_encoder_has_no_kv_cache():
    report = memory_report(parameter_count(PRESETS["minilm-l6"]), PRESETS["minilm-l6"])
    assert report.kv_cache_bytes_per_token == {}
    assert any("no KV cache" in note for note in report.notes)


def test_size_model_report_adds_up_and_formats():
    sizing = size_model(PRESETS["llama2-7b"])
    assert sum(sizing["parameters_by_kind"].values()) == sizing["total_parameters"] == 6_738_415_616
    text = format_sizing(sizing)
    assert "6,738,415,616" in text and "13.5 GB" in text and "KV cache" in text


def test_preset_overrides_recompute_derived_fields():
    dims = preset("llama2-7b", n_head=16)
    assert (dims.head_dim, dims.n_kv_head, dims.d_ff) == (256, 16, 11008)
    assert preset("llama2-7b").name == "llama2-7b"


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_head=12), "not divisible by n_head"),
    (dict(n_kv_head=5), "multiple of n_kv_head"),
    (dict(mlp="tanh"), "mlp must be one of"),
    (dict(norm="batchnorm"), "norm must be one of"),
    (dict(n_layer=0), "n_layer must be a positive integer"),
])
def test_bad_dimensions_are_refused(kwargs, message):
    base = dict(n_layer=2, d_model=64, n_head=8, vocab_size=100)
    with pytest.raises(PlaygroundError, match=message):
        ModelDimensions(**{**base, **kwargs})


def test_unknown_preset_lists_known_ones():
    with pytest.raises(UnknownNameError, match="llama2-7b"):
        preset("llama9-1t")
