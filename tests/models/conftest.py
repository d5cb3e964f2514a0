"""Tiny random transformers models (Llama and GPT-2 families) shared by the tests of tests/models."""
from __future__ import annotations

import pytest
import torch
from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM)

from llm_playground.models import from_hf_model

VOCAB = 97


def tiny_llama(*, tie: bool = True, seed: int = 0, context: int = 64) -> LlamaForCausalLM:
    """3 layers, 4 query heads sharing 2 key/value heads, RoPE, RMSNorm, SwiGLU: SmolLM2's shape, tiny."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context,
                         tie_word_embeddings=tie, rms_norm_eps=1e-5, rope_theta=10000.0,
                         bos_token_id=0, eos_token_id=1, pad_token_id=None)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # random norm weights, so a wrong norm cannot hide behind weight == 1
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
    return model


def tiny_gpt2(*, activation: str = "gelu_new", seed: int = 0, context: int = 64) -> GPT2LMHeadModel:
    """3 layers, 4 heads, learned positions, LayerNorm with biases, GELU MLP, tied embeddings."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=context, n_embd=64, n_layer=3, n_head=4,
                        activation_function=activation, bos_token_id=0, eos_token_id=1)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial norms and biases (HF initialises them to 1 and 0)
        for name, param in model.named_parameters():
            if "ln_" in name or name.endswith("bias"):
                param.add_(torch.randn_like(param) * 0.1)
    return model


def tiny_gemma3(*, seed: int = 0, context: int = 64) -> Gemma3ForCausalLM:
    """4 layers (3 sliding with a window of 8, 1 full), 4 query heads on 1 key/value head of width 32,
    QK-norm, sandwich norms, GeGLU, scaled embeddings, two RoPE bases: Gemma-3's shape, tiny."""
    torch.manual_seed(seed)
    config = Gemma3TextConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                              max_position_embeddings=context, sliding_window=8, query_pre_attn_scalar=24,
                              layer_types=["sliding_attention"] * 3 + ["full_attention"],
                              bos_token_id=0, eos_token_id=1, pad_token_id=2)
    model = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():  # Gemma's norms scale by (1 + w) and start at w = 0: make them matter
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(-0.5, 0.5)
    return model


@pytest.fixture(scope="module")
def gemma3_pair():
    """(transformers Gemma3ForCausalLM, our Transformer with the same weights)."""
    hf = tiny_gemma3()
    return hf, from_hf_model(hf)


@pytest.fixture(scope="module")
def llama_pair():
    """(transformers LlamaForCausalLM, our Transformer with the same weights)."""
    hf = tiny_llama()
    return hf, from_hf_model(hf)


@pytest.fixture(scope="module")
def gpt2_pair():
    """(transformers GPT2LMHeadModel, our Transformer with the same weights)."""
    hf = tiny_gpt2()
    return hf, from_hf_model(hf)


@pytest.fixture
def make_llama():
    """The `tiny_llama` factory (for variants: untied head, other seeds, context lengths)."""
    return tiny_llama


@pytest.fixture
def make_gpt2():
    """The `tiny_gpt2` factory (for variants: exact GELU, other seeds, context lengths)."""
    return tiny_gpt2
