"""Fine-tune: pick a model, a dataset (built-in or an uploaded JSONL) and LoRA settings; see the plan
(exact parameters, memory), train with a live loss curve, then compare before and after.

Training runs the library's `finetuning.train.run` in a worker thread; the handler streams each
logged step into the curve. When it ends, the adapter is merged into a local model (listed in every
model dropdown after a reload, and by `llmpg models`) and both models answer the same held-out prompts.
"""
from __future__ import annotations

import queue
import re
import threading
import time
from pathlib import Path

import gradio as gr

from llm_playground import runtime
from llm_playground.errors import PlaygroundError
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, escape, inline_errors, message, messages,
                                      model_choices, require_number, require_text)

TITLE = "Fine-tune"
TARGET_CHOICES = ["q", "k", "v", "o", "gate", "up", "down"]
BUILT_IN = "built-in: extract (sentence → JSON)"
MAX_STEPS = 200
"""The most steps one run from the page may take (≈ 1 h on a busy laptop CPU)."""


def _lora_settings(r, alpha, targets, layers, steps, batch_size, lr) -> dict:
    if not targets:
        raise PlaygroundError("choose at least one target layer (q, k, v, o …)")
    steps = require_number(steps, "Steps", integer=True)
    if steps > MAX_STEPS:
        raise PlaygroundError(f"Steps is {steps}; the page allows at most {MAX_STEPS} (use llmpg finetune sft for more)")
    return dict(r=require_number(r, "Rank r", integer=True), alpha=require_number(alpha, "Alpha"),
                targets=",".join(targets), layers=(layers or "all").strip(), steps=steps,
                batch_size=require_number(batch_size, "Batch size", integer=True),
                lr=require_number(lr, "Learning rate"))


def _config(model, dataset, upload, settings: dict, out: str):
    from llm_playground.finetuning.config import FinetuneConfig

    model = require_text(model, "model")
    data = None
    if dataset != BUILT_IN:
        if not upload:
            raise PlaygroundError("upload a JSONL file (chat messages or prompt/completion), or pick the built-in task")
        data = upload if isinstance(upload, str) else getattr(upload, "name", str(upload))
    return FinetuneConfig(model=model, task="extract", data=data, out=out, save_every=max(1, settings["steps"]),
                          **settings)


def plan_text(model, dataset, upload, r, alpha, targets, layers, steps, batch_size, lr) -> str:
    """The plan for these settings as text (exact counts, memory per precision), without training."""
    from llm_playground.finetuning.plan import format_plan
    from llm_playground.finetuning.train import prepare

    config = _config(model, dataset, upload, _lora_settings(r, alpha, targets, layers, steps, batch_size, lr),
                     out=str(runtime.home() / "finetune-runs" / "plan"))
    prepared = prepare(config, "sft", check_memory=False)  # data, model, targets: checked, nothing loaded
    from llm_playground.finetuning.plan import make_plan

    plan = make_plan(config.model, method=config.method, r=config.r, targets=config.targets, layers=config.layers,
                     batch_size=config.batch_size, seq_len=config.max_length)
    return (f"{len(prepared.train)} training examples, {len(prepared.eval)} held-out\n\n" + format_plan(plan))


@inline_errors(2)
def show_plan(model, dataset, upload, r, alpha, targets, layers, steps, batch_size, lr):
    """Handler → (plan as preformatted HTML, status)."""
    text = plan_text(model, dataset, upload, r, alpha, targets, layers, steps, batch_size, lr)
    return f"<pre class='cmp-input'>{escape(text)}</pre>", ""


def _local_name(model: str) -> str:
    stem = re.sub(r"[^a-z0-9._-]+", "-", Path(model).name.lower()).strip("-.") or "model"
    return f"{stem[:40]}-ft-{time.strftime('%Y%m%d-%H%M%S')}"


def _curve(points: list[tuple[int, float]]):
    import pandas as pd

    return pd.DataFrame({"step": [s for s, _ in points], "loss": [l for _, l in points]})


def comparison_html(result) -> str:
    """The before/after table and side-by-side samples of a `Comparison`."""
    rows = []
    for label, side in (("before", result.before), ("after", result.after)):
        s = side.summary()
        rows.append(f"<tr><td>{label}</td><td>{escape(s['model'])}</td><td>{s['exact_match']:.1%}</td>"
                    f"<td>{s['ci95'][0]:.1%}–{s['ci95'][1]:.1%}</td><td>{s['valid_json']:.1%}</td>"
                    f"<td>{s['field_accuracy']:.1%}</td></tr>")
    low, high = result.difference_ci95
    verdict = "moved beyond its 95% interval" if result.moved else "within its 95% interval"
    samples = "".join(
        f"<div class='cmp-cell'><div class='cmp-label'>prompt</div><pre class='cmp-input'>{escape(s['prompt'])}</pre>"
        f"<div class='cmp-label'>expected</div><pre class='cmp-input'>{escape(s['expected'])}</pre>"
        f"<div class='cmp-label'>before {'✓' if s['before_exact'] else '✗'}</div><pre class='cmp-input'>"
        f"{escape(s['before'])}</pre><div class='cmp-label'>after {'✓' if s['after_exact'] else '✗'}</div>"
        f"<pre class='cmp-input'>{escape(s['after'])}</pre></div>" for s in result.samples)
    return (f"<table id='finetune-compare'><tr><th></th><th>model</th><th>exact match</th><th>95% CI</th>"
            f"<th>valid JSON</th><th>fields</th></tr>{''.join(rows)}</table>"
            f"<p>change {result.difference:+.1%} (paired 95% CI {low:+.1%} to {high:+.1%}): {verdict}</p>"
            f"<div class='cmp-grid'>{samples}</div>")


