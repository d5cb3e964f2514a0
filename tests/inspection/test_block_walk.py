"""The block walk: shapes of every step of block 0, equal to the real block; residual norms equal transformers'."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from llm_playground.cli import main
from llm_playground.inspection.block_walk import BlockWalk, plot_residual_norms, residual_norms, walk_first_block
from llm_playground.models import Transformer, from_hf_model, preset


def _ids(length: int) -> torch.Tensor:
    return torch.randint(0, 65, (1, length), generator=torch.Generator().manual_seed(0))


def test_llama_walk_shapes_and_equality_with_the_block():
    model = Transformer(preset("llama-tiny")).eval()  # C=128, 4 query heads, 2 kv heads, hs=32, I=352
    steps, difference = walk_first_block(model, _ids(6))
    shapes = {step.name: tuple(step.shape) for step in steps}
    assert shapes["token embedding wte[ids]"] == (1, 6, 128)
    assert shapes["k = k_proj(h)"] == (1, 6, 64)
    assert shapes["q rotated (RoPE)"] == (1, 4, 6, 32)
    assert shapes["k rotated (RoPE)"] == (1, 2, 6, 32)
    assert shapes["k repeated per query group"] == (1, 4, 6, 32)
    assert shapes["weights = softmax(q kᵀ / √hs, causal)"] == (1, 4, 6, 6)
    assert shapes["silu(gate) * up (SwiGLU)"] == (1, 6, 352)
    assert steps[-1].shape == [1, 6, 128]
    assert difference < 1e-5


def test_gpt2_walk_adds_positions_and_has_no_rope():
    model = Transformer(preset("cpu-tiny")).eval()
    steps, difference = walk_first_block(model, _ids(5))
    names = [step.name for step in steps]
    assert "+ position embedding wpe[0..T-1]" in names
    assert not any("RoPE" in name or "repeated" in name for name in names)
    assert dict((s.name, s.shape) for s in steps)["gelu(up)"] == [1, 5, 512]
    assert difference < 1e-5


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_residual_norms_equal_transformers_hidden_states(family):
    torch.manual_seed(0)
    if family == "llama":
        hf = LlamaForCausalLM(LlamaConfig(vocab_size=65, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
                                          bos_token_id=0, eos_token_id=1)).eval()
    else:
        hf = GPT2LMHeadModel(GPT2Config(vocab_size=65, n_positions=16, n_embd=32, n_layer=3, n_head=4,
                                        bos_token_id=0, eos_token_id=1)).eval()
    idx = _ids(7)
    with torch.inference_mode():
        hidden = hf(idx, output_hidden_states=True).hidden_states  # embeddings, blocks 0..L-2, final norm
    rows = residual_norms(from_hf_model(hf), idx)
    assert [r.label for r in rows] == ["embeddings", "block 0", "block 1", "block 2", "final norm"]
    theirs = [h[0].norm(dim=-1) for h in hidden]
    ours = rows[:-2] + rows[-1:]  # transformers replaces the last block's output by the final norm's
    for row, norms in zip(ours, theirs, strict=True):
        assert row.mean_norm == pytest.approx(float(norms.mean()), abs=1e-5)
        assert row.last_norm == pytest.approx(float(norms[-1]), abs=1e-5)
        assert row.first_norm == pytest.approx(float(norms[0]), abs=1e-5)


def test_plot_writes_a_png(tmp_path):
    model = Transformer(preset("cpu-tiny")).eval()
    walk = BlockWalk(model="cpu-tiny", prompt="x", tokens=["x"], ids=[1], config=model.config.to_dict(),
                     residual=residual_norms(model, _ids(3)))
    path = plot_residual_norms(walk, str(tmp_path / "norms.png"))
    assert (tmp_path / "norms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path == tmp_path / "norms.png"
    assert plot_residual_norms(walk, str(tmp_path)) == tmp_path / "residual-cpu-tiny.png"  # a folder: named inside it


@pytest.mark.slow
def test_block_command_on_smollm2(capsys, tmp_path):
    assert main(["block", "--model", "smollm2-135m-instruct", "--prompt", "Hello my name is", "--json",
                 "--plot", str(tmp_path / "r.png")]) == 0
    walk = json.loads(capsys.readouterr().out)
    shapes = {step["name"]: step["shape"] for step in walk["steps"]}
    assert walk["ids"] == [19556, 957, 1462, 314]
    assert shapes["token embedding wte[ids]"] == [1, 4, 576]
    assert shapes["k split into heads"] == [1, 3, 4, 64]
    assert shapes["weights = softmax(q kᵀ / √hs, causal)"] == [1, 9, 4, 4]
    assert shapes["gate_proj(h)"] == [1, 4, 1536]
    assert walk["max_abs_diff_vs_block"] < 1e-4
    assert len(walk["residual"]) == 32  # embeddings, 30 blocks, final norm
    assert (tmp_path / "r.png").is_file()


def test_gemma3_walk_shows_its_extra_steps_and_equals_the_block():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    hf = Gemma3ForCausalLM(Gemma3TextConfig(
        vocab_size=65, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=32, sliding_window=4, query_pre_attn_scalar=12,
        layer_types=["sliding_attention", "full_attention"], bos_token_id=0, eos_token_id=1, pad_token_id=2)).eval()
    with torch.no_grad():
        for name, param in hf.named_parameters():
            if "norm" in name:
                param.uniform_(-0.5, 0.5)
    steps, difference = walk_first_block(from_hf_model(hf), _ids(9))  # 9 tokens > the window of 4
    names = [step.name for step in steps]
    for expected in ("× sqrt(C)", "q_norm(q) per head", "post_attn_norm", "gelu(gate) * up (GeGLU)", "post_mlp_norm",
                     "weights = softmax(q kᵀ / √hs, causal, window 4)"):
        assert expected in names
    assert difference < 1e-5
