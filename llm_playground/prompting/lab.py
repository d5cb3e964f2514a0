"""The prompt lab: every model × technique on a task set, scored with exact answers.

    config = LabConfig(task="sentiment", techniques=["zero-shot", "few-shot", "constrained"],
                       models=["smollm2-135m-instruct"], limit=30)
    for progress in iter_lab(config): ...          # one LabProgress per item answered (faces stream it)
    run = run_lab(config)                          # or all at once, with a tqdm bar
    print(format_table(run)); save_run(run, "lab.json"); plot_run(run, "lab.png")

Each cell reports accuracy with a 95% Wilson score interval (small samples: the interval is what
tells two techniques apart, or not), the share of answers of the right shape ("valid": a number, a
label, a record that validates), mean tokens generated and seconds per item.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llm_playground import runtime, zoo
from llm_playground.errors import PlaygroundError
from llm_playground.prompting.tasks import TaskSet, load_task
from llm_playground.prompting.techniques import (DEFAULT_TEMPLATE, TECHNIQUES, ItemResult, PromptSettings,
                                                 make_technique, run_item)
from llm_playground.prompting.templates import PromptTemplate


@dataclass
class LabConfig:
    """One prompt-lab run."""

    task: str = "sentiment"
    """arithmetic, sentiment, extraction, or the path of a JSONL task file."""
    techniques: list[str] = field(default_factory=lambda: ["zero-shot", "few-shot", "cot", "constrained"])
    """Techniques to compare: zero-shot, few-shot, few-shot-random, few-shot-similar, cot, self-consistency, constrained."""
    models: list[str] = field(default_factory=lambda: ["smollm2-135m-instruct"])
    """Models that generate (chat or base)."""
    limit: int | None = 20
    """Items scored per model × technique (None: all of them)."""
    shots: int = 3
    """k of the few-shot techniques."""
    samples: int = 5
    """n chains of self-consistency."""
    seed: int = 0
    """Picks the items (when limited), the random few-shot examples and the sampled chains."""
    template: str = DEFAULT_TEMPLATE
    """The Jinja2 prompt template (variables: instruction, examples, input, reasoning, labels, and yours)."""
    variables: dict[str, str] = field(default_factory=dict)
    """Values for template variables of your own."""
    system: str | None = None
    """System prompt; None uses the task's own, "" none."""
    backend: str = "auto"

    def __post_init__(self) -> None:
        if not self.techniques:
            raise PlaygroundError(f"choose at least one technique: {', '.join(TECHNIQUES)}")
        for name in self.techniques:
            make_technique(name)  # unknown names list the known ones
        if len(set(self.techniques)) != len(self.techniques):
            raise PlaygroundError("a technique is listed twice; list each once")
        if not self.models:
            raise PlaygroundError("choose at least one model")
        if self.limit is not None and self.limit < 1:
            raise PlaygroundError(f"limit must be at least 1 item (got {self.limit})")
        if self.shots < 1:
            raise PlaygroundError(f"shots (few-shot k) must be at least 1 (got {self.shots})")
        if self.samples < 2:
            raise PlaygroundError(f"samples (self-consistency n) must be at least 2 (got {self.samples})")


@dataclass
class CellSummary:
    """One model × technique."""

    model: str
    technique: str
    items: int
    correct: int
    valid: int
    tokens: int
    seconds: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.items)

    @property
    def valid_rate(self) -> float:
        return self.valid / self.items if self.items else 0.0

    @property
    def mean_tokens(self) -> float:
        return self.tokens / self.items if self.items else 0.0

    @property
    def seconds_per_item(self) -> float:
        return self.seconds / self.items if self.items else 0.0

    def to_dict(self) -> dict:
        low, high = self.interval
        return {"model": self.model, "technique": self.technique, "items": self.items, "correct": self.correct,
                "accuracy": round(self.accuracy, 4), "ci95": [round(low, 4), round(high, 4)],
                "valid": self.valid, "valid_rate": round(self.valid_rate, 4),
                "mean_tokens": round(self.mean_tokens, 2), "seconds_per_item": round(self.seconds_per_item, 3)}


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (sound at 0 and n successes, unlike p ± z·se).

    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class LabRun:
    """A finished (or partial) run: its config, every item's result, and a summary per cell."""

    config: LabConfig
    task: str
    task_kind: str
    items: list[ItemResult] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    def cells(self) -> list[CellSummary]:
        summaries: dict[tuple[str, str], CellSummary] = {}
        for model in self.config.models:
            for technique in self.config.techniques:
                summaries[(zoo.resolve(model).name, technique)] = CellSummary(zoo.resolve(model).name, technique,
                                                                              0, 0, 0, 0, 0.0)
        for result in self.items:
            cell = summaries[(result.model, result.technique)]
            cell.items += 1
            cell.correct += result.correct
            cell.valid += result.valid
            cell.tokens += result.tokens
            cell.seconds += result.seconds
        return list(summaries.values())

    def to_dict(self) -> dict:
        return {"task": self.task, "task_kind": self.task_kind, "config": dataclasses.asdict(self.config),
                "started": self.started, "seconds": round(self.seconds, 2),
                "cells": [cell.to_dict() for cell in self.cells()],
                "items": [dataclasses.asdict(item) for item in self.items]}


