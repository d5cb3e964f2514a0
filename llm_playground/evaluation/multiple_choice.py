"""Multiple-choice scoring by log-likelihood, `acc` and `acc_norm` exactly as lm-evaluation-harness.

For each item the model scores every choice as ln p(target_delimiter + choice | prompt) (scoring.py).
- `acc`: 1 when the choice with the highest summed log-likelihood is the right one (ties: the first);
- `acc_norm`: the same after dividing each sum by the choice's length in characters (the choice text
  without the delimiter), which removes the bias towards short answers;
- each metric's standard error is the sample standard deviation (n − 1) over √n, as lm-eval reports.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation.scoring import LoglikelihoodScorer, encode_choices
from llm_playground.evaluation.tasks import Item, Task


@dataclass
class ItemResult:
    """One item: what was asked, every choice's log-likelihood, and what the model picked."""

    index: int
    prompt: str
    choices: list[str]
    answer: int
    logprobs: list[float]
    """Summed ln p of each choice (nats)."""
    tokens: list[int]
    """Tokens of each continuation."""
    is_greedy: list[bool]
    pred: int
    pred_norm: int
    acc: float
    acc_norm: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Metric:
    name: str
    value: float
    stderr: float | None
    n: int


@dataclass
class MultipleChoiceResult:
    """A task scored on one model."""

    task: str
    model: str
    backend: str
    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def metrics(self) -> list[Metric]:
        return [Metric(name, *mean_and_stderr([getattr(item, name) for item in self.items]), len(self.items))
                for name in ("acc", "acc_norm")]

    @property
    def items_per_second(self) -> float:
        return len(self.items) / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"task": self.task, "model": self.model, "backend": self.backend, "seconds": round(self.seconds, 3),
                "metrics": [asdict(m) for m in self.metrics], "items": [item.to_dict() for item in self.items]}


def argmax(values: list[float]) -> int:
    """Index of the largest value; the first one on ties (numpy's argmax, as lm-eval uses)."""
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


def mean_and_stderr(values: list[float]) -> tuple[float, float | None]:
    """(mean, sample standard deviation / √n); the stderr is None for fewer than 2 values."""
    if not values:
        return float("nan"), None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))


def score_item(item: Item, scorer: LoglikelihoodScorer, delimiter: str = " ") -> ItemResult:
    """Score every choice of one item and decide acc / acc_norm."""
    context, continuations = encode_choices(scorer.tokenizer, item.prompt, [delimiter + c for c in item.choices])
    scores = scorer.score_choices(context, continuations)
    logprobs = [s.logprob for s in scores]
    pred = argmax(logprobs)
    pred_norm = argmax([lp / len(choice) if choice else float("-inf") for lp, choice in zip(logprobs, item.choices)])
    return ItemResult(index=item.index, prompt=item.prompt, choices=item.choices, answer=item.answer, logprobs=logprobs,
                      tokens=[len(c) for c in continuations], is_greedy=[s.is_greedy for s in scores], pred=pred,
                      pred_norm=pred_norm, acc=float(pred == item.answer), acc_norm=float(pred_norm == item.answer))


def run_multiple_choice(task: Task, scorer: LoglikelihoodScorer, *, limit: int | None = None, model: str = "",
                        progress: Callable[[int, int], None] | None = None) -> MultipleChoiceResult:
    """Score the first `limit` items of `task` (all when None); `progress(done, total)` after each."""
    items = task.items(limit)
    if not items:
        raise PlaygroundError(f"task {task.name} has no items to score")
    result = MultipleChoiceResult(task=task.name, model=model, backend=getattr(scorer, "name", ""))
    started = time.perf_counter()
    for done, item in enumerate(items, start=1):
        result.items.append(score_item(item, scorer, task.target_delimiter))
        if progress:
            progress(done, len(items))
    result.seconds = time.perf_counter() - started
    return result
