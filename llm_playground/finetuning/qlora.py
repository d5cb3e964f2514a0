"""QLoRA on CPU: the base model's block linear layers in 4-bit NF4 (bitsandbytes), adapters in fp32.

What was checked (tests/finetuning/test_qlora.py) with bitsandbytes 0.50 on this CPU:
- In training mode, `Linear4bit` dequantizes NF4 to fp32 and multiplies with `F.linear`; its
  backward multiplies by the same dequantized weight. LoRA gradients then equal, bit for bit, those
  of a plain fp32 model holding the dequantized weights.
- On a CPU with AVX512-BF16, a forward in eval mode whose input needs no gradient (generation, an
  evaluation pass) *repacks the weights in place* for a bf16 inference kernel (`gemv_4bit`). That
  kernel computes in bf16 (outputs off by ~0.4 %) and has no autograd formula: training after it
  silently loses the gradient through those layers (torch warns "autograd kernel was not
  registered"; LoRA weights below get None or wrong gradients).
So `load_4bit` turns that repacking off on every 4-bit layer: training and evaluation both take the
exact dequantize-then-matmul path, whose gradients are proved correct.
"""
from __future__ import annotations

from pathlib import Path


def quantization_config():
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.float32)


def exact_4bit_path(model) -> int:
    """Keep every bitsandbytes 4-bit layer on its exact, differentiable path; returns how many there are."""
    import bitsandbytes as bnb

    count = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False  # never repack for the bf16 inference kernel
            count += 1
    return count


def repacked_layers(model) -> int:
    """How many 4-bit layers were already repacked for the inference kernel (their gradients would be lost)."""
    import bitsandbytes as bnb

    return sum(1 for module in model.modules() if isinstance(module, bnb.nn.Linear4bit)
               and getattr(module.weight.quant_state, "packing_format_for_cpu", False))


def load_4bit(folder: Path):
    """The model in `folder` with its block linear layers in NF4 (double-quantized), fp32 elsewhere."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), quantization_config=quantization_config(),
                                                 dtype=torch.float32, device_map="cpu")
    exact_4bit_path(model)
    return model


def dequantized_copy(model_4bit, config):
    """A plain fp32 model whose linear weights are the 4-bit model's, dequantized (the reference)."""
    import bitsandbytes.functional as bnb_functional
    import torch
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = {}
    for name, module in model_4bit.named_modules():
        weight = getattr(module, "weight", None)
        if weight is not None and getattr(weight, "quant_state", None) is not None:
            state[name + ".weight"] = bnb_functional.dequantize_4bit(weight.data, weight.quant_state).float()
    quantized_state = model_4bit.state_dict()
    full = reference.state_dict()
    for key, value in full.items():
        full[key] = state[key] if key in state else quantized_state[key].float()
    reference.load_state_dict(full)
    return reference