@inline_errors(3)
def train(model, dataset, upload, r, alpha, targets, layers, steps, batch_size, lr, held_out):
    """Handler, streaming → (loss curve, result HTML, status): train, merge, compare."""
    from llm_playground.finetuning.compare import compare
    from llm_playground.finetuning.merge import merge
    from llm_playground.finetuning.train import prepare, run

    held_out = require_number(held_out, "Held-out prompts", integer=True)
    if held_out < 1:
        raise PlaygroundError("Held-out prompts must be at least 1")
    name = _local_name(require_text(model, "model"))
    out = str(runtime.home() / "finetune-runs" / name)
    config = _config(model, dataset, upload, _lora_settings(r, alpha, targets, layers, steps, batch_size, lr), out)
    prepared = prepare(config, "sft")  # every check, and the memory plan, before any model loads
    yield gr.skip(), gr.skip(), message(f"loading {prepared.spec.name} and starting {config.steps} steps…", "busy")
    records: "queue.Queue" = queue.Queue()
    outcome: dict = {}
    stop = threading.Event()

    def work():
        try:
            outcome["result"] = run(prepared, progress=False, log=lambda line: None, on_log=records.put, stop=stop)
        except BaseException as error:  # handed to the handler, which re-raises it
            outcome["error"] = error
        finally:
            records.put(None)

    worker = threading.Thread(target=work, name="finetune", daemon=True)
    worker.start()
    points: list[tuple[int, float]] = []
    try:
        while (record := records.get()) is not None:
            points.append((record["step"], record["loss"]))
            speed = f", {record['tokens_per_second']:.0f} tokens/s" if record.get("tokens_per_second") else ""
            yield _curve(points), gr.skip(), message(f"step {record['step']}/{config.steps}: loss "
                                                      f"{record['loss']:.4f}{speed}", "busy")
    finally:  # Stop (or a closed page) ends the generator: tell the trainer to stop after this step
        stop.set()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    yield _curve(points), gr.skip(), message(f"merging the adapter into {name}…", "busy")
    merged = merge(out, name=name, log=lambda line: None)
    yield _curve(points), gr.skip(), message(f"comparing {prepared.spec.name} and {name} on {held_out} held-out "
                                             "prompts…", "busy")
    summary = (f"<p>trained {config.steps} steps; merged into <b>{escape(merged.name)}</b> "
               f"(max |Δlogit| {merged.max_logit_difference:.1e}); run folder {escape(out)}</p>")
    if config.data:  # no scorer is known for uploaded data: exact match needs a held-out file
        body = (f"<p>score it on held-out records with: llmpg finetune compare {escape(config.model)} "
                f"{escape(merged.name)} --data HELD_OUT.jsonl</p>")
    else:
        body = comparison_html(compare(config.model, merged.name, task="extract", limit=held_out, progress=False))
    yield _curve(points), summary + body, messages((f"done: {merged.name} is a local model now", "info"))


def build() -> None:
    with gr.Row():
        model = gr.Dropdown(model_choices(("chat", "base")), value=DEFAULT_CHAT_MODEL, label="Model", scale=2)
        dataset = gr.Radio([BUILT_IN, "upload JSONL"], value=BUILT_IN, label="Data", scale=2)
        upload = gr.File(label="JSONL (messages or prompt/completion)", file_types=[".jsonl"], scale=2)
    with gr.Row():
        r = gr.Number(label="Rank r", value=8, precision=None)
        alpha = gr.Number(label="Alpha", value=16)
        targets = gr.CheckboxGroup(TARGET_CHOICES, value=["q", "k", "v", "o"], label="Target layers")
        layers = gr.Textbox(label="Blocks with adapters", value="last:10", info="all, last:N, or 20-29")
    with gr.Row():
        steps = gr.Number(label="Steps", value=20, precision=None, info=f"1–{MAX_STEPS}")
        batch_size = gr.Number(label="Batch size", value=8, precision=None)
        lr = gr.Number(label="Learning rate", value=2e-3)
        held_out = gr.Number(label="Held-out prompts", value=10, precision=None, info="scored before and after")
    with gr.Row():
        plan_button = gr.Button("Plan")
        go = gr.Button("Train", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    status = gr.HTML()
    plan = gr.HTML(elem_id="finetune-plan")
    curve = gr.LinePlot(x="step", y="loss", title="training loss (completion tokens)", elem_id="finetune-curve")
    result = gr.HTML(elem_id="finetune-result")
    inputs = [model, dataset, upload, r, alpha, targets, layers, steps, batch_size, lr]
    plan_button.click(show_plan, inputs, [plan, status], api_name="finetune_plan")
    running = go.click(train, [*inputs, held_out], [curve, result, status], concurrency_id=MODEL_CONCURRENCY,
                       api_name="finetune_train")
    stop.click(lambda: message("stopped: the last checkpoint is kept in the run folder", "info"), None, status,
               cancels=[running], queue=False)
