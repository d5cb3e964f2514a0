"""The fast decoder: weight formats, the C kernels against plain torch, and the whole step against
our readable transformer (tiny random Llama, and SmolLM2 when the zoo has it)."""
import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.models import from_hf_model
from llm_playground.models.fast import FastDecoder, dequantize, kernels, pack
from llm_playground.models.fast.weights import from_transformer

needs_kernels = pytest.mark.skipif(kernels.load_library() is None, reason=kernels.library_status())


# --- formats --------------------------------------------------------------------------------
def test_formats_round_trip_within_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(37, 96) * torch.linspace(0.1, 3, 96)  # columns of very different scales
    assert torch.equal(dequantize(pack(w, "fp32")), w)
    assert torch.equal(dequantize(pack(w, "bf16")), w.to(torch.bfloat16).float())
    int8 = pack(w, "int8")
    step = int8.scale.repeat_interleave(32, dim=1)  # (N, K): the scale of each weight's group
    assert int8.data.dtype == torch.int8 and int8.data.abs().max() == 127
    assert ((dequantize(int8) - w).abs() <= step / 2 + 1e-6).all()
    int4 = pack(w, "int4")
    assert int4.data.shape == (37, 48) and int4.data.dtype == torch.uint8  # two weights per byte
    assert ((dequantize(int4) - w).abs() <= int4.scale.repeat_interleave(32, dim=1) / 2 + 1e-6).all()
    assert [pack(w, p).nbytes for p in ("fp32", "bf16", "int8", "int4")] == [37 * 96 * 4, 37 * 96 * 2,
                                                                          37 * 96 + 37 * 3 * 4, 37 * 48 + 37 * 3 * 8]


def test_int4_recovers_weights_that_are_already_on_a_4_bit_grid():
    """SmolLM2's zoo weights came from a Q4_1 GGUF: scale · q + minimum per group of 32, q in 0…15."""
    torch.manual_seed(1)
    q = torch.randint(0, 16, (8, 4, 32))
    q[..., 0], q[..., 1] = 0, 15  # every group uses the whole range, as the quantizer that made them did
    scale, minimum = torch.rand(8, 4, 1) * 0.1, torch.randn(8, 4, 1)
    w = (q * scale + minimum).reshape(8, 128)
    torch.testing.assert_close(dequantize(pack(w, "int4")), w, rtol=0, atol=1e-6)


def test_pack_rejects_widths_the_kernels_cannot_step_through():
    with pytest.raises(ValueError, match="multiples of 32"):
        pack(torch.zeros(4, 48), "int8")
    with pytest.raises(ValueError, match="unknown precision"):
        pack(torch.zeros(4, 32), "int3")


# --- the C kernels: tests/models/test_fast_kernels.py (every instruction-set path) ---------------


