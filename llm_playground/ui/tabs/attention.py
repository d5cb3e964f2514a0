"""Attention: which earlier tokens each token looks at, for one layer and head (or all heads)."""
from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import gradio as gr

from llm_playground.errors import PlaygroundError
from llm_playground.inspection.attention_maps import format_strongest_links, plot_attention, zoo_attention_maps
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, inline_errors, loading_note, messages,
                                      model_choices, model_notes, require_number, require_text)

TITLE = "Attention"
DEFAULT_PROMPT = "The cat sat on the mat because it was tired."
MAX_TOKENS = 96
"""Longer prompts make unreadable heat maps (one row and column per token)."""


def plot_path() -> Path:
    """A new PNG path in the system temp folder (Gradio serves files from there and copies them into
    its own cache, so each request gets a file of its own)."""
    folder = Path(tempfile.gettempdir()) / "llmpg-attention"
    folder.mkdir(exist_ok=True)
    return folder / f"{uuid.uuid4().hex}.png"


@inline_errors(3)
def show_attention(model: str, prompt: str, layer, head, all_heads: bool):
    """Handler (streaming: a loading note first) → (heat-map PNG path, strongest links, status)."""
    prompt = require_text(prompt)
    layer = require_number(layer, "Layer", integer=True)
    head = None if all_heads else require_number(head, "Head", integer=True)
    if not model:
        raise PlaygroundError("choose a model")
    note = loading_note([model])
    if note:
        yield gr.skip(), gr.skip(), messages((note, "busy"))
    maps = zoo_attention_maps(model, prompt, layer=layer, head=head)  # layer and head checked before any model work
    if len(maps.tokens) > MAX_TOKENS:
        raise PlaygroundError(f"the prompt is {len(maps.tokens)} tokens; the heat map stays readable up to "
                              f"{MAX_TOKENS}: shorten it")
    path = plot_attention(maps, plot_path(), head=head)
    notes = model_notes([model])
    yield str(path), format_strongest_links(maps, head), messages(*((n, "info") for n in notes))


def build() -> None:
    with gr.Row():
        model = gr.Dropdown(model_choices(("chat", "base", "encoder", "architecture")), value=DEFAULT_CHAT_MODEL,
                            label="Model", scale=2)
        prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, lines=2, scale=4)
    with gr.Row():
        layer = gr.Number(label="Layer", value=0, precision=None, info="0-based; −1 = the last layer")
        head = gr.Number(label="Head", value=0, precision=None, info="0-based; −1 = the last head")
        all_heads = gr.Checkbox(label="All heads of the layer", value=False)
        button = gr.Button("Show attention", variant="primary")
    status = gr.HTML()
    with gr.Row():
        heat_map = gr.Image(label="Attention heat map (rows: query token, columns: key token)", type="filepath",
                            show_label=False, interactive=False, scale=3)
        links = gr.Textbox(label="Where each token looks most", lines=14, interactive=False, scale=2)
    button.click(show_attention, [model, prompt, layer, head, all_heads], [heat_map, links, status],
                 concurrency_id=MODEL_CONCURRENCY, api_name="attention", show_progress_on=[heat_map])
