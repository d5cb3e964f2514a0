"""Our own readable decoder-only transformer (GPT-2 and Llama families), its KV cache and weight loaders.

    from llm_playground.models import load_native, preset, Transformer
    model = load_native("smollm2-135m-instruct")        # real weights from the zoo, eval mode
    logits, loss = model(idx)                           # (B, T, V), None
    model = Transformer(preset("cpu-tiny"))             # random init, for training
"""
from llm_playground.models.config import TransformerConfig, list_presets, preset
from llm_playground.models.kv_cache import KVCache
from llm_playground.models.loading import from_hf_model, from_hf_state_dict, load_dir, load_native
from llm_playground.models.transformer import Transformer

__all__ = [
    "KVCache", "Transformer", "TransformerConfig", "from_hf_model", "from_hf_state_dict", "list_presets",
    "load_dir", "load_native", "preset",
]
