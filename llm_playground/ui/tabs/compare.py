"""Compare: one prompt through several models × strategies, side by side.

Each column shows the exact text its model received (after the chat template, special tokens
visible), so a learner sees why the base model continues a question while the chat model answers.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig
from llm_playground.generation.compare import STRATEGY_PRESETS, CompareCell, compare_runs
from llm_playground.generation.worker import GenerationWorker, Progress
from llm_playground.ui.common import (DEFAULT_BASE_MODEL, DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, REMOTE_MODEL_INFO,
                                      escape, inline_errors, loading_note, message, messages, model_choices,
                                      model_names, model_notes, require_number, require_text, visible)
from llm_playground.ui.tabs.generate import MAX_NEW_TOKENS, REQUEST_SECONDS, optional_seed

TITLE = "Compare"
DEFAULT_PROMPT = "What is the capital of France?"
DEFAULT_MODELS = [DEFAULT_BASE_MODEL, DEFAULT_CHAT_MODEL]
DEFAULT_STRATEGIES = ["greedy"]


def strategies_info() -> str:
    """`sample: temperature 1.0 · top_k: temperature 0.8, top_k 40 · …` from the library's presets."""
    return " · ".join(f"{name}: " + ", ".join(f"{key} {value}" for key, value in preset.items() if key != "strategy")
                      for name, preset in STRATEGY_PRESETS.items() if len(preset) > 1)


def cell_html(cell: CompareCell, text: str, state: str) -> str:
    """One column: model × strategy, the exact templated input, and the output so far."""
    spec = zoo.resolve(cell.model)
    if spec.remote is not None:
        templated = "chat messages: the server applies its own template"
    else:
        templated = ("templated as a chat" if cell.run.prompt.templated else "raw text, no template") + \
            f" ({len(cell.run.prompt.ids)} tokens)"
    model_input = escape(visible(cell.run.prompt.text)).replace("↵", "↵<br>")
    return (f'<div class="cmp-cell" data-model="{escape(cell.model)}" data-strategy="{escape(cell.strategy)}">'
            f'<h4>{escape(cell.model)} <small>({escape(spec.label)})</small> × {escape(cell.strategy)}</h4>'
            f'<div class="cmp-label">model input, {escape(templated)}:</div>'
            f'<pre class="cmp-input">{model_input}</pre>'
            f'<div class="cmp-label">output <small>{escape(state)}</small>:</div>'
            f'<div class="cmp-output">{escape(text)}</div></div>')


def grid_html(cells: list[CompareCell], texts: list[str], states: list[str]) -> str:
    return ('<div class="cmp-grid">' + "".join(cell_html(c, t, s) for c, t, s in zip(cells, texts, states))
            + "</div>")


@dataclass
class _CompareRun:
    """Every cell's steps in page order, as one run for a GenerationWorker: (cell index, step)."""

    cells: list[CompareCell]

    @property
    def steps(self):
        return ((index, step) for index, cell in enumerate(self.cells) for step in cell.run.steps)


@inline_errors(2)
def compare(prompt: str, models: list[str], strategies: list[str], max_new_tokens, seed, remote_models: str = ""):
    """Handler, streaming → (grid HTML, status). Cells are generated one after another, in a
    worker that Stop, a closed tab or the time limit end within one model step. `remote_models`:
    more models, one per line (remote ones: openai@URL:NAME)."""
    prompt = require_text(prompt)
    models = model_names(models, remote_models)
    if not models or not strategies:
        raise PlaygroundError("choose at least one model and one strategy")
    max_new_tokens = require_number(max_new_tokens, "Max new tokens", integer=True)
    if max_new_tokens > MAX_NEW_TOKENS:
        raise PlaygroundError(f"Max new tokens is {max_new_tokens}; the playground allows at most {MAX_NEW_TOKENS}")
    base = GenerationConfig(max_new_tokens=max_new_tokens, seed=optional_seed(seed))
    info = [(note, "info") for note in model_notes(models)]
    note = loading_note(models)
    if note:
        yield gr.skip(), messages(*info, (note, "busy"))
    worker = GenerationWorker(lambda signal, on_beam_step: _CompareRun(compare_runs(
        list(models), list(strategies), prompt, base, signal=signal, on_beam_step=on_beam_step)),
        time_limit=REQUEST_SECONDS)
    cells: list[CompareCell] = []
    texts: list[str] = []
    states: list[str] = []
    for update in worker.updates():
        if not cells and worker.run is not None:
            cells = worker.run.cells
            texts, states = [""] * len(cells), ["waiting"] * len(cells)
            yield grid_html(cells, texts, states), messages(*info, ("generating…", "busy"))
        if isinstance(update, Progress):
            continue
        index, step = update
        texts[index] += step.text
        states[index] = (f"({step.index + 1} tokens, finished: {step.finish_reason})" if step.finish_reason
                         else "generating…")
        yield grid_html(cells, texts, states), gr.skip()
    yield grid_html(cells, texts, states), messages(*info)


def stopped() -> str:
    return message("stopped: the columns so far are kept", "info")


def build() -> None:
    prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, lines=2)
    with gr.Row():
        with gr.Column(scale=3):
            models = gr.CheckboxGroup(model_choices(), value=DEFAULT_MODELS, label="Models")
            remote_models = gr.Textbox(label="More models (one per line)", lines=1, info=REMOTE_MODEL_INFO,
                                       placeholder="openai@http://127.0.0.1:8000/v1:smollm2-135m-instruct",
                                       elem_id="compare-remote-models")
        strategies = gr.CheckboxGroup(list(STRATEGY_PRESETS), value=DEFAULT_STRATEGIES, label="Strategies", scale=2,
                                      info=strategies_info())
    with gr.Row():
        max_new_tokens = gr.Number(label="Max new tokens", value=32, precision=None, info=f"1–{MAX_NEW_TOKENS}")
        seed = gr.Number(label="Seed", value=0, precision=None, info="for the sampling strategies")
    with gr.Row():
        go = gr.Button("Compare", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    status = gr.HTML()
    grid = gr.HTML(elem_id="compare-output")
    running = go.click(compare, [prompt, models, strategies, max_new_tokens, seed, remote_models], [grid, status],
                       concurrency_id=MODEL_CONCURRENCY, api_name="compare", show_progress_on=[grid])
    stop.click(stopped, None, status, cancels=[running], queue=False)
