"""Inspect: a zoo model's architecture tree with parameter counts, its memory at a chosen context
length, and a form that sizes any transformer from its dimensions."""
from __future__ import annotations

import dataclasses

import gradio as gr

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.inspection.counts import format_tree, inspect_model, model_dimensions, module_tree
from llm_playground.inspection.sizing import (PRESETS, human_bytes, human_count, human_flops, memory_report,
                                              parameter_breakdown, preset)
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, conversion_note, inline_errors,
                                      messages, model_choices, model_notes, require_number)

TITLE = "Inspect"
SIZE_FIELDS = ("n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "vocab_size", "context_length")
"""The dimensions the "size any model" form asks for, in form order."""
SIZE_LABELS = ("Layers", "d_model", "Heads", "KV heads", "d_ff", "Vocabulary", "Context length")
DEFAULT_PRESET = "llama2-7b"
MAX_CONTEXT = 10_000_000
"""The longest context the memory table sizes (10 M tokens: beyond any model's window today)."""


def notes_markdown(notes: list[str]) -> str:
    return "\n\n" + "\n".join(f"- {note}" for note in notes) if notes else ""


def counts_rows(by_kind: dict[str, int]) -> list[list]:
    total = sum(by_kind.values())
    rows = [[kind, f"{count:,}", f"{100 * count / total:.1f}%"] for kind, count in by_kind.items() if count]
    return rows + [["total", f"{total:,}", f"≈ {human_count(total)}"]]


def memory_rows(memory: dict) -> list[list]:
    """`MemoryReport.to_dict()` as (what, size) rows: weights per dtype, KV cache, training, FLOPs."""
    rows = [[f"weights, {dtype}", human_bytes(size)] for dtype, size in memory["weights_bytes"].items()]
    for dtype, per_token in memory["kv_cache_bytes_per_token"].items():
        rows.append([f"KV cache, {dtype}, per token", human_bytes(per_token)])
        rows.append([f"KV cache, {dtype}, at {memory['context_length']:,} tokens",
                     human_bytes(memory["kv_cache_bytes_full_context"][dtype])])
    rows.append(["training, fp32 AdamW (no activations)", human_bytes(memory["training_bytes"])])
    rows.append(["forward FLOPs per token ≈ 2N", human_flops(memory["forward_flops_per_token"])])
    rows.append(["training FLOPs per token ≈ 6N", human_flops(memory["training_flops_per_token"])])
    return rows


@inline_errors(5)
def inspect_zoo_model(name: str, context_length):
    """Handler (streaming: a note first when the model must be converted) → (summary, tree, counts,
    memory, status). The architecture is built on the meta device: no weights are loaded."""
    if not name:
        raise PlaygroundError("choose a model")
    spec = zoo.resolve(name)
    context = None
    if context_length not in (None, ""):
        context = require_number(context_length, "Context length", integer=True)
        if not 1 <= context <= MAX_CONTEXT:
            raise PlaygroundError(f"Context length must be between 1 and {MAX_CONTEXT:,} tokens (got {context:,})")
    note = conversion_note([name])
    if note:
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), messages((note, "busy"))
    model = zoo.meta_model(spec)
    report = inspect_model(model, spec.name)
    dims = model_dimensions(model)
    notes = list(model_notes([name]))
    memory = report["memory"]
    if dims is not None and context is not None:
        memory = memory_report(report["total_parameters"], dataclasses.replace(dims, context_length=context)).to_dict()
        if context > spec.context_length:
            notes.append(f"{context:,} tokens is longer than {spec.name}'s context window "
                         f"({spec.context_length:,}); the KV cache figure is hypothetical")
    summary = (f"**{spec.name}** ({spec.label}, {report['class']}, {spec.architecture}): "
               f"**{report['total_parameters']:,}** parameters (≈ {human_count(report['total_parameters'])}), "
               f"context window {spec.context_length:,} tokens. {spec.description}.")
    if report["tied"]:
        summary += " Tied: " + "; ".join(f"`{alias}` is `{owner}` (counted once)" for alias, owner in report["tied"].items())
    summary += notes_markdown(memory["notes"])
    tree = format_tree(module_tree(model), max_depth=4)
    yield summary, tree, counts_rows(report["parameters_by_kind"]), memory_rows(memory), messages(*((n, "info") for n in notes))