# --- the whole step -------------------------------------------------------------------------
def tiny_llama(seed: int = 0):
    """A 3-layer Llama (4 query heads sharing 2 key/value heads), random norms: SmolLM2's shape, tiny."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def tiny():
    return from_hf_model(tiny_llama()).eval()


def _prefill_then_decode(decoder, ids, split):
    """Logits (len(ids), V): the first `split` tokens at once, then one token per call."""
    decoder.reset(len(ids))
    rows = [decoder.forward(ids[:split], all_logits=True)]
    rows += [decoder.forward([token])[None] for token in ids[split:]]
    assert decoder.position == len(ids)
    return torch.cat(rows)


@pytest.mark.parametrize("use_kernels", [True, False])
def test_fp32_decoder_equals_the_readable_model(tiny, use_kernels):
    if use_kernels and kernels.load_library() is None:
        pytest.skip(kernels.library_status())
    ids = torch.randint(0, tiny.config.vocab_size, (12,), generator=torch.Generator().manual_seed(3)).tolist()
    with torch.no_grad():
        expected, _ = tiny(torch.tensor([ids]))
    decoder = FastDecoder.from_transformer(tiny, "fp32", use_kernels=use_kernels, chunk=3)  # prefill in chunks
    assert decoder.uses_kernels == use_kernels
    torch.testing.assert_close(_prefill_then_decode(decoder, ids, split=7), expected[0], rtol=1e-4, atol=1e-4)


@needs_kernels
@pytest.mark.parametrize("precision", ["bf16", "int8", "int4"])
def test_c_step_equals_plain_torch_step_in_every_precision(tiny, precision):
    weights = from_transformer(tiny, precision)
    ids = list(range(2, 12))
    fast = _prefill_then_decode(FastDecoder(weights), ids, split=6)
    plain = _prefill_then_decode(FastDecoder(weights, use_kernels=False), ids, split=6)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)
    if precision == "int4":  # the output head keeps 8 bits (llama.cpp keeps its output matrix wider too)
        assert weights.head.precision == "int8" and weights.layers[0].qkv.precision == "int4"


def test_decoder_errors_say_what_to_do(tiny):
    from llm_playground.models import Transformer, preset

    with pytest.raises(PlaygroundError, match="intermediate_size to be a multiple of 32"):
        FastDecoder.from_transformer(Transformer(preset("gpt2").replace(n_layer=1, n_embd=64, n_head=2, n_kv_head=2,
                                                                        intermediate_size=100)))
    decoder = FastDecoder.from_transformer(tiny)
    decoder.reset(4)
    with pytest.raises(PlaygroundError, match="KV cache holds 4"):
        decoder.forward([1, 2, 3, 4, 5])
    with pytest.raises(PlaygroundError, match="token ids"):
        decoder.forward([tiny.config.vocab_size])
    with pytest.raises(PlaygroundError, match="context"):
        decoder.reset(tiny.config.block_size + 1)
    with pytest.raises(PlaygroundError, match="unknown precision"):
        FastDecoder.from_transformer(tiny, "fp8")


@pytest.mark.slow
def test_smollm2_fast_fp32_equals_the_readable_model():
    from llm_playground.models import load_native

    model = load_native("smollm2-135m-instruct")
    ids = [1, 504, 3575, 282, 4649, 314, 7042, 30, 378, 3575, 282, 4649, 314]
    with torch.no_grad():
        expected, _ = model(torch.tensor([ids]))
    decoder = FastDecoder.from_transformer(model, "fp32")
    torch.testing.assert_close(_prefill_then_decode(decoder, ids, split=9), expected[0], rtol=1e-4, atol=1e-4)


@needs_kernels
def test_compiled_library_is_written_atomically_into_the_cache(tmp_path):
    target = tmp_path / "kernels" / "llmpg_decode_test.so"
    kernels._compile(target)
    assert target.is_file() and target.stat().st_size > 0
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary files left behind


def test_without_the_compiled_library_the_decoder_warns_and_runs_plain_torch(tiny, monkeypatch):
    monkeypatch.setattr(kernels, "load_library", lambda: None)
    monkeypatch.setattr(kernels, "_status", "this CPU has no AVX-512")
    with pytest.warns(RuntimeWarning, match="no AVX-512.*plain-torch"):
        decoder = FastDecoder.from_transformer(tiny, "int4")
    assert not decoder.uses_kernels and "plain torch" in decoder.engine
    decoder.reset(8)
    assert decoder.forward([1, 2, 3]).shape == (tiny.config.vocab_size,)


@pytest.mark.parametrize("use_kernels", [True, False])
def test_batched_steps_equal_one_sequence_at_a_time(tiny, use_kernels):
    if use_kernels and kernels.load_library() is None:
        pytest.skip(kernels.library_status())
    weights = from_transformer(tiny, "int4")
    prompts = [[3, 4, 5], [7], [9, 10, 11, 12, 13], [20, 21], [30, 31, 32]]  # 5 rows: the 4 × 4 tiles and an edge
    batch = FastDecoder(weights, use_kernels=use_kernels)
    batch.reset(16, sequences=len(prompts))
    first = torch.stack([batch.forward(p, sequence=b) for b, p in enumerate(prompts)])
    tokens = first.argmax(-1)
    steps = [batch.step_batch(tokens), batch.step_batch(tokens + 1)]
    assert batch.positions == [len(p) + 2 for p in prompts]
    for b, prompt in enumerate(prompts):
        alone = FastDecoder(weights, use_kernels=use_kernels)
        alone.reset(16)
        torch.testing.assert_close(alone.forward(prompt), first[b])
        for step, token in zip(steps, (tokens[b], tokens[b] + 1)):
            torch.testing.assert_close(alone.forward([int(token)]), step[b], rtol=1e-4, atol=1e-4)
    with pytest.raises(PlaygroundError, match="one token per sequence"):
        batch.step_batch([1, 2])
