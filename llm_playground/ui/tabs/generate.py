"""Generate: stream a completion with any decoding strategy, then see each token's probability.

The plain text streams into "Output"; below it every token is coloured by the probability it was
chosen with (red unlikely → green sure), and hovering a token lists the alternatives the model
considered. Everything shown comes from the `Step`s of the library's one generator.
"""
from __future__ import annotations

import math

import gradio as gr

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation import Completion, GenerationConfig, Step, start_generation
from llm_playground.generation.config import MAX_BEAMS, STRATEGIES
from llm_playground.generation.worker import GenerationWorker, Progress
from llm_playground.models.fast.shipped import backend_weights_note
from llm_playground.structured import Constraint
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, REMOTE_MODEL_INFO, RedrawPacer, escape,
                                      inline_errors, loading_note,
                                      message, messages, model_choices, model_notes, prob_colour, require_number,
                                      require_text)

TITLE = "Generate"
DEFAULT_PROMPT = "What is the capital of France?"
MAX_NEW_TOKENS = 1024
"""The most new tokens one request may ask for here (≈ 1 min at 20 tok/s on a laptop CPU)."""
REQUEST_SECONDS = 180
"""A request that runs longer is stopped, so that one user cannot hold the shared engine."""
SAMPLING_ONLY = ("temperature", "top_k", "top_p", "min_p", "seed")
"""The knobs that only reshape what sampling draws from: greedy and beam search have no use for them."""


def optional_seed(seed) -> int | None:
    return None if seed is None or seed == "" else require_number(seed, "Seed", integer=True)


def generation_config(strategy, temperature, top_k, top_p, min_p, repetition_penalty, max_new_tokens, seed,
                      num_beams) -> GenerationConfig:
    """The widgets' values as a validated GenerationConfig; only the knobs the strategy uses are passed
    (beam search refuses sampling knobs, greedy ignores them)."""
    if strategy not in STRATEGIES:
        raise PlaygroundError(f"choose a strategy: {', '.join(STRATEGIES)}")
    max_new_tokens = require_number(max_new_tokens, "Max new tokens", integer=True)
    if max_new_tokens > MAX_NEW_TOKENS:
        raise PlaygroundError(f"Max new tokens is {max_new_tokens}; the playground allows at most {MAX_NEW_TOKENS}")
    settings = dict(strategy=strategy, max_new_tokens=max_new_tokens,
                    repetition_penalty=require_number(repetition_penalty, "Repetition penalty"))
    if strategy == "sample":
        settings.update(temperature=require_number(temperature, "Temperature"),
                        top_k=require_number(top_k, "Top-k", integer=True), top_p=require_number(top_p, "Top-p"),
                        min_p=require_number(min_p, "Min-p"), seed=optional_seed(seed))
    elif strategy == "beam":
        settings.update(num_beams=require_number(num_beams, "Beams", integer=True))
    return GenerationConfig(**settings)


CONSTRAINT_CHOICES = {"none": None, "JSON schema": "json_schema", "any JSON object": "json_object", "regex": "regex",
                      "grammar (GBNF or Lark)": "grammar", "choices (comma-separated)": "choices"}
"""The constraint picker's labels → `structured.Constraint` kinds."""


def constraint_from_picker(kind: str | None, value: str | None) -> Constraint | None:
    """The picker's choice as a validated Constraint (None for "none")."""
    if kind not in CONSTRAINT_CHOICES:
        raise PlaygroundError(f"choose a constraint: {', '.join(CONSTRAINT_CHOICES)}")
    name = CONSTRAINT_CHOICES[kind]
    if name is None:
        return None
    if name == "json_object":
        return Constraint("json_object")
    if not value or not value.strip():
        raise PlaygroundError(f"the {kind} constraint needs a value: type it in Constraint value")
    return Constraint.from_options(**{name: value})


def alternatives_text(step: Step) -> str:
    """The hover text of a token: its probability and the model's top alternatives."""
    if not step.has_logprob:
        return f"{step.token!r}: no probability (the server returned no logprobs)"
    lines = [f"{step.token!r}: p = {step.prob:.3f} (model's own: {math.exp(step.raw_logprob):.3f})"]
    if step.masked_mass is not None:
        lines.append(f"the constraint removed {step.masked_mass:.1%} of the model's probability here")
    if step.top_before:
        lines.append("model's top: " + ", ".join(f"{a.text!r} {a.prob:.3f}" for a in step.top_before))
    if step.top_after and [a.id for a in step.top_after] != [a.id for a in step.top_before]:
        lines.append("after the knobs: " + ", ".join(f"{a.text!r} {a.prob:.3f}" for a in step.top_after))
    return "\n".join(lines)


