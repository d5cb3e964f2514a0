"""The fast decoder on every family of the readable model: Gemma-3 (QK-norm, sandwich norms, GeGLU,
sliding windows with their own RoPE base, scaled embeddings) and GPT-2 (LayerNorm, biases, learned
positions, GELU), next to Llama; and several sequences decoded together (continuous batching)."""
import pytest
import torch

from llm_playground.models import from_hf_model
from llm_playground.models.fast import FastDecoder, kernels
from llm_playground.models.fast.weights import from_transformer
from tests.models.conftest import tiny_gemma3, tiny_gpt2, tiny_llama

FAMILIES = {"llama": tiny_llama, "gemma3": tiny_gemma3, "gpt2": tiny_gpt2,
            "gpt2-erf": lambda: tiny_gpt2(activation="gelu")}
ENGINES = [pytest.param(True, id="C"), pytest.param(False, id="torch")]


def _need(use_kernels):
    if use_kernels and kernels.load_library() is None:
        pytest.skip(kernels.library_status())


@pytest.fixture(scope="module")
def models():
    """family → (transformers model, our Transformer with its weights); built once per module."""
    pairs = {}
    for family, make in FAMILIES.items():
        hf = make()
        pairs[family] = (hf, from_hf_model(hf).eval())
    return pairs


IDS = torch.randint(3, 97, (30,), generator=torch.Generator().manual_seed(3)).tolist()  # 30 > Gemma's window of 8


def _prefill_then_decode(decoder, ids, split, **reset):
    """Logits (len(ids), V): the first `split` tokens as one panel, then one token per call."""
    decoder.reset(len(ids), **reset)
    rows = [decoder.forward(ids[:split], all_logits=True)]
    rows += [decoder.forward([token])[None] for token in ids[split:]]
    return torch.cat(rows)


