"""`llmpg pipeline bench --task sentiment`: every classification method on the labelled test split.

For each method: accuracy on the 60 test sentences with a 95% Wilson score interval (with 60 items
one sentence is 1.7 points, and the interval says how far a measured accuracy could be from the
true one), the confusion matrix, items per second once the model is loaded (the load, and the
head's training, timed apart), and the memory of what the method holds in the model store.
"""
from __future__ import annotations

import math
import resource
import time
from dataclasses import asdict, dataclass, field

from llm_playground.errors import PlaygroundError
from llm_playground.pipelines.data import SENTIMENT_LABELS, sentiment_set

SENTIMENT_METHODS = ("embeddings-logreg", "embeddings-zero-shot", "llm-few-shot")
METHOD_MODELS = {"embeddings-logreg": ("minilm-l6", "minilm-l6+sentiment-logreg"),
                 "embeddings-zero-shot": ("minilm-l6",), "llm-few-shot": ("smollm2-135m-instruct",)}
"""The model-store entries each method holds (their memory is what the method costs)."""


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a proportion correct/total (95% for z = 1.96).

    >>> [round(x, 3) for x in wilson_interval(45, 60)]
    [0.628, 0.842]
    """
    if total <= 0:
        raise PlaygroundError("an accuracy needs at least one item")
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class MethodScore:
    """One method's row of the bench."""

    method: str
    description: str
    accuracy: float
    interval: tuple[float, float]
    correct: int
    total: int
    items_per_second: float
    seconds: float
    """Classifying the test split, model already loaded."""
    load_seconds: float
    """First call: loading the model (and training the head)."""
    memory_bytes: int
    """What the method holds in the model store (weights, head)."""
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    """confusion[true label][predicted label] = count."""
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    """(text, true, predicted) of the misclassified sentences."""


@dataclass
class SentimentBench:
    methods: list[MethodScore]
    n_test: int
    n_train: int
    peak_rss_bytes: int
    """Peak resident memory of the whole process at the end (every method's models together)."""

    def to_dict(self) -> dict:
        return asdict(self)


def _held_bytes(models: tuple[str, ...]) -> int:
    from llm_playground import store

    return sum(row.bytes for row in store.models.held() if row.model in models and row.engine != "tokenizer")


def sentiment_bench(methods: list[str] | None = None, *, limit: int | None = None, progress: bool = True) -> SentimentBench:
    """Run each method over the test split and measure it."""
    from tqdm.auto import tqdm

    from llm_playground.pipelines.classification import METHOD_DESCRIPTIONS, classify_sentiment

    methods = list(methods or SENTIMENT_METHODS)
    for method in methods:
        if method not in SENTIMENT_METHODS:
            raise PlaygroundError(f"unknown method {method!r}; sentiment methods: {', '.join(SENTIMENT_METHODS)}")
    test = sentiment_set("test")[:limit] if limit else sentiment_set("test")
    rows = []
    for method in tqdm(methods, desc="sentiment bench", unit="method", disable=not progress):
        started = time.perf_counter()
        classify_sentiment([test[0].text], method)  # loads the model (and trains the head) once
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        output = classify_sentiment([item.text for item in test], method)
        seconds = time.perf_counter() - started
        confusion = {truth: {label: 0 for label in SENTIMENT_LABELS} for truth in SENTIMENT_LABELS}
        errors = []
        for item, prediction in zip(test, output.predictions):
            confusion[item.label][prediction.label] += 1
            if prediction.label != item.label:
                errors.append((item.text, item.label, prediction.label))
        correct = len(test) - len(errors)
        rows.append(MethodScore(method=method, description=METHOD_DESCRIPTIONS[method], accuracy=correct / len(test),
                                interval=wilson_interval(correct, len(test)), correct=correct, total=len(test),
                                items_per_second=len(test) / seconds, seconds=seconds, load_seconds=load_seconds,
                                memory_bytes=_held_bytes(METHOD_MODELS[method]), confusion=confusion, errors=errors))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    return SentimentBench(methods=rows, n_test=len(test), n_train=len(sentiment_set("train")), peak_rss_bytes=peak)


def format_sentiment_bench(bench: SentimentBench) -> str:
    """The bench as text: one row per method, then each confusion matrix."""
    from llm_playground.inspection.sizing import format_table, human_bytes

    rows = [(m.method, f"{100 * m.accuracy:.1f}%", f"{100 * m.interval[0]:.1f}–{100 * m.interval[1]:.1f}%",
             f"{m.correct}/{m.total}", f"{m.items_per_second:.3g}", f"{m.load_seconds:.1f} s", human_bytes(m.memory_bytes))
            for m in bench.methods]
    lines = [f"sentiment: {bench.n_test} test sentences (3 classes, chance 33%); heads trained on {bench.n_train}",
             format_table(rows, ("method", "accuracy", "95% interval", "correct", "items/s", "load", "memory"))]
    for m in bench.methods:
        lines.append(f"\n{m.method}: {m.description}")
        matrix = [(f"true {truth}", *(str(m.confusion[truth][label]) for label in SENTIMENT_LABELS))
                  for truth in SENTIMENT_LABELS]
        lines.append(format_table(matrix, ("", *(f"→ {label}" for label in SENTIMENT_LABELS))))
    lines.append(f"\npeak memory of this process: {human_bytes(bench.peak_rss_bytes)}")
    return "\n".join(lines)
