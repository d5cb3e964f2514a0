"""Backends: what turns token ids into next-token logits, behind one small interface.

    backend.start(prompt_ids)  -> logits (V,) for the token after the prompt   (prefill)
    backend.step(token_id)     -> logits (V,) for the token after that one     (one decode step)

`native` is our readable transformer (`llm_playground.models`) with its static KV cache;
`hf` is the transformers model with its own cache; `fast` is our fast decoder
(`llm_playground.models.fast`: Llama, Gemma-3 and GPT-2 families) in fp32, and `fast-bf16`, `fast-int8`, `fast-int4`
the same decoder with reduced-precision weights (faster, outputs drift: see `llmpg bench generate`).
All return fp32 logits on the CPU.
"""
from __future__ import annotations

from typing import Literal, Protocol

import torch

from llm_playground import store
from llm_playground.errors import PlaygroundError

BackendName = Literal["native", "hf", "fast", "fast-bf16", "fast-int8", "fast-int4"]
FAST_PRECISIONS = {"fast": "fp32", "fast-bf16": "bf16", "fast-int8": "int8", "fast-int4": "int4"}
"""Fast backend name → weight precision of its FastDecoder."""
BACKENDS = ("native", "hf", *FAST_PRECISIONS)


class Backend(Protocol):
    name: str
    context_length: int

    def start(self, prompt_ids: list[int], max_new_tokens: int) -> torch.Tensor: ...

    def step(self, token_id: int) -> torch.Tensor: ...

    def beam_step_fn(self, num_beams: int, max_length: int): ...


class HFBackend:
    """transformers' model, one token at a time through its DynamicCache."""

    name = "hf"

    def __init__(self, model) -> None:
        self.model = model
        self.context_length = getattr(model.config, "max_position_embeddings", None) or model.config.n_positions
        self._cache = None

    @torch.inference_mode()
    def start(self, prompt_ids: list[int], max_new_tokens: int) -> torch.Tensor:
        from transformers import DynamicCache

        self._cache = DynamicCache(config=self.model.config)
        return self._forward(torch.tensor([prompt_ids]))

    @torch.inference_mode()
    def step(self, token_id: int) -> torch.Tensor:
        return self._forward(torch.tensor([[token_id]]))

    def beam_step_fn(self, num_beams: int, max_length: int):
        """The step function beam search drives (see generation/beam.py), over transformers' cache."""
        from llm_playground.generation.beam import hf_model_step_fn

        return hf_model_step_fn(self.model)

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids, past_key_values=self._cache, use_cache=True, logits_to_keep=1)
        self._cache = out.past_key_values
        return out.logits[0, -1].float()  # (V,)


class NativeBackend:
    """Our transformer with a pre-allocated KV cache sized for prompt + new tokens."""

    name = "native"

    def __init__(self, model) -> None:
        self.model = model
        self.context_length = model.config.block_size
        self._cache = None

    @torch.inference_mode()
    def start(self, prompt_ids: list[int], max_new_tokens: int) -> torch.Tensor:
        length = min(len(prompt_ids) + max_new_tokens, self.context_length)
        self._cache = self.model.new_cache(batch_size=1, max_length=length)
        return self._forward(torch.tensor([prompt_ids]))

    @torch.inference_mode()
    def step(self, token_id: int) -> torch.Tensor:
        return self._forward(torch.tensor([[token_id]]))

    def beam_step_fn(self, num_beams: int, max_length: int):
        """The step function beam search drives: one cache row per beam, reordered each step."""
        model = self.model
        cache = None

        @torch.inference_mode()
        def step(new_ids: torch.Tensor, parent_rows: torch.Tensor | None) -> torch.Tensor:
            nonlocal cache
            if parent_rows is None:  # the prompt, computed once, then copied into every beam's cache row
                length = min(max_length, self.context_length)
                prompt_cache = model.new_cache(batch_size=1, max_length=new_ids.shape[1])
                logits, _ = model(new_ids, cache=prompt_cache, last_only=True)
                cache = model.new_cache(batch_size=num_beams, max_length=length)
                filled = slice(0, prompt_cache.length)
                cache.keys[:, :, :, filled] = prompt_cache.keys[:, :, :, filled]  # broadcast over the beam rows
                cache.values[:, :, :, filled] = prompt_cache.values[:, :, :, filled]
                cache.advance(prompt_cache.length)
                return logits[:1, -1].float()  # (1, V)
            cache.reorder(parent_rows)
            logits, _ = model(new_ids, cache=cache, last_only=True)
            return logits[:, -1].float()  # (num_beams, V)

        return step

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        logits, _ = self.model(ids, cache=self._cache, last_only=True)
        return logits[0, -1].float()  # (V,)