def tokens_html(steps: list[Step]) -> str:
    """The output, one span per token, coloured by probability, alternatives on hover."""
    spans = []
    for step in steps:
        shown = step.text or step.token  # an end-of-sequence token adds no text: show its name
        extra = "" if step.text else " tok-special"
        spans.append(f'<span class="gen-tok{extra}" style="background:{prob_colour(step.prob)}" '
                     f'data-prob="{f"{step.prob:.4f}" if step.has_logprob else ""}" data-tip="{escape(alternatives_text(step))}">{escape(shown)}</span>')
    legend = ('<div class="gen-legend">probability of each chosen token: '
              f'<span style="background:{prob_colour(0.05)}">low</span> '
              f'<span style="background:{prob_colour(0.5)}">medium</span> '
              f'<span style="background:{prob_colour(0.95)}">high</span> — hover a token for its alternatives</div>')
    return legend + f'<div class="gen-tokens">{"".join(spans)}</div>' if steps else ""


def stats_text(completion: Completion) -> str:
    count = completion.token_count
    parts = [f"{count} token{'' if count == 1 else 's'}"]
    if completion.strategy == "beam":
        parts.append(f"beam search took {completion.seconds:.2f} s (its tokens all arrive at the end)")
    else:
        parts += [f"{completion.tokens_per_second:.1f} tokens/s",
                  f"first token after {completion.time_to_first_token:.2f} s"]
    if completion.remote is None:
        parts.append(f"engine: {completion.backend}")
        if weights := backend_weights_note(completion.model, completion.backend):
            parts.append(weights)  # "weights: 4-bit as shipped, lossless"
    else:
        parts.append(f"remote: {completion.remote.target.base_url}")
    if completion.masked_mass:
        mean = sum(completion.masked_mass) / len(completion.masked_mass)
        parts.append(f"constraint removed {mean:.0%} of the model's probability on average")
    if completion.finish_reason:
        parts.append(f"finished: {completion.finish_text}")
    return " · ".join(parts)


def model_input_text(completion: Completion) -> str:
    """The exact text the model received, templated, special tokens visible."""
    return completion.prompt.text


def special_text_note(completion: Completion) -> str:
    spelled = completion.prompt.special_text_as_text
    if not spelled:
        return ""
    return (f"your text spells special tokens ({', '.join(spelled)}): they were sent as plain text, so they cannot "
            "end your turn or start a system turn; tick 'Special-token text is control tokens' to send them as "
            "real special tokens")


def progress_text(update: Progress, strategy: str, started: bool, loading: str = "") -> str:
    """What the page says while no token arrives: loading, a long prompt, or beam search's steps."""
    if not started:
        return f"{loading or 'preparing the prompt and the model'}… {update.seconds:.0f} s"
    if strategy == "beam":
        return f"beam search: {update.beam_steps} steps in {update.seconds:.1f} s — the text appears when it is done"
    return f"reading the prompt… {update.seconds:.1f} s"


@inline_errors(5)
def generate(model: str, strategy: str, temperature, top_k, top_p, min_p, repetition_penalty, max_new_tokens, seed,
             num_beams, system: str, prompt: str, allow_special: bool = False, constraint_kind: str = "none",
             constraint_value: str = ""):
    """Handler, streaming → (output text, coloured tokens HTML, stats, exact model input, status).

    The generation runs in a worker: Stop, a closed tab or the per-request time limit end it
    within one model step (GenerationWorker)."""
    prompt = require_text(prompt)
    config = generation_config(strategy, temperature, top_k, top_p, min_p, repetition_penalty, max_new_tokens,
                               seed, num_beams)
    constraint = constraint_from_picker(constraint_kind, constraint_value)
    if constraint is not None:
        config = config.replace(constraint=constraint)
    if not model:
        raise PlaygroundError("choose a model")
    spec = zoo.resolve(model)
    notes = model_notes([model])
    if system and system.strip() and spec.kind != "chat":
        notes.append(f"the system prompt is ignored: {spec.name} is a {spec.kind} model without a chat template")
        system = None
    info = [(note, "info") for note in notes]
    note = loading_note([model])
    if note:
        yield "", "", "", "", messages(*info, (note, "busy"))
    worker = GenerationWorker(lambda signal, on_beam_step: start_generation(
        spec, prompt, config, system=(system or None), allow_special=bool(allow_special), signal=signal,
        on_beam_step=on_beam_step), time_limit=REQUEST_SECONDS)
    completion, pacer = None, RedrawPacer()
    for update in worker.updates():
        if completion is None and worker.run is not None:
            completion = Completion.of(worker.run)
            info.append((special_text_note(completion), "info"))
            working = ("beam search finds the best beam only at the end: the text appears when it is done"
                       if config.strategy == "beam" else "generating…")
            yield "", "", "", model_input_text(completion), messages(*info, (working, "busy"))
        if isinstance(update, Progress):
            text = progress_text(update, config.strategy, completion is not None, note.rstrip("…"))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), messages(*info, (text, "busy"))
            continue
        completion.add(update)
        if not pacer.due(final=bool(update.finish_reason)):
            continue
        done = [(line, "info") for line in info_notes(completion)] if update.finish_reason else []
        yield (completion.text, tokens_html(completion.steps), stats_text(completion), gr.skip(),
               messages(*info, *done) if update.finish_reason else gr.skip())
    if completion is not None and pacer.pending:  # stopped between two redraws: show what was made
        yield completion.text, tokens_html(completion.steps), stats_text(completion), gr.skip(), gr.skip()