@pytest.mark.parametrize("use_kernels", ENGINES)
@pytest.mark.parametrize("family", FAMILIES)
def test_fp32_decoder_equals_the_readable_model(models, family, use_kernels):
    _need(use_kernels)
    _, model = models[family]
    with torch.no_grad():
        expected, _ = model(torch.tensor([IDS]))
    decoder = FastDecoder.from_transformer(model, "fp32", use_kernels=use_kernels, chunk=20)
    # 23 prompt tokens: a panel of 20 (matrix-matrix products) and one of 3 (matrix-vector), then decode steps
    torch.testing.assert_close(_prefill_then_decode(decoder, IDS, split=23), expected[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", ["gemma3", "gpt2"])
def test_prompt_panels_after_earlier_panels_equal_the_readable_model(models, family):
    """A 45-token prompt in panels of 17, 17 and 11 rows: the second panel attends to a cache that
    earlier calls filled (and, in Gemma's sliding layers, to only part of it)."""
    _need(True)
    _, model = models[family]
    ids = torch.randint(3, 97, (45,), generator=torch.Generator().manual_seed(4)).tolist()
    with torch.no_grad():
        expected, _ = model(torch.tensor([ids]))
    decoder = FastDecoder.from_transformer(model, "fp32", chunk=17)
    decoder.reset(len(ids))
    torch.testing.assert_close(decoder.forward(ids, all_logits=True), expected[0], rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(kernels.load_library() is None, reason=kernels.library_status())
@pytest.mark.parametrize("precision", ["bf16", "int8", "int4"])
@pytest.mark.parametrize("family", ["gemma3", "gpt2"])
def test_c_step_equals_plain_torch_step_in_every_precision(models, family, precision):
    weights = from_transformer(models[family][1], precision)
    fast = _prefill_then_decode(FastDecoder(weights), IDS, split=20)  # a 20-token panel, then single tokens
    plain = _prefill_then_decode(FastDecoder(weights, use_kernels=False), IDS, split=20)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)


def _greedy(first_logits, step, count):
    ids, logits = [], first_logits
    for _ in range(count):
        ids.append(int(logits.argmax()))
        logits = step(ids[-1])
    return ids


GREEDY_PROMPT, GREEDY_COUNT = [5, 17, 42, 8], 32


@pytest.fixture(scope="module")
def greedy_references(models):
    """family → 32 greedy tokens of transformers (the whole sequence each step, end-of-sequence
    ignored), checked equal to our readable model's (with its cache)."""
    references = {}
    for family in ("gemma3", "gpt2"):
        hf, model = models[family]
        cache = model.new_cache(max_length=len(GREEDY_PROMPT) + GREEDY_COUNT)
        with torch.no_grad():
            native = _greedy(model(torch.tensor([GREEDY_PROMPT]), cache=cache)[0][0, -1],
                             lambda t: model(torch.tensor([[t]]), cache=cache)[0][0, -1], GREEDY_COUNT)
            sequence = list(GREEDY_PROMPT)
            for _ in range(GREEDY_COUNT):
                sequence.append(int(hf(torch.tensor([sequence])).logits[0, -1].argmax()))
        assert native == sequence[len(GREEDY_PROMPT):]
        references[family] = native
    return references


@pytest.mark.parametrize("use_kernels", ENGINES)
@pytest.mark.parametrize("family", ["gemma3", "gpt2"])
def test_greedy_tokens_equal_transformers_and_the_readable_model(models, greedy_references, family, use_kernels):
    _need(use_kernels)
    decoder = FastDecoder.from_transformer(models[family][1], "fp32", use_kernels=use_kernels)
    decoder.reset(len(GREEDY_PROMPT) + GREEDY_COUNT)
    fast = _greedy(decoder.forward(GREEDY_PROMPT), lambda t: decoder.forward([t]), GREEDY_COUNT)
    assert fast == greedy_references[family]


@pytest.mark.parametrize("use_kernels", [pytest.param(True, id="C")])  # torch: test_fast.py's batched test
@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_sequences_joining_and_leaving_a_batch_decode_as_they_would_alone(models, family, use_kernels):
    """Continuous batching: slots start, step together at different positions, leave, and a new
    sequence takes a freed slot; each one's greedy tokens equal what it generates alone."""
    _need(use_kernels)
    weights = from_transformer(models[family][1], "bf16")
    prompts = {"a": [3, 4, 5], "b": [7], "c": [9, 10, 11, 12, 13, 14, 15, 16, 17, 18], "d": [20, 21], "e": [30]}
    lengths = {"a": 12, "b": 5, "c": 16, "d": 9, "e": 14}  # b leaves early; e then takes its slot

    def alone(name):
        decoder = FastDecoder(weights, use_kernels=use_kernels)
        decoder.reset(32)
        return _greedy(decoder.forward(prompts[name]), lambda t: decoder.forward([t]), lengths[name])

    batch = FastDecoder(weights, use_kernels=use_kernels)
    batch.reset(32, sequences=4)
    slots, tokens, out = {}, {}, {}
    waiting = ["a", "b", "c", "d", "e"]
    while waiting or slots:
        for name in list(waiting):  # join: a free slot and its prompt
            free = [s for s in range(4) if s not in slots.values()]
            if not free:
                break
            slots[name] = free[0]
            tokens[name] = int(batch.start(free[0], prompts[name]).argmax())
            out[name] = [tokens[name]]
            waiting.remove(name)
        running = [n for n in slots if len(out[n]) < lengths[n]]
        if running:
            logits = batch.decode([slots[n] for n in running], [tokens[n] for n in running])
            for name, row in zip(running, logits):
                tokens[name] = int(row.argmax())
                out[name].append(tokens[name])
        for name in [n for n in slots if len(out[n]) == lengths[n]]:  # leave
            batch.clear(slots.pop(name))
    for name in prompts:
        assert out[name] == alone(name), name


def test_decode_refuses_a_sequence_twice(models):
    decoder = FastDecoder.from_transformer(models["llama"][1], use_kernels=False)
    decoder.reset(8, sequences=2)
    with pytest.raises(Exception, match="each sequence once"):
        decoder.decode([1, 1], [3, 4])


@pytest.mark.slow
def test_gemma3_270m_fast_greedy_equals_the_readable_model():
    """The real model: 18 layers, 262,144-token tied head; 40 greedy tokens on two prompts in fp32."""
    from llm_playground import zoo
    from llm_playground.models import load_native

    model = load_native("gemma3-270m").eval()
    tokenizer = zoo.load_tokenizer("gemma3-270m")
    decoder = FastDecoder.from_transformer(model, "fp32")
    for text in ("The capital of France is", "def fibonacci(n):"):
        prompt = tokenizer.encode(text)
        cache = model.new_cache(max_length=len(prompt) + 40)
        with torch.no_grad():
            native = _greedy(model(torch.tensor([prompt]), cache=cache, last_only=True)[0][0, -1],
                             lambda t: model(torch.tensor([[t]]), cache=cache, last_only=True)[0][0, -1], 40)
        decoder.reset(len(prompt) + 40)
        assert _greedy(decoder.forward(prompt), lambda t: decoder.forward([t]), 40) == native


def test_auto_and_fast_backends_cover_gemma3_and_gpt2():
    """`auto` picks the fast engine for every architecture it implements (where its kernels build)."""
    from llm_playground import zoo
    from llm_playground.evaluation.contestants import resolve_contestant
    from llm_playground.generation.api import choose_backend

    for name in ("gemma3-270m", "gpt2"):
        chosen = choose_backend(zoo.get_spec(name), "auto")
        assert chosen.startswith("fast") if kernels.load_library() is not None else chosen == "native"
        assert choose_backend(zoo.get_spec(name), "auto", strategy="beam") == "native"
        assert resolve_contestant(f"{name}@fast-int8").backend == "fast-int8"  # no longer refused
