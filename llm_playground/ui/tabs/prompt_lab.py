"""Prompt lab: try a prompt template with a technique and a constraint on one input, then measure the
techniques on a whole task set (accuracy with 95% intervals, valid answers, tokens, seconds), as the
table and the chart fill in. Everything is `llm_playground.prompting`; this file only draws it.
"""
from __future__ import annotations

import time

import gradio as gr

from llm_playground import runtime, zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation import Completion, start_generation
from llm_playground.prompting import (BUILTIN, DEFAULT_TEMPLATE, TECHNIQUES, LabConfig, PromptSettings, PromptTemplate,
                                      TaskItem, iter_lab, load_task, make_technique, plot_run, prepare, save_run)
from llm_playground.prompting.techniques import build_prompt, max_new_tokens
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, escape, inline_errors, loading_note,
                                      messages, model_choices, require_number, require_text)
from llm_playground.ui.tabs.generate import CONSTRAINT_CHOICES, constraint_from_picker, stats_text, tokens_html

TITLE = "Prompt lab"
ANSWER_SHAPE = "the answer's shape (task)"
LAB_CONSTRAINTS = [ANSWER_SHAPE, *CONSTRAINT_CHOICES]
CHART_EVERY = 5
"""Redraw the chart after this many items (and at the end)."""


def parse_variables(text: str | None) -> dict[str, str]:
    """`name=value` lines → {name: value}."""
    variables = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise PlaygroundError(f"variables line {number} needs the form name=value (got {line.strip()!r})")
        variables[name.strip()] = value.strip()
    return variables


def _settings(template: str, system: str | None, variables: str) -> PromptSettings:
    return PromptSettings(template=PromptTemplate(template or ""), system=(system or None) and system,
                          variables=parse_variables(variables))


def first_input(task_name: str) -> str:
    """The task's first scored input (what the Input box shows when a task is picked)."""
    try:
        return load_task(task_name).items[0].input
    except PlaygroundError:
        return ""


@inline_errors(5)
def try_prompt(model: str, task_name: str, technique_name: str, constraint_kind: str, constraint_value: str,
               system: str, template: str, variables: str, shots, text: str):
    """Handler, streaming → (exact prompt, coloured output, stats, the answer read, status)."""
    text = require_text(text, "input")
    if not model:
        raise PlaygroundError("choose a model")
    task = load_task(task_name)
    technique = make_technique(technique_name, shots=require_number(shots, "Shots (k)", integer=True))
    settings = _settings(template, system, variables)
    settings.check(task)
    known = next((item for item in [*task.items, *task.examples] if item.input == text.strip()), None)
    item = TaskItem(id="try", input=text, answer=known.answer if known else None)
    chat = zoo.resolve(model).kind == "chat"
    prompt, system_prompt = build_prompt(chat, task, item, technique, settings)
    if constraint_kind == ANSWER_SHAPE:
        constraint = task.constraint()
    else:
        constraint = constraint_from_picker(constraint_kind, constraint_value)
        constraint = task.constraint() if constraint is None and technique.constrained else constraint
    from llm_playground.generation import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens(task, technique), stop=["\nInput:"], constraint=constraint)
    if technique.samples > 1:
        config = config.replace(strategy="sample", temperature=0.7, seed=0)
    note = loading_note([model])
    if note:
        yield "", "", "", "", messages((note, "busy"))
    run = start_generation(model, prompt, config, system=system_prompt if chat else None, raw=not chat)
    completion = Completion.of(run)
    yield run.prompt.text, "", "", "", messages(("generating…", "busy"))
    for step in run.steps:
        completion.add(step)
        yield gr.skip(), tokens_html(completion.steps), stats_text(completion), gr.skip(), gr.skip()
    predicted = task.extract(completion.text, reasoning=technique.reasoning)
    verdict = ""
    if known is not None:
        verdict = " — correct" if task.is_correct(predicted, known) else f" — expected {task.format_answer(known.answer)}"
    sampled = " (one sampled chain; the task-set run votes over n)" if technique.samples > 1 else ""
    shown = "nothing" if predicted is None else task.format_answer(predicted)
    yield (gr.skip(), gr.skip(), gr.skip(), f"answer read: `{escape(shown)}`{verdict}{sampled}",
           messages(*([("finished: " + completion.finish_text, "info")] if completion.incomplete else [])))


def table_html(run) -> str:
    rows = []
    for cell in run.cells():
        low, high = cell.interval
        rows.append(f"<tr><td>{escape(cell.model)}</td><td>{escape(cell.technique)}</td><td>{cell.items}</td>"
                    f"<td>{cell.accuracy:.1%} [{low:.0%}, {high:.0%}]</td><td>{cell.valid_rate:.0%}</td>"
                    f"<td>{cell.mean_tokens:.1f}</td><td>{cell.seconds_per_item:.2f}</td></tr>")
    head = ("<tr><th>model</th><th>technique</th><th>n</th><th>accuracy [95% CI]</th><th>valid</th>"
            "<th>tokens/item</th><th>s/item</th></tr>")
    return f'<table class="lab-table">{head}{"".join(rows)}</table>'


