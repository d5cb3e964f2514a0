"""T5 (encoder-decoder): exact counts against transformers, the encoder / encoder-decoder block walks,
and the three-family table."""
from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel, T5Config, T5ForConditionalGeneration

from llm_playground.cli import main
from llm_playground.errors import PlaygroundError
from llm_playground.inspection.counts import parameter_counts
from llm_playground.inspection.encoder_walk import family_walk, format_family_walk, walk_any, walk_bert, walk_t5
from llm_playground.inspection.families import (ENCODER_DECODER_MODELS, build_t5, family_table, t5_config,
                                                transformers_parameter_count)
from llm_playground.inspection.sizing import PRESETS, from_hf_config, parameter_breakdown, parameter_count, size_model

T5_SIZES = {"t5-small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8),
            "t5-base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12)}


@pytest.mark.parametrize("name, expected", [("t5-small", 60_506_624), ("t5-base", 222_903_552)])
def test_t5_counts_equal_transformers_model_on_the_meta_device(name, expected):
    with torch.device("meta"):
        reference = T5ForConditionalGeneration(T5Config(**T5_SIZES[name]))  # the published sizes, transformers' defaults
    assert sum(p.numel() for p in reference.parameters()) == expected
    assert parameter_count(PRESETS[name]) == expected == transformers_parameter_count(name)
    counted = parameter_counts(reference)
    assert parameter_breakdown(PRESETS[name]) == counted["by_kind"]  # per kind, cross-attention included
    assert counted["by_kind"]["cross_attention"] == PRESETS[name].n_decoder_layer * 4 * PRESETS[name].d_model ** 2
    assert from_hf_config(reference.config).n_decoder_layer == PRESETS[name].n_decoder_layer
    assert size_model(from_hf_config(t5_config(name)))["total_parameters"] == expected


def test_inspect_config_t5_small_prints_the_count_and_the_check(capsys):
    assert main(["inspect", "--config", "t5-small"]) == 0
    out = capsys.readouterr().out
    assert "encoder 6 + decoder 6 layers" in out and "cross_attention" in out
    assert "total            60,506,624" in out
    assert "has 60,506,624 parameters (equal)" in out


def test_t5_memory_counts_the_decoder_cache_only():
    memory = size_model(PRESETS["t5-small"])["memory"]
    assert memory["kv_cache_bytes_per_token"]["fp32"] == 2 * 6 * 8 * 64 * 4  # K and V, 6 decoder layers
    assert any("cross-attention keys and values" in note for note in memory["notes"])


def _tiny_t5() -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=120, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                                num_heads=4)).eval()
    with torch.no_grad():  # random norm weights, so a missed norm cannot hide behind weight == 1
        for name, param in model.named_parameters():
            if "layer_norm" in name:
                param.uniform_(0.5, 1.5)
    return model


def test_t5_walk_equals_the_model_and_cross_attention_reads_the_source():
    model = _tiny_t5()
    sections = walk_t5(model, torch.tensor([[5, 6, 7, 8, 9, 10, 11]]), torch.tensor([[0, 3, 4]]))
    titles = [s.title for s in sections]
    assert titles == ["encoder block 0 (bidirectional self-attention)", "decoder block 0: causal self-attention",
                      "decoder block 0: cross-attention to the encoder", "decoder block 0: MLP", "output head"]
    for section in sections:
        assert section.max_abs_diff is None or section.max_abs_diff < 1e-5, section.title
    cross = {s.name: s.shape for s in sections[2].steps}
    assert cross["k = k(encoder output)"] == [1, 7, 32]          # keys from the 7 source tokens
    assert cross["weights = softmax(scores)"] == [1, 4, 3, 7]     # target × source
    encoder = {s.name: s.shape for s in sections[0].steps}
    assert encoder["relative position bias"] == [1, 4, 7, 7]
    assert sections[-1].steps[-1].shape == [1, 3, 120]


def test_bert_walk_equals_the_model():
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64)).eval()
    embeddings, layer = walk_bert(model, torch.tensor([[1, 5, 6, 7, 2]]))
    assert embeddings.max_abs_diff < 1e-6 and layer.max_abs_diff < 1e-5
    shapes = {s.name: s.shape for s in layer.steps}
    assert shapes["weights = softmax(scores)"] == [1, 4, 5, 5]
    assert shapes["intermediate dense(x)"] == [1, 5, 64]


def test_t5_walk_by_name(monkeypatch):
    """The by-name path (tokenizer, start token, notes) on a narrow T5 with t5-small's vocabulary and heads
    (the real t5-small builds in ~10 s: too slow for a unit test; `llmpg block --model t5-small` runs it)."""
    import llm_playground.inspection.families as families

    torch.manual_seed(0)
    narrow = T5ForConditionalGeneration(T5Config(vocab_size=32128, d_model=64, d_kv=8, d_ff=64, num_layers=2,
                                                 num_heads=8)).eval()
    monkeypatch.setattr(families, "random_t5", lambda name: narrow)
    walk = family_walk("t5-small", "summarize: studies have shown that owning a dog is good for you",
                       "owning a dog is good")
    assert walk.family == "encoder-decoder" and walk.max_abs_diff < 1e-4
    assert walk.target_ids[0] == 0 and walk.target_tokens[0] == "<pad>"
    assert any("not installable offline" in note for note in walk.notes)
    text = format_family_walk(walk)
    assert "cross-attention to the encoder" in text and "(1, 8, 6, 15)" in text  # 8 heads, 6 target × 15 source


def test_walk_errors_are_clear():
    with pytest.raises(PlaygroundError, match="encoder-decoder architectures .random weights.: t5-small, t5-base"):
        walk_any("t5-huge", "hello")
    with pytest.raises(PlaygroundError, match="target text is for encoder-decoder models"):
        walk_any("gpt2", "hello", "a target")
    with pytest.raises(PlaygroundError, match="prompt is empty"):
        family_walk("t5-small", "  ")


def test_three_families_side_by_side():
    rows = {row.example: row for row in family_table()}
    assert [row.family for row in family_table()] == ["encoder-only", "decoder-only", "decoder-only", "encoder-decoder"]
    assert rows["minilm-l6"].parameters == 22_713_216 and rows["smollm2-135m"].parameters == 134_515_008
    assert rows["t5-small"].parameters == 60_506_624 and rows["t5-small"].layers == "6 enc + 6 dec"
    assert "cross-attention" in rows["t5-small"].attention and "bidirectional" in rows["minilm-l6"].attention
    assert set(ENCODER_DECODER_MODELS) == {"t5-small", "t5-base"}
    assert build_t5("t5-small", meta=True).config.num_decoder_layers == 6
