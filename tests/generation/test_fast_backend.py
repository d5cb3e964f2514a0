"""The fast backends through the generator: same tokens as the readable engine and as transformers."""
import pytest
import torch

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig, generate_steps
from llm_playground.generation.backends import FAST_PRECISIONS, FastBackend, NativeBackend
from llm_playground.models import from_hf_model
from llm_playground.models.fast import FastDecoder


@pytest.fixture(scope="module")
def tiny_native():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True)
    return from_hf_model(LlamaForCausalLM(config).eval()).eval()


def test_fast_backend_generates_what_the_native_backend_generates(tiny_native):
    tokenizer = zoo.load_tokenizer("gpt2")  # ids below 97 are single characters: any tokenizer would do
    config = GenerationConfig(max_new_tokens=20, stop_at_eos=False)
    native = list(generate_steps(NativeBackend(tiny_native), tokenizer, [5, 6, 7], config, eos_ids=set()))
    fast = list(generate_steps(FastBackend(FastDecoder.from_transformer(tiny_native)), tokenizer, [5, 6, 7], config,
                               eos_ids=set()))
    assert [s.id for s in fast] == [s.id for s in native]
    for a, b in zip(fast, native):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_fast_backend_restarts_cleanly_and_refuses_beam_search(tiny_native):
    backend = FastBackend(FastDecoder.from_transformer(tiny_native), "fast")
    first = backend.start([1, 2, 3], 4)
    backend.step(9)
    torch.testing.assert_close(backend.start([1, 2, 3], 4), first)  # the cache was reset, not appended to
    with pytest.raises(PlaygroundError, match="beam search"):
        backend.beam_step_fn(2, 10)


@pytest.mark.slow
def test_smollm2_fast_greedy_text_equals_transformers():
    """fp32: token for token equal to transformers; reduced precision: recorded, with a sanity bound."""
    from llm_playground.generation import generate

    config = GenerationConfig(max_new_tokens=30, stop_at_eos=False)
    for prompt in ("Write a haiku about the sea.", "What is the capital of France?"):
        hf = [s.id for s in generate("smollm2-135m-instruct", prompt, config, backend="hf").steps]
        fast = [s.id for s in generate("smollm2-135m-instruct", prompt, config, backend="fast").steps]
        assert fast == hf
        for backend in FAST_PRECISIONS if prompt.startswith("Write") else ():
            if backend == "fast":
                continue
            ids = [s.id for s in generate("smollm2-135m-instruct", prompt, config, backend=backend).steps]
            same = next((i for i, (a, b) in enumerate(zip(ids, hf)) if a != b), len(hf))
            print(f"{backend} on {prompt!r}: first {same}/{len(hf)} tokens identical to fp32")
            assert same >= 3, f"{backend} drifted from fp32 within {same} tokens"


def test_backends_sharing_weights_keep_their_own_caches_even_from_two_threads(tiny_native):
    import threading

    from llm_playground.models.fast import from_transformer

    weights = from_transformer(tiny_native, "int8")

    def greedy(prompt, out):
        backend = FastBackend(FastDecoder(weights), "fast-int8")
        logits, ids = backend.start(prompt, 30), []
        for _ in range(30):
            ids.append(int(logits.argmax()))
            logits = backend.step(ids[-1])
        out.append(ids)

    alone_a, alone_b = [], []
    greedy([3, 4, 5], alone_a)
    greedy([50, 60], alone_b)
    together_a, together_b = [], []
    threads = [threading.Thread(target=greedy, args=([3, 4, 5], together_a)),
               threading.Thread(target=greedy, args=([50, 60], together_b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together_a == alone_a and together_b == alone_b and alone_a != alone_b


def test_auto_picks_the_fast_engine_for_llama_and_the_readable_one_for_beam():
    from llm_playground import zoo
    from llm_playground.generation.api import choose_backend
    from llm_playground.models.fast.kernels import load_library

    smollm2, gemma = zoo.get_spec("smollm2-135m-instruct"), zoo.get_spec("gemma3-270m")
    kernels = load_library() is not None
    assert choose_backend(smollm2, "auto") == ("fast-int4" if kernels else "native")  # its shipped Q4_1, lossless
    assert choose_backend(smollm2, "auto", "beam") == "native"
    assert choose_backend(gemma, "auto") == ("fast" if kernels else "native")  # Q4_K_M: fp32 until held exactly
