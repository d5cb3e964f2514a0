"""The token-yielding generator on a scripted backend (fast, exact) and on SmolLM2 (real)."""
import pytest
import torch

from llm_playground import zoo
from llm_playground.generation import GenerationConfig, generate, generate_steps
from llm_playground.generation.detokenize import IncrementalDetokenizer, StopStringWatcher


@pytest.fixture(scope="module")
def gpt2_tokenizer():
    return zoo.load_tokenizer("gpt2")


class ScriptedBackend:
    """Next-token logits from a script: after the prompt, favour the script's tokens in order."""

    name = "scripted"
    context_length = 1024

    def __init__(self, script, vocab=50257):
        self.script, self.vocab, self.position = script, vocab, 0

    def _logits(self):
        logits = torch.zeros(self.vocab)
        logits[self.script[min(self.position, len(self.script) - 1)]] = 5.0
        logits[262] = 4.0  # " the" is always the runner-up
        return logits

    def start(self, prompt_ids, max_new_tokens):
        self.position = 0
        return self._logits()

    def step(self, token_id):
        self.position += 1
        return self._logits()


def test_greedy_steps_carry_ids_text_and_probabilities(gpt2_tokenizer):
    script = gpt2_tokenizer.encode(" Paris is nice")
    steps = list(generate_steps(ScriptedBackend(script), gpt2_tokenizer, [464], GenerationConfig(max_new_tokens=3)))
    assert [s.id for s in steps] == script
    assert "".join(s.text for s in steps) == " Paris is nice"
    assert [s.finish_reason for s in steps] == [None, None, "length"]
    expected_p = torch.tensor([5.0, 4.0] + [0.0] * 50255).softmax(0)[0].item()
    assert steps[0].prob == pytest.approx(expected_p, rel=1e-5)
    assert [a.id for a in steps[0].top_before[:2]] == [script[0], 262]
    assert steps[0].top_after == steps[0].top_before  # greedy: no processor reshapes anything


def test_eos_ends_generation_without_text(gpt2_tokenizer):
    script = gpt2_tokenizer.encode(" Hi") + [50256]
    steps = list(generate_steps(ScriptedBackend(script), gpt2_tokenizer, [464], GenerationConfig(max_new_tokens=10),
                                eos_ids={50256}))
    assert [s.finish_reason for s in steps] == [None, "eos"]
    assert "".join(s.text for s in steps) == " Hi"


def test_stop_string_cuts_the_text_before_it(gpt2_tokenizer):
    script = gpt2_tokenizer.encode(" one, two. three")
    config = GenerationConfig(max_new_tokens=20, stop=["."])
    steps = list(generate_steps(ScriptedBackend(script), gpt2_tokenizer, [464], config))
    assert "".join(s.text for s in steps) == " one, two"
    assert steps[-1].finish_reason == "stop"


def test_temperature_reshapes_after_but_not_before(gpt2_tokenizer):
    config = GenerationConfig(strategy="sample", temperature=0.5, top_k=2, seed=0, max_new_tokens=1)
    step = next(generate_steps(ScriptedBackend([11]), gpt2_tokenizer, [464], config))
    before = torch.tensor([5.0, 4.0] + [0.0] * 50255).softmax(0)
    after = torch.tensor([10.0, 8.0]).softmax(0)  # top-2 kept, divided by T = 0.5
    assert step.top_before[0].prob == pytest.approx(before[0].item(), rel=1e-5)
    assert [a.prob for a in step.top_after] == pytest.approx(after.tolist(), rel=1e-5)
    assert len(step.top_after) == 2  # everything else was masked by top-k


def test_seeded_sampling_reproduces(gpt2_tokenizer):
    class Flat(ScriptedBackend):
        def _logits(self):
            return torch.linspace(0, 3, self.vocab)

    config = GenerationConfig(strategy="sample", seed=123, max_new_tokens=8)
    first = [s.id for s in generate_steps(Flat([0]), gpt2_tokenizer, [464], config)]
    again = [s.id for s in generate_steps(Flat([0]), gpt2_tokenizer, [464], config)]
    other = [s.id for s in generate_steps(Flat([0]), gpt2_tokenizer, [464], config.replace(seed=124))]
    assert first == again != other


def test_detokenizer_handles_characters_split_across_tokens(gpt2_tokenizer):
    text = "naïve 🙂 世界 — done"
    ids = gpt2_tokenizer.encode(text)
    detokenizer = IncrementalDetokenizer(gpt2_tokenizer, [])
    pieces = [detokenizer.add(i) for i in ids]
    assert "".join(pieces) + detokenizer.flush() == text
    assert all("\ufffd" not in piece for piece in pieces)


def test_stop_watcher_holds_back_a_possible_stop_prefix():
    watcher = StopStringWatcher(["</end>"])
    assert watcher.feed("hello </e") == ("hello ", False)
    assert watcher.feed("nd> more") == ("", True)
    watcher = StopStringWatcher(["</end>"])
    assert watcher.feed("a </e") == ("a ", False)
    assert watcher.feed("x") == ("</ex", False)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["native", "hf"])
def test_smollm2_greedy_answer_is_fixed(backend):
    completion = generate("smollm2-135m-instruct", "What is the capital of France?",
                          GenerationConfig(max_new_tokens=20), backend=backend)
    assert completion.text == "The capital of France is Paris."
    assert completion.finish_reason == "eos"
    assert completion.prompt.templated and completion.prompt.text.startswith("<|im_start|>system\n")


@pytest.mark.slow
def test_native_and_hf_give_identical_greedy_text():
    for prompt in ["Name three colours.", "Explain gravity in one sentence.", "Write a haiku about tea."]:
        config = GenerationConfig(max_new_tokens=24)
        native = generate("smollm2-135m-instruct", prompt, config, backend="native")
        hf = generate("smollm2-135m-instruct", prompt, config, backend="hf")
        assert [s.id for s in native.steps] == [s.id for s in hf.steps], prompt


@pytest.mark.slow
def test_gemma_native_equals_hf_greedy():
    config = GenerationConfig(max_new_tokens=16)
    native = generate("gemma3-270m", "The capital of France is", config, backend="native")
    hf = generate("gemma3-270m", "The capital of France is", config, backend="hf")
    assert [s.id for s in native.steps] == [s.id for s in hf.steps]


@pytest.mark.slow
def test_gemma_base_model_continues_text_without_template():
    from llm_playground.models.fast.kernels import load_library

    completion = generate("gemma3-270m", "The capital of France is", GenerationConfig(max_new_tokens=8))
    assert completion.backend == ("fast" if load_library() is not None else "native")  # fp32: Q4_K is not held losslessly
    assert not completion.prompt.templated
    assert completion.prompt.ids[0] == zoo.load_tokenizer("gemma3-270m").bos_token_id
    assert completion.text.startswith(" the capital of the country of France")


@pytest.mark.slow
def test_a_model_held_by_our_engine_counts_as_loaded(monkeypatch):
    """The web page's "loading…" note must not reappear once our engine holds the weights."""
    from llm_playground.store import ModelStore

    monkeypatch.setattr("llm_playground.store.models", ModelStore())  # as in a fresh server process
    assert not zoo.is_loaded("smollm2-135m-instruct")
    generate("smollm2-135m-instruct", "Hi", GenerationConfig(max_new_tokens=2), backend="native")
    assert zoo.is_loaded("smollm2-135m-instruct")
