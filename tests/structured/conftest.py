"""A tiny byte-level BPE tokenizer (about 300 tokens, trained here in milliseconds) and a tiny random
Llama over its vocabulary: every test of constrained decoding that needs no real model uses them."""
from __future__ import annotations

import json

import pytest
import torch

TINY_VOCAB = 320
EOS = 0

CORPUS = [
    '{"name": "Alice Smith", "age": 29, "city": "London"}',
    '{"name": "Bob", "age": 41, "city": "Paris", "tags": ["a", "b"], "ok": true, "score": -3.5e2}',
    '[1, 2, 3] {"x": null, "y": false} 555-0199 123-4567 positive negative neutral yes no maybe',
    "The quick brown fox jumps over the lazy dog. 0123456789 " * 3,
]


def train_tiny_tokenizer(vocab_size: int = TINY_VOCAB):
    """A transformers fast tokenizer: byte-level BPE, <eos> = id 0, trained on CORPUS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<eos>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>")


@pytest.fixture(scope="session")
def tiny_tokenizer():
    tokenizer = train_tiny_tokenizer()
    assert tokenizer.eos_token_id == EOS
    return tokenizer


def token_bytes(tokenizer) -> list[bytes]:
    """The bytes of every token id (byte-level BPE: map each character back to its byte)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
    table = []
    for token_id in range(len(tokenizer)):
        piece = tokenizer.convert_ids_to_tokens(token_id)
        if token_id in tokenizer.all_special_ids:
            table.append(b"")
        else:
            table.append(bytes(byte_of[c] for c in piece))
    return table


@pytest.fixture(scope="session")
def tiny_llama_backend(tiny_tokenizer):
    """Our native engine over a random 2-layer Llama with the tiny tokenizer's vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm_playground.generation.backends import NativeBackend
    from llm_playground.models import from_hf_model

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=EOS, eos_token_id=EOS, pad_token_id=None, tie_word_embeddings=True)
    model = from_hf_model(LlamaForCausalLM(config).eval()).eval()
    return NativeBackend(model)


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
