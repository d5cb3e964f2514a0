"""The one model store: every face (CLI, every web tab, the API server) gets its models here.

    from llm_playground.store import models
    weights = models.get("smollm2-135m-instruct", "native", "fp32", loader=lambda: load_dir(...))

A model is held once per (model, engine, precision), loaded under a lock (two threads asking for
the same model wait for one load), and shared by whoever asks. When the weights held pass the
memory budget (`LLMPG_MEMORY_GB`, default: a third of this machine's memory), the least recently
used entries are let go. Memory is counted from the tensors an entry holds, each storage once, so
two engines that share one set of weights count it once.

The zoo (`zoo.load_tokenizer`, `zoo.load_hf_model`) and the generation backends
(`generation.backends.native_model`, `make_backend`) are thin doors onto this store; nothing else in
the library keeps a model.
"""
from llm_playground.store.store import HeldModel, ModelStore, default_budget_bytes, models, tensor_storages

__all__ = ["HeldModel", "ModelStore", "default_budget_bytes", "models", "tensor_storages"]
