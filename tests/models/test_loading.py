"""Loading Hugging Face weights: name mapping, shape checks with clear errors, folders on disk, configs."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_model
from torch.testing import assert_close

from llm_playground.errors import PlaygroundError, UnknownNameError
from llm_playground.models import TransformerConfig, from_hf_model, from_hf_state_dict, load_dir, preset


def _ids(length: int = 11) -> torch.Tensor:
    return torch.randint(0, 97, (1, length), generator=torch.Generator().manual_seed(5))


def test_shape_mismatch_names_the_first_mismatching_tensor(llama_pair):
    hf, _ = llama_pair
    state = dict(hf.state_dict())
    state["model.layers.1.mlp.up_proj.weight"] = torch.zeros(95, 64)   # wrong, in layer 1
    state["model.layers.2.self_attn.k_proj.weight"] = torch.zeros(8, 64)  # also wrong, later
    config = TransformerConfig.from_hf(hf.config)
    with pytest.raises(PlaygroundError, match=r"'model\.layers\.1\.mlp\.up_proj\.weight' has shape \(95, 64\) "
                                              r"but the config expects \(96, 64\)"):
        from_hf_state_dict(config, state)


def test_config_that_does_not_match_the_weights_names_the_embedding(gpt2_pair):
    hf, _ = gpt2_pair
    wider = TransformerConfig.from_hf(hf.config).replace(n_embd=128)
    with pytest.raises(PlaygroundError, match=r"'transformer\.wte\.weight' has shape \(97, 64\)"):
        from_hf_state_dict(wider, hf.state_dict())


def test_missing_and_leftover_tensors_are_named(llama_pair):
    hf, _ = llama_pair
    config = TransformerConfig.from_hf(hf.config)
    state = dict(hf.state_dict())
    del state["model.layers.0.post_attention_layernorm.weight"]
    with pytest.raises(PlaygroundError, match=r"no tensor 'model\.layers\.0\.post_attention_layernorm\.weight'"):
        from_hf_state_dict(config, state)
    with pytest.raises(PlaygroundError, match=r"'model\.layers\.2\.self_attn\.q_proj\.weight' that the config has no "
                                              r"place for \(9 such tensors\)"):
        from_hf_state_dict(config.replace(n_layer=2), hf.state_dict())


def test_gpt2_conv1d_weights_are_transposed_and_split(gpt2_pair):
    hf, ours = gpt2_pair
    c_attn = hf.transformer.h[0].attn.c_attn.weight  # (C, 3C), Conv1D stores (in, out)
    assert torch.equal(ours.blocks[0].attn.k_proj.weight, c_attn[:, 64:128].t())
    assert torch.equal(ours.blocks[0].attn.v_proj.bias, hf.transformer.h[0].attn.c_attn.bias[128:])
    assert torch.equal(ours.blocks[2].mlp.down_proj.weight, hf.transformer.h[2].mlp.c_proj.weight.t())


def test_gpt2_model_without_head_prefix_loads(gpt2_pair):
    hf, ours = gpt2_pair
    bare = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    model = from_hf_state_dict(TransformerConfig.from_hf(hf.config), bare)
    with torch.inference_mode():
        assert torch.equal(model(_ids())[0], ours(_ids())[0])


def test_folder_with_only_the_tied_head_loads_and_matches(llama_pair, tmp_path):
    """safetensors' save_model keeps one name of a shared tensor (the zoo's SmolLM2 keeps lm_head.weight)."""
    hf, _ = llama_pair
    save_model(hf, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(hf.config.to_dict()))
    model = load_dir(tmp_path)
    assert model.config.name == tmp_path.name
    assert model.lm_head.weight is model.wte.weight
    assert not model.training
    with torch.inference_mode():
        assert_close(model(_ids())[0], hf(_ids()).logits, atol=1e-4, rtol=0)


def test_folder_without_weights_is_an_asset_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PlaygroundError, match="model.safetensors is missing"):
        load_dir(tmp_path)


def test_loaded_bf16_model_runs():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    hf = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16,
                                      bos_token_id=0, eos_token_id=1)).eval()
    model = from_hf_model(hf, dtype=torch.bfloat16)
    assert model.wte.weight.dtype == torch.bfloat16
    with torch.inference_mode():
        logits, _ = model(_ids(8))
    assert logits.dtype == torch.bfloat16
    assert_close(logits.float(), hf(_ids(8)).logits, atol=0.05, rtol=0.05)


# --- configs --------------------------------------------------------------------------------

def test_config_from_hf_reads_llama_and_gpt2(llama_pair, gpt2_pair):
    llama = TransformerConfig.from_hf(llama_pair[0].config)
    assert (llama.family, llama.n_kv_head, llama.head_dim, llama.intermediate_size, llama.tie_embeddings) == \
        ("llama", 2, 16, 96, True)
    gpt2 = TransformerConfig.from_hf(gpt2_pair[0].config.to_dict())  # the config.json form works too
    assert (gpt2.family, gpt2.n_kv_head, gpt2.intermediate_size, gpt2.gelu_approximate, gpt2.bias) == \
        ("gpt2", 4, 256, "tanh", True)


def test_config_from_hf_refuses_other_architectures():
    with pytest.raises(PlaygroundError, match="not 'bert'; use --backend hf"):
        TransformerConfig.from_hf({"model_type": "bert"})
    with pytest.raises(PlaygroundError, match="RoPE scaling 'llama3' is not supported"):
        TransformerConfig.from_hf({"model_type": "llama", "rope_parameters": {"rope_type": "llama3"}})


def test_config_json_round_trip_and_presets():
    config = preset("smollm2-135m")
    again = TransformerConfig.from_dict(json.loads(config.to_json()))
    assert again == config
    assert preset("cpu-tiny", vocab_size=96).vocab_size == 96
    with pytest.raises(UnknownNameError, match="unknown model preset 'gpt5'; known: cpu-small, cpu-tiny, gpt2"):
        preset("gpt5")
    with pytest.raises(UnknownNameError, match="unknown TransformerConfig field 'n_heads'"):
        TransformerConfig.from_dict({"n_heads": 4})


@pytest.mark.parametrize("changes, message", [
    ({"n_head": 12, "n_kv_head": 5}, "n_kv_head=5 must divide n_head=12"),
    ({"norm": "batchnorm"}, "norm must be one of layernorm, rmsnorm"),
    ({"n_layer": 0}, "n_layer must be a positive integer"),
    ({"positions": "rope", "head_dim": 63}, "head_dim must be even"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
])
def test_config_validation_names_the_field(changes, message):
    with pytest.raises(PlaygroundError, match=message):
        TransformerConfig(**changes)
