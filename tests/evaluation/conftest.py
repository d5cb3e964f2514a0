"""A tiny random Llama saved as a local model folder with a real (small, trained) BPE tokenizer:
what `lm-eval` and our engines both load, so their numbers can be compared item by item."""
from __future__ import annotations

import json

import pytest

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


_FOLDERS: dict[bool, str] = {}


def _tiny_folder(add_bos: bool, tmp_path_factory, writer) -> str:
    """A 2-layer Llama (GQA 4/2 heads, width 64) with a byte-level BPE trained on the items' text."""
    if add_bos not in _FOLDERS:
        folder = tmp_path_factory.mktemp(f"tiny-llama-{'bos' if add_bos else 'nobos'}")
        writer(folder, corpus=CORPUS, add_bos=add_bos, hidden=64, intermediate=128, context=128, init_std=0.15)
        _FOLDERS[add_bos] = str(folder)
    return _FOLDERS[add_bos]


@pytest.fixture(scope="session", params=[False, True], ids=["no-bos", "bos"])
def tiny_model_folder(request, tmp_path_factory, tiny_model_writer):
    """Both tokenizer styles: none (SmolLM2-like) and a BOS in front (Llama/Gemma-like)."""
    return _tiny_folder(request.param, tmp_path_factory, tiny_model_writer)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, tiny_model_writer):
    """One tiny model folder (BOS-adding tokenizer) for tests that need any model."""
    return _tiny_folder(True, tmp_path_factory, tiny_model_writer)


@pytest.fixture(scope="session")
def items_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("items") / "items.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every evaluation test runs on one thread (tests/conftest.py: one_thread)."""
