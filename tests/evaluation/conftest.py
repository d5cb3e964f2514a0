"""A tiny random Llama saved as a local model folder with a real (small, trained) BPE tokenizer:
what `lm-eval` and our engines both load, so their numbers can be compared item by item."""
from __future__ import annotations

import json

import pytest
import torch

ITEMS = [
    {"question": "Question: What colour is the sky on a clear day?\nAnswer:", "choices": ["blue", "green", "red"], "label": 0},
    {"question": "Question: How many legs has a spider?\nAnswer:", "choices": ["six", "eight", "ten", "four"], "label": 1},
    {"question": "Question: Which is a fruit? ", "choices": ["carrot", "apple", "potato"], "label": 1},
    {"question": "", "choices": ["Paris is in France.", "Paris is in Peru."], "label": 0},
    {"question": "Le café est très chaud, n'est-ce pas?", "choices": ["oui, très", "non", "peut-être 🙂"], "label": 0},
    {"question": "Complete: the quick brown fox jumps over the lazy", "choices": ["dog", "cat", "dogs and cats"], "label": 0},
    {"question": "2 + 2 =", "choices": ["4", "5", "22"], "label": 0},
    {"question": "The opposite of hot is", "choices": ["cold", "warm", "very very hot indeed"], "label": 0},
]
CORPUS = " ".join(i["question"] + " " + " ".join(i["choices"]) for i in ITEMS) * 3 + " the a of and to in is it that"


def save_tiny_llama(folder, *, add_bos: bool, seed: int = 0, context: int = 128) -> None:
    """A 2-layer Llama (GQA 4/2 heads) and a 300-token byte-level BPE trained on the items' text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator([CORPUS], trainer)
    if add_bos:  # Llama / Gemma style: the tokenizer puts <s> in front of every encoding
        tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=context, tie_word_embeddings=True, bos_token_id=0, eos_token_id=1)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # larger weights than the default init, so choices get clearly different scores
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.normal_(0, 0.15)
    model.save_pretrained(folder)


_FOLDERS: dict[bool, str] = {}


def _tiny_folder(add_bos: bool, tmp_path_factory) -> str:
    if add_bos not in _FOLDERS:
        folder = tmp_path_factory.mktemp(f"tiny-llama-{'bos' if add_bos else 'nobos'}")
        save_tiny_llama(folder, add_bos=add_bos)
        _FOLDERS[add_bos] = str(folder)
    return _FOLDERS[add_bos]


@pytest.fixture(scope="session", params=[False, True], ids=["no-bos", "bos"])
def tiny_model_folder(request, tmp_path_factory):
    """Both tokenizer styles: none (SmolLM2-like) and a BOS in front (Llama/Gemma-like)."""
    return _tiny_folder(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """One tiny model folder (BOS-adding tokenizer) for tests that need any model."""
    return _tiny_folder(True, tmp_path_factory)


@pytest.fixture(scope="session")
def items_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("items") / "items.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every evaluation test runs on one thread (tests/conftest.py: one_thread)."""
