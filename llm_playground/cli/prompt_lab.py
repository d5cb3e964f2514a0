"""`llmpg prompt-lab run`: measure what prompting techniques buy on a model, with exact answers."""
from __future__ import annotations

import sys

from llm_playground.cli.render import dim, print_json


def run(*, task: str = "sentiment", techniques: str = "zero-shot,few-shot,cot,constrained",
        models: str = "smollm2-135m-instruct", limit: int = 20, shots: int = 3, samples: int = 5, seed: int = 0,
        template: str | None = None, var: list[str] | None = None, system: str | None = None, backend: str = "auto",
        out: str | None = None, plot: str | None = None, json: bool = False) -> int:
    """Run every model × technique on a task set; print accuracy with its 95% interval, valid answers, tokens and seconds per item.

    Tasks: arithmetic (word problems with computed answers), sentiment (hand-labelled, three classes),
    extraction (name, age, city as JSON), or a JSONL file of {"input", "answer"} lines. Techniques:
    zero-shot, few-shot, few-shot-random, few-shot-similar, cot, self-consistency, constrained.
    Results are saved as JSON (to compare runs later) next to a PNG bar chart.

    Args:
        task: arithmetic, sentiment, extraction, or the path of a JSONL task file.
        techniques: comma-separated techniques.
        models: comma-separated models (chat or base).
        limit: items scored per model x technique (0 = all).
        shots: k of the few-shot techniques.
        samples: n sampled chains of self-consistency.
        seed: picks the items, the random examples and the sampled chains.
        template: a Jinja2 prompt template (text, or a file); variables: instruction, examples, input, reasoning, labels, and yours (--var).
        var: a template variable of your own, NAME=VALUE (repeatable).
        system: system prompt (default: the task's own; "" for none).
        backend: auto, native, hf, fast, fast-bf16, fast-int8 or fast-int4.
        out: where to save the results JSON (default: $LLMPG_HOME/prompt-lab/<time>-<task>.json).
        plot: where to write the bar chart PNG (default: next to the JSON).
        json: print the results as JSON instead of the table.
    """
    from pathlib import Path

    from llm_playground.errors import PlaygroundError
    from llm_playground.prompting import LabConfig, format_table, plot_run, prepare, run_lab, save_run
    from llm_playground.prompting.lab import default_output
    from llm_playground.prompting.techniques import DEFAULT_TEMPLATE

    variables = {}
    for entry in var or []:
        name, sep, value = entry.partition("=")
        if not sep or not name.strip():
            raise PlaygroundError(f"--var needs NAME=VALUE (got {entry!r})")
        variables[name.strip()] = value
    if template and "\n" not in template and Path(template).expanduser().is_file():
        template = Path(template).expanduser().read_text(encoding="utf-8")
    config = LabConfig(task=task, techniques=[t.strip() for t in techniques.split(",") if t.strip()],
                       models=[m.strip() for m in models.split(",") if m.strip()], limit=limit or None, shots=shots,
                       samples=samples, seed=seed, template=template or DEFAULT_TEMPLATE, variables=variables,
                       system=system, backend=backend)
    prepare(config)  # every check that needs no model, before the first one loads
    result = run_lab(config, progress=not json)
    saved = save_run(result, out or default_output(task))
    chart = plot_run(result, plot or saved.with_suffix(".png"))
    if json:
        print_json({**result.to_dict(), "saved": str(saved), "plot": str(chart)})
        return 0
    print(f"\nprompt lab: {result.task} ({result.task_kind}), {result.seconds:.0f} s")
    print(format_table(result))
    print(dim(f"results: {saved}\nchart:   {chart}"), file=sys.stderr)
    return 0


COMMANDS = {"prompt-lab": ("The prompt lab: what prompting techniques really do, measured", {"run": run})}
