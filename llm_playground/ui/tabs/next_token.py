"""Next token: the model's distribution over the next token, before and after the knobs.

A bar chart puts each candidate's probability from the model (grey) next to its probability after
temperature / top-k / top-p / min-p / repetition penalty (blue), so the effect of each knob is
visible. Clicking a candidate appends it to the prompt and recomputes: generation by hand.
"""
from __future__ import annotations

import gradio as gr
from matplotlib.figure import Figure

from llm_playground.errors import PlaygroundError
from llm_playground.generation.config import GenerationConfig
from llm_playground.inspection.knobs import KnobEffect, knob_effect
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, inline_errors, loading_note, messages,
                                      model_choices, model_notes, require_number, require_text, visible)

TITLE = "Next token"
DEFAULT_PROMPT = "The capital of France is"


def knob_config(temperature, top_k, top_p, min_p, repetition_penalty) -> GenerationConfig:
    """The widgets' values as a sampling config (validated: out-of-range values raise)."""
    return GenerationConfig(strategy="sample",
                            temperature=require_number(temperature, "Temperature"),
                            top_k=require_number(top_k, "Top-k", integer=True),
                            top_p=require_number(top_p, "Top-p"),
                            min_p=require_number(min_p, "Min-p"),
                            repetition_penalty=require_number(repetition_penalty, "Repetition penalty"))


def chart(effect: KnobEffect) -> Figure:
    """Horizontal bars, most likely first: before (model) and after (knobs) for each candidate."""
    rows = effect.rows
    labels = [visible(row.token).replace("$", r"\$") or "∅" for row in rows]  # "$" would start mathtext
    figure = Figure(figsize=(7.5, 0.42 * len(rows) + 1.4), dpi=100)
    axis = figure.add_subplot()
    positions = range(len(rows))
    height = 0.38
    axis.barh([p - height / 2 for p in positions], [r.prob_before for r in rows], height, color="#9ca3af",
              label="model (before the knobs)")
    axis.barh([p + height / 2 for p in positions], [r.prob_after for r in rows], height, color="#2563eb",
              label="after the knobs (what is sampled from)")
    for position, row in zip(positions, rows):
        axis.text(max(row.prob_before, row.prob_after) + 0.01, position, f"{row.prob_before:.3f} → {row.prob_after:.3f}",
                  va="center", fontsize=8)
    axis.set_yticks(list(positions), labels, fontsize=9)
    axis.invert_yaxis()
    axis.set_xlim(0, min(1.0, max(max(r.prob_before, r.prob_after) for r in rows) * 1.35 + 0.02))
    axis.set_xlabel("probability of being the next token")
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title(f"{effect.model}: next token after {len(effect.prompt_ids)} prompt tokens", fontsize=10)
    figure.tight_layout()
    return figure


def candidate_choices(effect: KnobEffect) -> list[tuple[str, str]]:
    """(label, token text) per candidate, for the clickable list; removed tokens are marked."""
    return [(f"{visible(row.token) or '∅'}   {row.prob_before:.3f} → {row.prob_after:.3f}"
             + ("" if row.kept else "  (removed)"), row.token) for row in effect.rows]


def summary(effect: KnobEffect) -> str:
    steps = "; ".join(effect.processors) if effect.processors else "none (the model's distribution is used as it is)"
    greedy = " Temperature 0 means greedy: all the probability goes to the top token." if effect.greedy else ""
    return (f"Processors, in order: {steps}. {effect.kept:,} of {effect.vocab_size:,} tokens can still be "
            f"drawn.{greedy} Engine: {effect.backend}.")


@inline_errors(4)
def show_next_tokens(model: str, prompt: str, temperature, top_k, top_p, min_p, repetition_penalty, shown):
    """Handler (streaming: a loading note first) → (chart, candidates, summary, status)."""
    prompt = require_text(prompt)
    config = knob_config(temperature, top_k, top_p, min_p, repetition_penalty)
    shown = require_number(shown, "Candidates shown", integer=True)
    if not 1 <= shown <= 50:
        raise PlaygroundError(f"Candidates shown must be between 1 and 50 (got {shown})")
    if not model:
        raise PlaygroundError("choose a model")
    note = loading_note([model])
    if note:
        yield gr.skip(), gr.skip(), gr.skip(), messages((note, "busy"))
    effect = knob_effect(model, prompt, config, top_n=shown)
    yield (chart(effect), gr.update(choices=candidate_choices(effect), value=None), summary(effect),
           messages(*((notice, "info") for notice in model_notes([model]))))


def append_candidate(prompt: str, token: str | None) -> str:
    """Handler: the prompt with the clicked candidate appended."""
    return (prompt or "") + (token or "")


def build() -> None:
    gr.Markdown("The prompt goes in as raw text (no chat template): the model continues it. Grey bars are the "
                "model's own probabilities, blue bars what is left after the knobs.")
    with gr.Row():
        model = gr.Dropdown(model_choices(), value=DEFAULT_CHAT_MODEL, label="Model", scale=2)
        prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, lines=2, scale=4,
                            placeholder="Raw text, no chat template: the model continues it.")
    with gr.Row():
        temperature = gr.Number(label="Temperature", value=0.8, info="≥ 0; 0 = greedy")
        top_k = gr.Number(label="Top-k", value=0, precision=None, info="0 = off")
        top_p = gr.Number(label="Top-p", value=1.0, info="(0, 1]; 1 = off")
        min_p = gr.Number(label="Min-p", value=0.0, info="[0, 1]; 0 = off")
        repetition_penalty = gr.Number(label="Repetition penalty", value=1.0, info="> 0; 1 = off")
        shown = gr.Number(label="Candidates shown", value=10, precision=None, info="1–50")
    button = gr.Button("Show next tokens", variant="primary")
    status = gr.HTML()
    with gr.Row():
        plot = gr.Plot(label="Next-token probabilities, before and after the knobs", show_label=False, format="png",
                       scale=3)
        with gr.Column(scale=2):
            candidates = gr.Radio([], label="Candidates", info="Click one to append it to the prompt and step on.")
            about = gr.Markdown()
    inputs = [model, prompt, temperature, top_k, top_p, min_p, repetition_penalty, shown]
    outputs = [plot, candidates, about, status]
    event = dict(concurrency_id=MODEL_CONCURRENCY, show_progress_on=[plot])
    button.click(show_next_tokens, inputs, outputs, api_name="next_token", **event)
    prompt.submit(show_next_tokens, inputs, outputs, **event)
    candidates.input(append_candidate, [prompt, candidates], prompt).then(show_next_tokens, inputs, outputs, **event)
