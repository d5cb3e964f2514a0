"""Module tree and counts per kind on live torch models."""
import pytest
import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from llm_playground.inspection.counts import (
    classify_parameter, format_inspection, format_tree, inspect_model, module_tree, parameter_counts,
)

GPT2_TOTAL = 124_439_808


@pytest.fixture(scope="module")
def gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config())


@pytest.mark.parametrize("name, kind", [
    ("model.embed_tokens.weight", "embeddings"), ("transformer.wpe.weight", "embeddings"),
    ("embeddings.token_type_embeddings.weight", "embeddings"),
    ("model.layers.0.self_attn.q_proj.weight", "attention"), ("transformer.h.0.attn.c_attn.bias", "attention"),
    ("encoder.layer.0.attention.output.dense.weight", "attention"),
    ("model.layers.0.mlp.gate_proj.weight", "mlp"), ("encoder.layer.0.intermediate.dense.weight", "mlp"),
    ("encoder.layer.0.output.dense.weight", "mlp"), ("transformer.h.0.mlp.c_fc.weight", "mlp"),
    ("model.layers.0.input_layernorm.weight", "norms"), ("model.layers.0.self_attn.q_norm.weight", "norms"),
    ("transformer.ln_f.bias", "norms"), ("embeddings.LayerNorm.weight", "norms"), ("model.norm.weight", "norms"),
    ("lm_head.weight", "head"), ("pooler.dense.weight", "head"), ("mystery", "other"),
])
def test_classify_parameter(name, kind):
    assert classify_parameter(name) == kind


def test_gpt2_counts_add_up_with_tied_head_once(gpt2):
    counts = parameter_counts(gpt2)
    assert counts["total"] == GPT2_TOTAL == sum(p.numel() for p in gpt2.parameters())
    assert sum(counts["by_kind"].values()) == GPT2_TOTAL
    assert counts["by_kind"]["embeddings"] == 50257 * 768 + 1024 * 768
    assert counts["by_kind"]["head"] == 0  # lm_head is the embedding matrix
    assert counts["tied"] == {"lm_head.weight": "transformer.wte.weight"}


def test_weights_sharing_storage_count_once_even_as_separate_parameters():
    class TiedByStorage(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.lm_head = nn.Linear(4, 10, bias=False)
            self.lm_head.weight = nn.Parameter(self.embed.weight.data)  # another Parameter, same memory

    model = TiedByStorage()
    assert sum(p.numel() for p in model.parameters()) == 80  # the plain sum counts it twice
    counts = parameter_counts(model)
    assert counts["total"] == 40 and counts["tied"] == {"lm_head.weight": "embed.weight"}


def test_module_tree_shapes_and_subtotals(gpt2):
    tree = module_tree(gpt2)
    assert tree.type == "GPT2LMHeadModel" and tree.n_params == GPT2_TOTAL
    transformer = tree.children[0]
    blocks = next(child for child in transformer.children if child.name == "h")
    assert len(blocks.children) == 12 and blocks.n_params == 12 * 7_087_872
    attn = next(child for child in blocks.children[0].children if child.name == "attn")
    c_attn = attn.children[0]
    assert c_attn.params[0] == {"name": "weight", "shape": [768, 2304], "numel": 768 * 2304, "kind": "attention"}
    lm_head = tree.children[1]
    assert lm_head.params[0]["tied_to"] == "transformer.wte.weight"


def test_format_tree_collapses_repeated_blocks(gpt2):
    text = format_tree(module_tree(gpt2))
    assert "0…11: GPT2Block" in text and "12 × 7,087,872" in text
    assert text.count("GPT2Block") == 1
    shallow = format_tree(module_tree(gpt2), max_depth=1)
    assert "GPT2Block" not in shallow and "transformer: GPT2Model" in shallow


def test_inspect_model_report(gpt2):
    report = inspect_model(gpt2, "gpt2")
    assert report["total_parameters"] == report["sum_numel"] == GPT2_TOTAL
    assert report["dimensions"]["n_layer"] == 12
    assert report["memory"]["weights_bytes"]["bf16"] == 2 * GPT2_TOTAL
    assert report["memory"]["kv_cache_bytes_per_token"]["fp32"] == 2 * 12 * 768 * 4
    text = format_inspection(report)
    assert "124,439,808" in text and "tied: lm_head.weight is transformer.wte.weight" in text
    tree = report["tree"]
    assert report["sample_tokens"] == 8 and tree["output_shape"] == [1, 8, 50257]  # logits
    c_attn = tree["children"][0]["children"][3]["children"][0]["children"][1]["children"][0]
    assert c_attn["path"] == "transformer.h.0.attn.c_attn" and c_attn["output_shape"] == [1, 8, 3 * 768]
    assert "c_attn: Conv1D  weight [768, 2304], bias [2304]  → (1, 8, 2304)" in text
    assert inspect_model(gpt2, sample_tokens=0)["tree"]["output_shape"] is None


@pytest.mark.parametrize("preset_name", ["cpu-tiny", "llama-tiny"])
def test_our_transformer_counts_match_the_formula(preset_name):
    from llm_playground.inspection.sizing import parameter_breakdown
    from llm_playground.models.config import preset
    from llm_playground.models.transformer import Transformer

    config = preset(preset_name)
    with torch.device("meta"):
        model = Transformer(config)
    report = inspect_model(model, preset_name)
    assert report["total_parameters"] == sum(p.numel() for p in model.parameters())
    assert report["dimensions"]["n_layer"] == config.n_layer
    from llm_playground.inspection.counts import model_dimensions
    assert parameter_breakdown(model_dimensions(model)) == report["parameters_by_kind"]
    assert report["parameters_by_kind"]["other"] == 0


def test_a_model_that_cannot_be_traced_still_gets_its_tree():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, 2)

        def forward(self, x, y):
            return self.proj(x) + y

    from llm_playground.inspection.counts import output_shapes

    model = TwoInputs()
    assert output_shapes(model) == {}
    report = inspect_model(model)
    assert report["total_parameters"] == 8 and report["tree"]["output_shape"] is None
    assert report["parameters_by_kind"]["other"] == 8 and report["dimensions"] is None
    assert "KV cache" not in format_inspection(report)  # no dimensions, no cache estimate
