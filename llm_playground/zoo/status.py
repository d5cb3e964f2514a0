"""The state of every asset, for `llmpg models` and `llmpg doctor`: what is there, what to run if not."""
from __future__ import annotations

import importlib.metadata
import os
import platform

from llm_playground import runtime
from llm_playground.assets import corpora, tiktoken_vocab
from llm_playground.assets.packaged import ALL_PACKAGED, locate
from llm_playground.errors import AssetError
from llm_playground.zoo.prepare import cache_dir, cache_state
from llm_playground.zoo.registry import MODELS, ModelSpec, list_models

VERSIONED = ("torch", "transformers", "tokenizers", "tiktoken", "safetensors", "gguf", "accelerate", "gradio", "numpy",
             "sentence-transformers", "pymilvus", "milvus-lite", "pypdf")


def model_state(spec: ModelSpec) -> str:
    """"cached", "installed", "local", "random init (no files)", "not converted yet (…)", or the problem and its fix."""
    if spec.folder and spec.name not in MODELS:  # a local model (a merged fine-tune)
        from llm_playground.zoo import local

        return local.state(spec)
    if spec.kind == "architecture":
        return "random init (no files)"
    try:
        for item in spec.source:
            locate(item)
    except AssetError as error:
        return f"missing: {error}"
    if not spec.gguf_name:
        return "installed"
    state = cache_state(spec)
    if state == "not converted yet":
        return "installed, converted on first use (~30-90 s, once)"
    return state


def model_rows() -> list[dict]:
    """Every zoo model, then every local model (`llmpg finetune merge` makes them)."""
    from llm_playground.models.fast.shipped import weights_note
    from llm_playground.zoo import local

    return [{"name": s.name, "kind": s.kind, "label": s.label, "architecture": s.architecture,
             "parameters": s.parameters, "context_length": s.context_length, "licence": s.licence,
             "state": model_state(s), "description": s.description, "weights": weights_note(s)}
            for s in [*list_models(), *local.list_local()]]


def _rag_home():
    from llm_playground.rag.vectordb import rag_home

    return rag_home()


def doctor_report() -> dict:
    import torch

    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed (run: make setup)"
    packaged = {}
    for item in ALL_PACKAGED:
        try:
            packaged[item.name] = {"state": "installed", "path": str(locate(item))}
        except AssetError:
            packaged[item.name] = {"state": "missing", "fix": item.install_command}
    corpus = {}
    for name in corpora.CORPORA:
        try:
            corpus[name] = {"state": "ready", "path": str(corpora.corpus_path(name))}
        except AssetError as error:
            corpus[name] = {"state": "missing", "fix": str(error)}
    return {
        "python": platform.python_version(),
        "versions": versions,
        "threads": {"torch": torch.get_num_threads(), "usable_cores": runtime.usable_cores(),
                    "override": "LLMPG_THREADS"},
        "offline": {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", ""), "online_opt_in": runtime.online()},
        "paths": {"LLMPG_HOME": str(runtime.home()), "TIKTOKEN_CACHE_DIR": str(tiktoken_vocab.cache_dir()),
                  "models": str(runtime.home() / "models"), "rag": str(_rag_home())},
        "models": {s.name: {"state": model_state(s), "cache": str(cache_dir(s)) if s.gguf_name else None}
                   for s in list_models()},
        "packages": packaged,
        "tokenizer_vocabularies": tiktoken_vocab.vocabulary_states(),
        "corpora": corpus,
        "memory": memory_report(),
        "fast_kernels": _fast_kernels(),
    }


def _fast_kernels() -> dict:
    from llm_playground.models.fast.kernels import kernels_summary

    return kernels_summary()


def memory_report() -> dict:
    """What the model store holds (each entry's own memory), its budget, and the process's RSS."""
    from llm_playground import store
    from llm_playground.store.usage import process_memory_bytes

    return {"held": [row.to_dict() for row in store.models.held()], "held_bytes": store.models.total_bytes(),
            "budget_bytes": store.models.budget_bytes, "evictions": store.models.evictions,
            "rss_bytes": process_memory_bytes()}