def preset_values(name: str) -> list:
    """The form's numbers for a preset (handler for the preset dropdown)."""
    dims = PRESETS[name]
    return [getattr(dims, field) for field in SIZE_FIELDS]


@inline_errors(4)
def size_any_model(preset_name: str, *values):
    """Handler: the typed dimensions (on top of a preset's architectural choices) → (summary,
    counts, memory, status)."""
    if preset_name not in PRESETS:
        raise PlaygroundError(f"choose an architecture to start from ({', '.join(PRESETS)})")
    typed = {field: require_number(value, label, integer=True)
             for field, label, value in zip(SIZE_FIELDS, SIZE_LABELS, values)}
    changed = {field: value for field, value in typed.items() if value != getattr(PRESETS[preset_name], field)}
    if "n_head" in changed:  # keep the KV heads the form shows (preset() would reset them to n_head)
        changed["n_kv_head"] = typed["n_kv_head"]
    dims = preset(preset_name, **changed)
    breakdown = parameter_breakdown(dims)
    total = sum(breakdown.values())
    memory = memory_report(total, dims)
    summary = (f"**{dims.name}**: **{total:,}** parameters (≈ {human_count(total)}) — {dims.n_layer} layers, "
               f"d_model {dims.d_model}, {dims.n_head} heads × {dims.head_dim} ({dims.n_kv_head} KV heads), "
               f"d_ff {dims.d_ff}, vocabulary {dims.vocab_size:,}, {dims.mlp} MLP, {dims.norm}, "
               f"{dims.position} positions{', tied embeddings' if dims.tied_embeddings else ''}.")
    return summary + notes_markdown(memory.notes), counts_rows(breakdown), memory_rows(memory.to_dict()), ""


def build() -> None:
    with gr.Row():
        model = gr.Dropdown(model_choices(("chat", "base", "encoder", "architecture")), value=DEFAULT_CHAT_MODEL,
                            label="Model", scale=3)
        context = gr.Number(label="Context length for the KV cache (tokens)", value=2048, precision=None, scale=2)
        button = gr.Button("Inspect", variant="primary", scale=1)
    status = gr.HTML()
    summary = gr.Markdown()
    with gr.Row():
        tree = gr.Code(label="Architecture tree (parameters per module)", language=None, lines=20, scale=3)
        with gr.Column(scale=2):
            counts = gr.Dataframe(headers=["kind", "parameters", "share"], label="Parameters by kind", interactive=False)
            memory = gr.Dataframe(headers=["what", "size"], label="Memory and compute", interactive=False)
    gr.on([button.click, model.input], inspect_zoo_model, [model, context], [summary, tree, counts, memory, status],
          show_progress_on=[tree],
          concurrency_id=MODEL_CONCURRENCY, api_name="inspect")

    gr.Markdown("### Size any model\nType the dimensions from a model card; the architectural choices "
                "(MLP kind, norms, positions, tied head) come from the architecture you start from.")
    with gr.Row():
        start = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Start from", scale=1)
        size_inputs = [gr.Number(label=label, value=value, precision=None, min_width=110)
                       for label, value in zip(SIZE_LABELS, preset_values(DEFAULT_PRESET))]
    size_button = gr.Button("Size it")
    size_status = gr.HTML()
    size_summary = gr.Markdown()
    with gr.Row():
        size_counts = gr.Dataframe(headers=["kind", "parameters", "share"], label="Parameters by kind (sized)",
                                   interactive=False)
        size_memory = gr.Dataframe(headers=["what", "size"], label="Memory and compute (sized)", interactive=False)
    start.input(preset_values, start, size_inputs)
    size_button.click(size_any_model, [start, *size_inputs], [size_summary, size_counts, size_memory, size_status],
                      api_name="size_model")