@inline_errors(5)
def run_task_set(model: str, task_name: str, techniques: list[str], system: str, template: str, variables: str,
                 shots, samples, limit):
    """Handler, streaming → (progress, table HTML, chart path, saved JSON path, status)."""
    if not model:
        raise PlaygroundError("choose a model")
    config = LabConfig(task=task_name, techniques=list(techniques or []), models=[model],
                       limit=require_number(limit, "Items", integer=True),
                       shots=require_number(shots, "Shots (k)", integer=True),
                       samples=require_number(samples, "Samples (n)", integer=True), template=template or "",
                       variables=parse_variables(variables), system=(system or None) and system)
    prepare(config)
    chart_path = runtime.home() / "prompt-lab" / f"ui-{time.strftime('%Y%m%d-%H%M%S')}-{task_name}.png"
    run = None
    yield "starting…", "", None, "", messages(*(((note, "busy"),) if (note := loading_note([model])) else ()))
    for update in iter_lab(config):
        run = update.run
        eta = update.run.seconds / update.done * (update.total - update.done)
        progress = f"{update.done} / {update.total} items · {update.run.seconds:.0f} s · about {eta:.0f} s left"
        chart = _image(plot_run(run, chart_path)) if update.done % CHART_EVERY == 0 else gr.skip()
        yield progress, table_html(run), chart, gr.skip(), gr.skip()
    saved = save_run(run, chart_path.with_suffix(".json"))
    yield (f"done: {len(run.items)} items in {run.seconds:.0f} s", table_html(run), _image(plot_run(run, chart_path)),
           f"{saved} (chart: {chart_path})", "")


def _image(path):
    """The chart as an image object (the page only serves files from its own folders)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.copy()


def build() -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = gr.Dropdown(model_choices(("chat", "base")), value=DEFAULT_CHAT_MODEL, label="Model")
            task = gr.Dropdown(list(BUILTIN), value="extraction", label="Task set", allow_custom_value=True,
                               info="or the path of a JSONL file of {\"input\", \"answer\"} lines")
            technique = gr.Dropdown(list(TECHNIQUES), value="zero-shot", label="Technique")
            constraint_kind = gr.Dropdown(LAB_CONSTRAINTS, value="none", label="Constraint")
            constraint_value = gr.Textbox(label="Constraint value", lines=1, placeholder="for a schema, regex, grammar "
                                                                                        "or choices of your own")
            system = gr.Textbox(label="System prompt", placeholder="(empty: the task's own)", lines=2)
            with gr.Row():
                shots = gr.Number(label="Shots (k)", value=3, precision=None, min_width=80)
                samples = gr.Number(label="Samples (n)", value=5, precision=None, min_width=80, info="self-consistency")
        with gr.Column(scale=2):
            template = gr.Textbox(label="Template (Jinja2)", value=DEFAULT_TEMPLATE, lines=9,
                                  info="variables: instruction, examples, input, reasoning, labels, and your own")
            variables = gr.Textbox(label="Variables", lines=2, placeholder="name=value, one per line")
            text = gr.Textbox(label="Input", value=first_input("extraction"), lines=2)
            try_button = gr.Button("Try it", variant="primary")
            status = gr.HTML(elem_id="lab-status")
            with gr.Accordion("Exact model input", open=False):
                prompt_shown = gr.Textbox(label="Prompt as the model sees it", lines=8, interactive=False)
            stats = gr.Markdown(elem_id="lab-stats")
            output = gr.HTML(elem_id="lab-output")
            answer = gr.Markdown(elem_id="lab-answer")
    gr.Markdown("### Run on the task set")
    with gr.Row():
        techniques = gr.CheckboxGroup(list(TECHNIQUES), value=["zero-shot", "few-shot", "constrained"], label="Techniques")
        limit = gr.Number(label="Items", value=10, precision=None, info="per technique", min_width=100)
    run_button = gr.Button("Run on the task set")
    progress = gr.Markdown(elem_id="lab-progress")
    table = gr.HTML(elem_id="lab-table")
    chart = gr.Image(label="Accuracy per technique", type="pil", interactive=False)
    saved = gr.Textbox(label="Results saved to", interactive=False)
    task.change(first_input, task, text)
    try_button.click(try_prompt, [model, task, technique, constraint_kind, constraint_value, system, template,
                                  variables, shots, text], [prompt_shown, output, stats, answer, status],
                     concurrency_id=MODEL_CONCURRENCY, api_name="prompt_lab_try")
    run_button.click(run_task_set, [model, task, techniques, system, template, variables, shots, samples, limit],
                     [progress, table, chart, saved, status], concurrency_id=MODEL_CONCURRENCY,
                     api_name="prompt_lab_run")
