"""The precision each zoo model ships in, and whether our weight formats hold it without loss.

The zoo's decoders come as 4-bit GGUF files. Our `int4` format (groups of 32 weights, an fp32
scale and minimum each; see kernels.py) is GGUF's Q4_1 block with wider scales, and our `int8`
is Q8_0's; `pack` recovers the fp16 scales of such blocks from the dequantized weights, so a
Q4_1 file (with its Q8_0 output matrix) is held bit for bit: the test in
tests/models/test_fast_shipped.py compares our dequantized int4/int8 with the `gguf` package's
dequantization of the shipped file, tensor by tensor.

Q4_K_M (Gemma-3) is not held losslessly yet: Q4_K's super-blocks of 256 (6-bit scales and
minimums per 32) do map onto our groups exactly, but only when read from the file itself (a
dequantized weight does not reveal the block's scales), and its Q6_K tensors have a scale per 16
weights, which our int8 groups of 32 cannot hold. Such models default to fp32.
"""
from __future__ import annotations

import re

LOSSLESS_GGUF_TYPES = {"Q4_1": "int4", "Q8_0": "int8"}
"""GGUF file types (the blocks of its matrices) whose weights a precision of ours holds bit for bit."""


def gguf_type(gguf_name: str) -> str:
    """The quantization named in a GGUF file name ("SmolLM2-135M-Instruct.Q4_1.gguf" → "Q4_1"), or ""."""
    match = re.search(r"[._-](q\d+_(?:k_[sml]|k|\d)|f16|f32|bf16)[._-]", gguf_name.lower())
    return match.group(1).upper() if match else ""


def shipped_precision(spec) -> str | None:
    """Our precision that holds `spec`'s shipped weights losslessly, or None (not GGUF-shipped, or
    a file type our formats do not reproduce exactly)."""
    return LOSSLESS_GGUF_TYPES.get(gguf_type(getattr(spec, "gguf_name", "") or ""))


def weights_note(spec) -> str:
    """One line for `llmpg models` and the page: what the default engine multiplies by."""
    kind = gguf_type(getattr(spec, "gguf_name", "") or "")
    precision = shipped_precision(spec)
    if precision == "int4":
        return "weights: 4-bit as shipped, lossless"
    if precision:
        return f"weights: {precision} as shipped, lossless"
    if kind:
        return f"weights: fp32 (dequantized from the shipped {kind} GGUF)"
    return "weights: as stored (fp32)"


def backend_weights_note(model_name: str, backend: str) -> str:
    """The weights line for a finished generation: "weights: 4-bit as shipped, lossless" when the
    int4 engine ran a model shipped in Q4_1; "" for other engines and for models we cannot resolve."""
    from llm_playground import zoo

    try:
        spec = zoo.resolve(model_name)
    except Exception:  # a folder or a name the zoo does not know: nothing to say
        return ""
    precision = shipped_precision(spec)
    return weights_note(spec) if precision and backend == f"fast-{precision}" else ""
