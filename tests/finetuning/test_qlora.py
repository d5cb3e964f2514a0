"""QLoRA on CPU: bitsandbytes' 4-bit layers give the exact LoRA gradients of a dequantized fp32 model
in training mode — and lose them after an inference-mode forward unless that repacking is turned off."""
from __future__ import annotations

import copy

import pytest
import torch

bnb = pytest.importorskip("bitsandbytes")


def lora_gradients(model, ids):
    model.train()
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    return {n: (p.grad.clone() if p.grad is not None else None) for n, p in model.named_parameters() if p.requires_grad}


def adapted_pair(folder):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig

    from llm_playground.finetuning.qlora import dequantized_copy, load_4bit

    quantized = load_4bit(folder)
    reference = dequantized_copy(quantized, AutoConfig.from_pretrained(folder))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0,
                        init_lora_weights=False)  # B ≠ 0, so every adapter has a gradient
    torch.manual_seed(1)
    quantized = get_peft_model(quantized, config)
    torch.manual_seed(1)
    reference = get_peft_model(reference, copy.deepcopy(config))
    return quantized, reference


def test_4bit_lora_gradients_equal_the_dequantized_reference(tiny_chat):
    quantized, reference = adapted_pair(tiny_chat)
    ids = torch.randint(0, 300, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # an evaluation pass first: our loader keeps the exact path even then
        quantized.eval()
        quantized(input_ids=ids)
    got, want = lora_gradients(quantized, ids), lora_gradients(reference, ids)
    assert len(got) == 2 * 3 * 2  # 2 blocks × 3 modules × (A, B)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-7)


def test_without_our_guard_an_inference_pass_breaks_the_gradients(tmp_path):
    """What bitsandbytes does by default on an AVX512-BF16 CPU (why load_4bit turns it off)."""
    from tiny import make_tiny_llama

    from llm_playground.finetuning.qlora import repacked_layers

    quantized, reference = adapted_pair(make_tiny_llama(tmp_path / "wide", hidden=64))  # its kernel wants ≥ 32 rows
    layers = [m for m in quantized.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = True  # bitsandbytes' default where the CPU has AVX512-BF16
    if not layers[0].support_avx512bf16_for_cpu or not _has_avx512_bf16():
        pytest.skip("this CPU has no AVX512-BF16: bitsandbytes never repacks here")
    ids = torch.randint(0, 300, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        quantized.eval()
        quantized(input_ids=ids)
    assert repacked_layers(quantized) == len(layers)
    with pytest.warns(UserWarning, match="autograd kernel was not registered"):
        got = lora_gradients(quantized, ids)
    want = lora_gradients(reference, ids)
    assert any(got[n] is None or not torch.allclose(got[n], want[n], rtol=1e-3, atol=1e-6) for n in want)


def _has_avx512_bf16() -> bool:
    try:
        return "avx512_bf16" in open("/proc/cpuinfo").read()
    except OSError:
        return False


def test_qlora_sft_trains_and_merges_into_the_fp32_base(tmp_path, home):
    from tiny import make_tiny_llama

    from llm_playground.finetuning.config import FinetuneConfig
    from llm_playground.finetuning.merge import merge
    from llm_playground.finetuning.train import train_sft

    model = make_tiny_llama(tmp_path / "wide", hidden=64)
    config = FinetuneConfig(model=str(model), out=str(tmp_path / "run"), method="qlora", steps=3, batch_size=4,
                            save_every=3, train_examples=24, eval_examples=4, layers="all", r=4, lr=1e-2)
    result = train_sft(config, progress=False, log=lambda line: None)
    assert len(result.step_losses) == 3 and all(loss > 0 for _, loss in result.step_losses)
    merged = merge(tmp_path / "run", name="tiny-qlora")
    assert merged.max_logit_difference <= 1e-4