def info_notes(completion: Completion) -> list[str]:
    """What to tell once an output is done: that its tokens have no probabilities (a remote server
    without logprobs); for a constrained output, incomplete or the parsed value."""
    notes = [completion.probability_note] if completion.probability_note else []
    return notes + _constraint_notes(completion)


def _constraint_notes(completion: Completion) -> list[str]:
    if completion.constraint is None:
        return []
    if completion.incomplete:
        return [f"finished: {completion.finish_text} — the output stopped before the constraint was complete "
                "(it is not valid yet); allow more new tokens"]
    if completion.constraint.produces_json and completion.parsed is not None:
        import json

        return ["the output is valid JSON: " + json.dumps(completion.parsed, ensure_ascii=False)[:300]]
    return []


def stopped() -> str:
    """Handler of the Stop button (the event itself is cancelled by Gradio)."""
    return message("stopped: the text so far is kept", "info")


def knob_states(strategy: str) -> list:
    """Handler of the strategy radio: the knobs a strategy has no use for are greyed out, so what
    the page shows is what runs (greedy takes the top token whatever the temperature)."""
    return [gr.update(interactive=strategy == "sample") for _ in SAMPLING_ONLY] + [
        gr.update(interactive=strategy == "beam")]


def build() -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = gr.Dropdown(model_choices(), value=DEFAULT_CHAT_MODEL, label="Model", allow_custom_value=True,
                                info=REMOTE_MODEL_INFO)
            strategy = gr.Radio(list(STRATEGIES), value="greedy", label="Strategy",
                                info="greedy: the top token; sample: draw from the knobs' distribution; beam: best "
                                     "sequence. Knobs a strategy does not use are greyed out.")
            with gr.Row():
                temperature = gr.Number(label="Temperature", value=0.8, info="≥ 0 (sample)", min_width=90,
                                        interactive=False)
                top_k = gr.Number(label="Top-k", value=0, precision=None, info="0 = off (sample)", min_width=90,
                                  interactive=False)
            with gr.Row():
                top_p = gr.Number(label="Top-p", value=0.95, info="(0, 1] (sample)", min_width=90, interactive=False)
                min_p = gr.Number(label="Min-p", value=0.0, info="[0, 1] (sample)", min_width=90, interactive=False)
            with gr.Row():
                repetition_penalty = gr.Number(label="Repetition penalty", value=1.0, info="> 0; 1 = off", min_width=90)
                max_new_tokens = gr.Number(label="Max new tokens", value=64, precision=None, info=f"1–{MAX_NEW_TOKENS}",
                                           min_width=90)
            with gr.Row():
                seed = gr.Number(label="Seed", value=0, precision=None, info="sample; empty = random", min_width=90,
                                 interactive=False)
                num_beams = gr.Number(label="Beams", value=4, precision=None, info=f"beam search, 1–{MAX_BEAMS}",
                                      min_width=90, interactive=False)
        with gr.Column(scale=2):
            system = gr.Textbox(label="System prompt", placeholder="(optional, chat models only)", lines=1)
            prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, lines=3)
            allow_special = gr.Checkbox(label="Special-token text is control tokens (e.g. <|im_end|> ends the turn)",
                                        value=False, elem_id="generate-allow-special")
            with gr.Row():
                constraint_kind = gr.Dropdown(list(CONSTRAINT_CHOICES), value="none", label="Constraint", scale=1,
                                              info="structured output: the output is valid by construction")
                constraint_value = gr.Textbox(label="Constraint value", lines=1, scale=2,
                                              placeholder='{"type": "object", …} · [0-9]{3}-[0-9]{4} · '
                                                          'root ::= "yes" | "no" · positive,negative,neutral')
            with gr.Row():
                go = gr.Button("Generate", variant="primary")
                stop = gr.Button("Stop", variant="stop")
            status = gr.HTML()
            output = gr.Textbox(label="Output", lines=6, max_lines=20, interactive=False, elem_id="generate-output")
            stats = gr.Markdown(elem_id="generate-stats")
            coloured = gr.HTML(elem_id="generate-tokens")
            with gr.Accordion("Exact model input (after the chat template, special tokens included)", open=False):
                model_input = gr.Textbox(label="Model input", lines=4, interactive=False, buttons=["copy"])
    strategy.change(knob_states, strategy, [temperature, top_k, top_p, min_p, seed, num_beams], queue=False)
    inputs = [model, strategy, temperature, top_k, top_p, min_p, repetition_penalty, max_new_tokens, seed, num_beams,
              system, prompt, allow_special, constraint_kind, constraint_value]
    outputs = [output, coloured, stats, model_input, status]
    running = go.click(generate, inputs, outputs, concurrency_id=MODEL_CONCURRENCY, api_name="generate",
                       show_progress_on=[output])
    stop.click(stopped, None, status, cancels=[running], queue=False)
