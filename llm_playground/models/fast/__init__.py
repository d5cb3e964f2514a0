"""A fast decoder for every family of the readable `Transformer` (Llama, Gemma-3, GPT-2), next to it.

    from llm_playground.models.fast import FastDecoder
    decoder = FastDecoder.from_transformer(load_native("smollm2-135m-instruct"), precision="int8")

`kernels.py` defines the weight formats (fp32, bf16, int8, int4) and loads the compiled C step
(`_decode.c`); `reference.py` is the same step in plain torch; `engine.py` drives it.
"""
from llm_playground.models.fast.engine import FastDecoder
from llm_playground.models.fast.kernels import PRECISIONS, dequantize, library_status, load_library, pack
from llm_playground.models.fast.weights import FastWeights, check_supported, from_transformer

__all__ = ["FastDecoder", "FastWeights", "PRECISIONS", "check_supported", "dequantize", "from_transformer",
           "library_status", "load_library", "pack"]