@dataclass
class LabProgress:
    """What `iter_lab` yields after each item: counts for a progress bar and the run so far."""

    done: int
    total: int
    run: LabRun
    last: ItemResult


def prepare(config: LabConfig) -> tuple[TaskSet, PromptSettings, list]:
    """Everything that needs no model, checked: the task set, the template, the models, k vs the pool."""
    task = load_task(config.task)
    settings = PromptSettings(template=PromptTemplate(config.template), system=config.system,
                              variables=dict(config.variables), backend=config.backend, seed=config.seed)
    settings.check(task)
    techniques = [make_technique(name, shots=config.shots, samples=config.samples) for name in config.techniques]
    for technique in techniques:
        if technique.shots > len(task.examples):
            raise PlaygroundError(f"few-shot k={technique.shots} is larger than the {len(task.examples)} examples "
                                  f"of the task set {task.name}; choose k ≤ {len(task.examples)}")
    for model in config.models:
        spec = zoo.resolve(model)
        if not spec.generates:
            raise PlaygroundError(f"{spec.name} is an encoder: it does not generate text; pick a chat or base model")
    return task, settings, techniques


def iter_lab(config: LabConfig) -> Iterator[LabProgress]:
    """Run the lab item by item (models outermost, so each model loads once), yielding progress."""
    task, settings, techniques = prepare(config)
    items = task.sample(config.limit, config.seed)
    run = LabRun(config=config, task=task.name, task_kind=task.kind)
    total = len(items) * len(techniques) * len(config.models)
    started = time.perf_counter()
    for model in config.models:
        for technique in techniques:
            for item in items:
                result = run_item(model, task, item, technique, settings)
                run.items.append(result)
                run.seconds = time.perf_counter() - started
                yield LabProgress(done=len(run.items), total=total, run=run, last=result)


def run_lab(config: LabConfig, *, progress: bool = True) -> LabRun:
    """The whole run, with a progress bar (items done, ETA) when `progress`."""
    from tqdm import tqdm

    task, _, techniques = prepare(config)
    total = len(task.sample(config.limit, config.seed)) * len(techniques) * len(config.models)
    run = LabRun(config=config, task=task.name, task_kind=task.kind)
    with tqdm(total=total, desc=f"prompt lab: {task.name}", unit="item", disable=not progress) as bar:
        for update in iter_lab(config):
            bar.update(1)
            bar.set_postfix_str(f"{update.last.model} × {update.last.technique}")
            run = update.run
    return run


def format_table(run: LabRun) -> str:
    """Model × technique: accuracy [95% CI], valid answers, mean tokens, seconds per item."""
    from llm_playground.cli.render import table

    rows = []
    for cell in run.cells():
        low, high = cell.interval
        rows.append({"model": cell.model, "technique": cell.technique, "n": cell.items,
                     "accuracy": f"{cell.accuracy:6.1%} [{low:.0%}, {high:.0%}]", "valid": f"{cell.valid_rate:.0%}",
                     "tokens": f"{cell.mean_tokens:.1f}", "s/item": f"{cell.seconds_per_item:.2f}"})
    return table(rows, ["model", "technique", "n", "accuracy", "valid", "tokens", "s/item"],
                 ["model", "technique", "n", "accuracy [95% CI]", "valid", "tokens/item", "s/item"])


def default_output(task: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return runtime.home() / "prompt-lab" / f"{stamp}-{Path(task).stem}.json"


def save_run(run: LabRun, path: str | os.PathLike) -> Path:
    """The run as JSON (atomic write), so runs can be compared later (`load_run`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(run.to_dict(), file, indent=2, ensure_ascii=False, default=str)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def load_run(path: str | os.PathLike) -> dict:
    """A saved run's JSON (plain data: cells and items)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PlaygroundError(f"cannot read the prompt-lab run {path}: {error}") from None


def plot_run(run: LabRun, path: str | os.PathLike) -> Path:
    """Bar chart: accuracy per technique, one bar per model, 95% intervals as error bars (PNG)."""
    import numpy as np
    from matplotlib.figure import Figure

    from llm_playground.scaling.fit import save_figure

    cells = run.cells()
    models = list(dict.fromkeys(c.model for c in cells))
    techniques = list(dict.fromkeys(c.technique for c in cells))
    figure = Figure(figsize=(max(6.0, 1.4 * len(techniques) * max(1, len(models)) ** 0.5 + 2), 4.5))
    axes = figure.add_subplot()
    width = 0.8 / len(models)
    x = np.arange(len(techniques))
    for index, model in enumerate(models):
        row = [next(c for c in cells if c.model == model and c.technique == t) for t in techniques]
        accuracy = np.array([c.accuracy for c in row])
        low = accuracy - np.array([c.interval[0] for c in row])
        high = np.array([c.interval[1] for c in row]) - accuracy
        axes.bar(x + (index - (len(models) - 1) / 2) * width, accuracy, width, yerr=[low, high], capsize=3,
                 label=model)
    axes.set_xticks(x, techniques)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("accuracy (95% Wilson interval)")
    n = max((c.items for c in cells), default=0)
    axes.set_title(f"prompt lab: {run.task} ({n} items per bar)")
    axes.legend(loc="upper left", fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)
