"""The compiled kernels on every instruction-set path this CPU runs (avx512, avx2, portable), each
against the plain-torch definition of its weight format; choosing and forcing a path."""
import pytest
import torch

from llm_playground.models.fast import dequantize, kernels, pack

RUNNABLE = kernels.supported_isas() if kernels.load_library("portable") is not None else []
paths = pytest.mark.parametrize("isa", RUNNABLE or [pytest.param("portable", marks=pytest.mark.skip(
    reason=kernels.library_status()))])


@paths
@pytest.mark.parametrize("precision", kernels.PRECISIONS)
@pytest.mark.parametrize("rows", [1, 5])
def test_kernel_matmul_equals_plain_torch(isa, precision, rows):
    torch.manual_seed(2)
    packed = pack(torch.randn(70, 160), precision)  # 70 outputs: not a multiple of the 4-row or 32-row blocks
    x = torch.randn(rows, 160)
    for threads in (1, 2):
        torch.testing.assert_close(kernels.kernel_linear(x, packed, threads=threads, isa=isa),
                                   kernels.reference_linear(x, packed), rtol=1e-5, atol=1e-5)


@paths
@pytest.mark.parametrize("precision", kernels.PRECISIONS)
def test_kernel_reads_back_the_dequantized_weights_exactly(isa, precision):
    """One-hot inputs pick single columns: no sums are rounded, so the result is exact."""
    packed = pack(torch.randn(36, 64), precision)
    assert torch.equal(kernels.kernel_linear(torch.eye(64), packed, isa=isa).T, dequantize(packed))  # prefill path
    one_at_a_time = torch.cat([kernels.kernel_linear(row[None], packed, isa=isa) for row in torch.eye(64)])
    assert torch.equal(one_at_a_time.T, dequantize(packed))  # decode path


@paths
def test_each_library_says_which_instruction_set_it_was_built_for(isa):
    assert kernels.load_library(isa).kernels_isa().decode() == isa
    assert kernels.library_status().startswith(f"{isa} kernels")


def test_the_best_path_is_chosen_unless_one_is_forced(monkeypatch):
    monkeypatch.delenv(kernels.ISA_ENV, raising=False)
    assert kernels.selected_isa() == kernels.supported_isas()[0]
    assert kernels.supported_isas()[-1] == "portable"
    monkeypatch.setenv(kernels.ISA_ENV, "portable")
    assert kernels.selected_isa() == "portable"
    monkeypatch.setenv(kernels.ISA_ENV, "sse9")
    with pytest.raises(ValueError, match="LLMPG_KERNELS='sse9' is not a kernel path"):
        kernels.selected_isa()
    assert kernels.load_library() is None and "not a kernel path" in kernels.library_status()


def test_a_forced_path_this_cpu_cannot_run_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(kernels, "_cpu_flags", lambda: {"sse2", "avx2", "fma", "f16c"})
    monkeypatch.setattr(kernels.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(kernels, "_libraries", {})
    monkeypatch.setenv(kernels.ISA_ENV, "avx512")
    assert kernels.supported_isas() == ["avx2", "portable"]
    assert kernels.load_library() is None
    assert kernels.library_status().startswith("this CPU cannot run the avx512 kernels (no avx512bw")
    assert "it runs: avx2, portable" in kernels.library_status()


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm_playground.models import from_hf_model

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True)
    return from_hf_model(LlamaForCausalLM(config).eval()).eval()


@paths
@pytest.mark.parametrize("precision", ["fp32", "int4"])
def test_the_whole_step_on_each_path_equals_the_plain_torch_step(isa, precision, tiny_llama, monkeypatch):
    from llm_playground.models.fast import FastDecoder
    from llm_playground.models.fast.weights import from_transformer

    weights = from_transformer(tiny_llama, precision)
    monkeypatch.setenv(kernels.ISA_ENV, isa)
    compiled, reference = FastDecoder(weights), FastDecoder(weights, use_kernels=False)
    assert compiled.library.kernels_isa().decode() == isa
    prompt = list(range(3, 23))  # 20 tokens: the prefill panels, then single decode steps
    for decoder in (compiled, reference):
        decoder.reset(32)
    torch.testing.assert_close(compiled.forward(prompt, all_logits=True), reference.forward(prompt, all_logits=True),
                               rtol=1e-4, atol=1e-4)
    for token in (5, 7, 11):
        torch.testing.assert_close(compiled.forward([token]), reference.forward([token]), rtol=1e-4, atol=1e-4)