class FastBackend:
    """Our fast decoder (`models.fast.FastDecoder`): one C call per token, static cache, batch 1."""

    def __init__(self, decoder, name: str = "fast") -> None:
        self.decoder = decoder
        self.name = name
        self.context_length = decoder.config.block_size

    def start(self, prompt_ids: list[int], max_new_tokens: int) -> torch.Tensor:
        self.decoder.reset(min(len(prompt_ids) + max_new_tokens, self.context_length))
        return self.decoder.forward(prompt_ids)  # (V,)

    def step(self, token_id: int) -> torch.Tensor:
        return self.decoder.forward([token_id])  # (V,)

    def beam_step_fn(self, num_beams: int, max_length: int):
        raise PlaygroundError("the fast engine decodes one sequence at a time; run beam search with "
                              "--backend native or hf")


def native_supported(architecture: str) -> bool:
    """The native engine implements the GPT-2, Llama and Gemma-3 (text) families."""
    return architecture in ("llama", "gpt2", "gemma3_text")


def fast_supported(architecture: str) -> bool:
    """The fast engine implements every family the native engine does (`models.fast.weights`)."""
    return native_supported(architecture)


def native_model(model_name: str):
    """Our engine with a model's weights, held once by the model store (0.4 s for SmolLM2 from the
    cache: safetensors straight into our modules, no transformers model in between)."""
    from llm_playground import zoo
    from llm_playground.models.loading import load_native

    spec = zoo.resolve(model_name)

    def load():
        model = load_native(spec.folder or spec.name).eval()
        model.config.name = spec.name
        return model

    return store.models.get(spec.name, "native", "fp32", load)


def fast_weights(model_name: str, precision: str):
    """The fast decoder's packed weights in `precision`, held once by the model store (each backend
    made from them gets its own KV cache)."""
    from llm_playground import zoo
    from llm_playground.models.fast import from_transformer

    spec = zoo.resolve(model_name)
    return store.models.get(spec.name, "fast", precision, lambda: from_transformer(native_model(spec.name), precision))


def make_backend(model_name: str, backend: BackendName = "native") -> Backend:
    """A backend for a zoo model (or folder). The native and fast engines cover GPT-2, Llama and
    Gemma-3; for other architectures ask for `hf`."""
    from llm_playground import zoo

    if backend not in BACKENDS:
        raise PlaygroundError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    spec = zoo.resolve(model_name)
    if not spec.generates:
        raise PlaygroundError(f"{spec.name} is an encoder: it does not generate text; "
                              "pick a chat or base model (llmpg models)")
    if backend == "hf":
        return HFBackend(zoo.load_hf_model(model_name))
    if not native_supported(spec.architecture):
        raise PlaygroundError(f"the native engine does not implement {spec.architecture} "
                              f"({spec.name}); use --backend hf")
    if backend in FAST_PRECISIONS:
        from llm_playground.models.fast import FastDecoder

        return FastBackend(FastDecoder(fast_weights(spec.name, FAST_PRECISIONS[backend])), backend)
    return NativeBackend(native_model(spec.name))
