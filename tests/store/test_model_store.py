"""The one model store: loads once under a lock, counts shared memory once, lets the least recently
used go past its budget, turns broken files into one-line errors; the zoo and every engine use it."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from llm_playground import store, zoo
from llm_playground.errors import AssetError, PlaygroundError
from llm_playground.store import ModelStore, default_budget_bytes

MB = 1_000_000


def tensor_of(megabytes: float) -> torch.Tensor:
    return torch.zeros(int(megabytes * MB) // 4)  # fp32


def test_a_model_loads_once_for_many_threads_at_once():
    models = ModelStore(budget_bytes=10 * MB)
    calls = []

    def loader():
        calls.append(threading.get_ident())
        time.sleep(0.2)  # every thread arrives while the first is still loading
        return tensor_of(1)

    results = []
    threads = [threading.Thread(target=lambda: results.append(models.get("m", "native", "fp32", loader)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 8
    assert all(result is results[0] for result in results)


def test_each_engine_and_precision_is_its_own_entry():
    models = ModelStore(budget_bytes=100 * MB)
    a = models.get("m", "native", "fp32", lambda: tensor_of(1))
    b = models.get("m", "fast", "int4", lambda: tensor_of(1))
    assert a is not b
    assert models.holds("m") and models.holds("m", "fast") and not models.holds("m", "transformers")
    assert [(row.engine, row.precision) for row in models.held()] == [("native", "fp32"), ("fast", "int4")]


def test_shared_storage_counts_once():
    """Two engines over one set of weights (views of the same storage) hold its memory once."""
    models = ModelStore(budget_bytes=100 * MB)
    weights = tensor_of(4)
    models.get("m", "native", "fp32", lambda: {"w": weights})
    models.get("m", "fast", "fp32", lambda: [weights[: weights.numel() // 2], weights.view(2, -1)])
    rows = models.held()
    assert rows[0].bytes == 4 * MB and rows[1].bytes == 0
    assert models.total_bytes() == 4 * MB


def test_least_recently_used_entries_go_past_the_budget():
    models = ModelStore(budget_bytes=int(2.5 * MB))
    models.get("a", "native", "fp32", lambda: tensor_of(1))
    models.get("b", "native", "fp32", lambda: tensor_of(1))
    models.get("a", "native", "fp32", lambda: pytest.fail("a is still held"))  # a is now the most recent
    models.get("c", "native", "fp32", lambda: tensor_of(1))  # 3 MB > 2.5 MB: b, the least recent, goes
    assert models.holds("a") and not models.holds("b") and models.holds("c")
    assert models.evictions == 1 and models.total_bytes() == 2 * MB
    reloaded = []
    models.get("b", "native", "fp32", lambda: reloaded.append(1) or tensor_of(1))  # comes back on demand
    assert reloaded == [1] and not models.holds("a")


def test_tokenizers_are_never_evicted_and_the_new_entry_stays():
    models = ModelStore(budget_bytes=MB)
    models.get("a", "tokenizer", "-", lambda: object(), extra_bytes=lambda _: 10)
    big = models.get("a", "native", "fp32", lambda: tensor_of(2))  # alone over budget: kept, it was asked for
    assert models.holds("a", "tokenizer") and models.holds("a", "native") and big.numel() == 2 * MB // 4


def test_broken_files_become_one_line_asset_errors():
    models = ModelStore()

    def broken():
        raise ValueError("Error while deserializing header: incomplete metadata\nsecond line")

    with pytest.raises(AssetError) as caught:
        models.get("folder", "native", "fp32", broken)
    assert str(caught.value).startswith("could not load folder (native, fp32): ValueError: Error while "
                                        "deserializing header: incomplete metadata;")
    assert "second line" not in str(caught.value)
    assert not models.holds("folder")

    def user_error():
        raise PlaygroundError("a message for the user")

    with pytest.raises(PlaygroundError, match="^a message for the user$"):
        models.get("x", "native", "fp32", user_error)


def test_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LLMPG_MEMORY_GB", "2.5")
    assert default_budget_bytes() == int(2.5 * 1024 ** 3)
    for bad in ("lots", "0", "-1"):
        monkeypatch.setenv("LLMPG_MEMORY_GB", bad)
        with pytest.raises(PlaygroundError, match="LLMPG_MEMORY_GB must be"):
            default_budget_bytes()
    monkeypatch.delenv("LLMPG_MEMORY_GB")
    assert default_budget_bytes() > 0


def test_the_status_line_names_models_and_memory():
    models = ModelStore(budget_bytes=1024 ** 3)
    assert models.status_line().startswith("no model loaded yet")
    models.get("smol", "native", "fp32", lambda: tensor_of(3))
    assert models.status_line() == "held: smol (native, fp32) 3 MB — 0.00 of 1.0 GiB budget (LLMPG_MEMORY_GB)"


def test_the_zoo_and_every_engine_share_one_store(tiny_chat_model, monkeypatch):
    """A model is loaded once whichever door asks: zoo, backends, next-token, attention."""
    from llm_playground.generation.backends import fast_weights, make_backend, native_model
    from llm_playground.inspection.attention_maps import zoo_attention_maps
    from llm_playground.inspection.next_token import next_token_table

    fresh = ModelStore()
    monkeypatch.setattr(store, "models", fresh)
    spec = zoo.resolve(tiny_chat_model)
    native = native_model(spec)
    assert native_model(tiny_chat_model) is native and fresh.holds(spec.name, "native")
    next_token_table(tiny_chat_model, "Hello", 3, backend="native")
    zoo_attention_maps(tiny_chat_model, "Hello world")
    make_backend(spec, "native")
    assert sorted(row.engine for row in fresh.held()) == ["native", "tokenizer"]  # no second copy anywhere
    assert zoo.load_tokenizer(spec) is zoo.load_tokenizer(tiny_chat_model)
    packed = fast_weights(spec, "int8")
    assert fast_weights(tiny_chat_model, "int8") is packed and fresh.holds(spec.name, "fast")
    assert zoo.is_loaded(tiny_chat_model)
