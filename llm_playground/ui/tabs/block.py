"""Block walk: one block of a decoder, an encoder or an encoder-decoder, step by step with shapes,
checked against the model's own output; and the three families side by side."""
from __future__ import annotations

import gradio as gr

from llm_playground.errors import PlaygroundError
from llm_playground.inspection.encoder_walk import FamilyWalk, WalkSection, step_rows, walk_any
from llm_playground.inspection.families import ENCODER_DECODER_MODELS, family_table_dicts
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, escape, inline_errors, model_notes,
                                      loading_note, messages, model_choices, require_text)

TITLE = "Block"
DEFAULT_PROMPT = "The cat sat on the mat."
FAMILY_COLUMNS = ["family", "example", "weights", "layers", "d_model", "parameters", "attention", "positions", "output",
                  "tasks"]


def model_options() -> list[tuple[str, str]]:
    """Every zoo model, then the random-weight encoder-decoders."""
    return [*model_choices(("chat", "base", "encoder", "architecture")),
            *[(f"{name} — encoder-decoder, architecture only, random weights", name) for name in ENCODER_DECODER_MODELS]]


def family_rows() -> list[list]:
    rows = family_table_dicts()
    return [[f"{row[c]:,}" if c == "parameters" else row[c] for c in FAMILY_COLUMNS] for row in rows]


def _cell(text) -> str:
    return escape(str(text)).replace("|", "&#124;")


def section_markdown(title: str, section: WalkSection | None, steps=None) -> str:
    """One section as a markdown table with its check line."""
    rows = step_rows(steps if steps is not None else section.steps)
    lines = [f"#### {escape(title)}", "", "| step | shape | dims | rms | note |", "|---|---|---|---|---|"]
    lines += [f"| {_cell(r['step'])} | `{r['shape']}` | {_cell(r['dims'])} | {r['rms']} | {_cell(r['note'])} |"
              for r in rows]
    if section is not None and section.max_abs_diff is not None:
        lines += ["", f"hand walk vs `{section.reference}`: max |difference| = **{section.max_abs_diff:.2e}**"]
    return "\n".join(lines)


def walk_markdown(walk) -> str:
    """A BlockWalk (decoder) or FamilyWalk (encoder, encoder-decoder) as markdown."""
    tokens = " · ".join(f"`{escape(t)}`" for t in walk.tokens)
    if isinstance(walk, FamilyWalk):
        parts = [f"**{walk.model}** ({walk.family}), {len(walk.ids)} tokens: {tokens}"]
        if walk.family == "encoder-decoder":
            parts.append("decoder input: " + " · ".join(f"`{escape(t)}`" for t in walk.target_tokens))
        parts += [section_markdown(section.title, section) for section in walk.sections]
        return "\n\n".join(parts)
    c = walk.config
    header = (f"**{walk.model}** (decoder-only): {c['n_layer']} layers, C={c['n_embd']}, nh={c['n_head']}, "
              f"nkv={c['n_kv_head']}, hs={c['head_dim']}; {len(walk.ids)} tokens: {tokens}")
    check = f"hand walk vs `model.blocks[0](x)`: max |difference| = **{walk.max_abs_diff_vs_block:.2e}**"
    residual = "\n".join(["#### residual stream: L2 norm per token", "", "| after | mean | first token | last token |",
                          "|---|---|---|---|", *(f"| {r.label} | {r.mean_norm:.2f} | {r.first_norm:.2f} | "
                                                f"{r.last_norm:.2f} |" for r in walk.residual)])
    return "\n\n".join([header, section_markdown("embeddings and block 0 (causal self-attention)", None, walk.steps),
                         check, residual])


@inline_errors(2)
def walk_block(model: str, prompt: str, target: str):
    """Handler (streaming: a loading note first) → (walk markdown, status)."""
    if not model:
        raise PlaygroundError("choose a model")
    prompt = require_text(prompt)
    if model not in ENCODER_DECODER_MODELS:
        note = loading_note([model])
        if note:
            yield gr.skip(), messages((note, "busy"))
    walk = walk_any(model, prompt, target if model in ENCODER_DECODER_MODELS else "")
    notes = list(model_notes([model])) if model not in ENCODER_DECODER_MODELS else []
    notes += getattr(walk, "notes", [])
    yield walk_markdown(walk), messages(*((note, "info") for note in notes))


def build() -> None:
    gr.Markdown("Three families of transformers. An **encoder** (MiniLM) lets every token see every token; a "
                "**decoder** (SmolLM2, Gemma) lets a token see only the ones before it; an **encoder-decoder** (T5) "
                "reads the source with an encoder and writes the target with a decoder whose cross-attention reads "
                "the encoder's output. T5's trained weights are not installable offline: its architecture is built "
                "by transformers with random weights (exact shapes and counts, meaningless numbers).")
    gr.Dataframe(value=family_rows(), headers=FAMILY_COLUMNS, label="The three families", interactive=False,
                 wrap=True)
    with gr.Row():
        model = gr.Dropdown(model_options(), value=DEFAULT_CHAT_MODEL, label="Model", scale=2)
        prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, scale=3)
        target = gr.Textbox(label="Target (T5 decoder input)", value="", placeholder="default: the first words",
                            scale=2)
    button = gr.Button("Walk the block", variant="primary")
    status = gr.HTML()
    output = gr.Markdown(elem_id="block-walk")
    button.click(walk_block, [model, prompt, target], [output, status], concurrency_id=MODEL_CONCURRENCY,
                 api_name="block_walk")
