"""Before/after: the same held-out prompts through two models, the task metric with its confidence
interval, the paired difference with its own, and side-by-side samples.

Replies come from the one generator (`generation.api.generate`, greedy). Intervals are 95 %:
Wilson's score interval for each model's accuracy, and for the paired difference (same prompts,
two models) a percentile bootstrap over prompts (10,000 resamples, seeded). "The metric moved" means
the difference's interval excludes 0.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from llm_playground.errors import PlaygroundError
from llm_playground.finetuning.data import Example, read_jsonl
from llm_playground.finetuning.tasks import Score, exact_match_score, get_task

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_bootstrap_interval(before: list[int], after: list[int], resamples: int = 10_000,
                              seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of mean(after − before) over prompts resampled with replacement."""
    differences = [a - b for a, b in zip(after, before)]
    n = len(differences)
    if n == 0:
        return (0.0, 0.0)
    rng = random.Random(seed)
    means = sorted(sum(differences[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return (means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1])


@dataclass
class ModelScores:
    model: str
    replies: list[str]
    scores: list[Score]
    seconds: float

    @property
    def exact(self) -> list[int]:
        return [int(s.exact) for s in self.scores]

    def summary(self) -> dict:
        n = len(self.scores)
        hits = sum(self.exact)
        low, high = wilson_interval(hits, n)
        return {"model": self.model, "n": n, "exact_match": hits / n if n else 0.0, "ci95": [low, high],
                "valid_json": sum(s.valid_json for s in self.scores) / n if n else 0.0,
                "field_accuracy": (sum(s.fields_correct for s in self.scores) / sum(s.fields for s in self.scores)
                                   if n else 0.0), "seconds": round(self.seconds, 1)}


@dataclass
class Comparison:
    task: str
    before: ModelScores
    after: ModelScores
    examples: list[Example]
    difference: float = 0.0
    difference_ci95: tuple[float, float] = (0.0, 0.0)
    samples: list[dict] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        """The difference's 95 % interval excludes zero."""
        low, high = self.difference_ci95
        return low > 0 or high < 0

    def to_dict(self) -> dict:
        return {"task": self.task, "before": self.before.summary(), "after": self.after.summary(),
                "difference": self.difference, "difference_ci95": list(self.difference_ci95),
                "moved_beyond_ci": self.moved, "samples": self.samples}

    def report(self) -> str:
        rows = []
        for label, side in (("before", self.before), ("after", self.after)):
            s = side.summary()
            rows.append(f"{label:6} {s['model']:28} exact match {s['exact_match']:6.1%} "
                        f"(95% CI {s['ci95'][0]:.1%}–{s['ci95'][1]:.1%}), valid JSON {s['valid_json']:.1%}, "
                        f"fields {s['field_accuracy']:.1%}  [{s['n']} prompts, {s['seconds']:.0f} s]")
        low, high = self.difference_ci95
        rows.append(f"change {self.difference:+.1%} (paired 95% CI {low:+.1%} to {high:+.1%}): "
                    + ("moved beyond its confidence interval" if self.moved else "within its confidence interval"))
        for sample in self.samples:
            rows.append(f"\nprompt:   {sample['prompt']}\nexpected: {sample['expected']}\n"
                        f"before:   {sample['before']!r}\nafter:    {sample['after']!r}")
        return "\n".join(rows)


def held_out(task: str | None, data: str | None, limit: int, train_examples: int = 400,
             eval_examples: int = 50) -> tuple[str, list[Example], object]:
    """(name, examples, scorer): a built-in task's held-out set, or a JSONL file scored by exact match."""
    if data:
        examples = read_jsonl(data, "sft")
        return data, examples[:limit], exact_match_score
    if not task:
        raise PlaygroundError("give a built-in task (extract) or held-out data (a JSONL file)")
    spec = get_task(task)
    return task, spec.make(train_examples, eval_examples)[1][:limit], spec.score


def _generate(model: str, example: Example, max_new_tokens: int) -> str:
    from llm_playground import zoo
    from llm_playground.generation import GenerationConfig, Message, generate

    config = GenerationConfig(max_new_tokens=max_new_tokens, strategy="greedy")
    if example.is_chat:
        if zoo.resolve(model).kind != "chat":
            text = "\n".join(m["content"] for m in example.prompt) + "\n"
            return generate(model, text, config).text
        return generate(model, [Message(m["role"], m["content"]) for m in example.prompt], config).text
    return generate(model, example.prompt, config, raw=True).text


def compare(before: str, after: str, *, task: str | None = "extract", data: str | None = None, limit: int = 50,
            max_new_tokens: int = 48, samples: int = 4, progress: bool = True, on_item=None) -> Comparison:
    """Score `before` and `after` on the same held-out prompts (greedy); see the module docstring."""
    import time

    from tqdm.auto import tqdm

    from llm_playground import zoo

    if limit < 1:
        raise PlaygroundError(f"limit must be at least 1 (got {limit})")
    for name in (before, after):
        spec = zoo.resolve(name)
        if not spec.generates:
            raise PlaygroundError(f"{spec.name} is an encoder; compare two text-generating models")
    name, examples, scorer = held_out(task, data, limit)
    results = []
    for model in (before, after):
        replies, scores = [], []
        started = time.perf_counter()
        for example in tqdm(examples, desc=f"scoring {model}", unit="prompt", disable=not progress):
            reply = _generate(model, example, max_new_tokens)
            replies.append(reply)
            scores.append(scorer(reply, example.completion))
            if on_item is not None:
                on_item(model, len(replies), len(examples))
        results.append(ModelScores(model=model, replies=replies, scores=scores,
                                   seconds=time.perf_counter() - started))
    comparison = Comparison(task=name, before=results[0], after=results[1], examples=examples)
    n = len(examples)
    comparison.difference = (sum(results[1].exact) - sum(results[0].exact)) / n
    comparison.difference_ci95 = paired_bootstrap_interval(results[0].exact, results[1].exact)
    comparison.samples = [{"prompt": e.prompt[-1]["content"] if e.is_chat else e.prompt, "expected": e.completion,
                           "before": results[0].replies[i], "after": results[1].replies[i],
                           "before_exact": results[0].scores[i].exact, "after_exact": results[1].scores[i].exact}
                          for i, e in enumerate(examples[:samples])]
    return comparison


def compare_preferences(before: str, after: str, pairs_path: str, *, limit: int = 50, progress: bool = True) -> dict:
    """Preference accuracy of both models on the same held-out pairs, with the paired difference's interval."""
    from llm_playground.finetuning.pairs import preference_accuracy

    pairs = read_jsonl(pairs_path, "preference")[:limit]
    results = [preference_accuracy(model, pairs, progress=progress) for model in (before, after)]
    difference = results[1]["accuracy"] - results[0]["accuracy"]
    low, high = paired_bootstrap_interval(results[0]["wins"], results[1]["wins"])
    lines = [f"{label:6} {r['model']:28} preference accuracy {r['accuracy']:6.1%} (95% CI {r['ci95'][0]:.1%}–"
             f"{r['ci95'][1]:.1%}), mean log-prob margin {r['mean_margin']:+.3f}  [{r['pairs']} pairs]"
             for label, r in zip(("before", "after"), results)]
    moved = low > 0 or high < 0
    lines.append(f"change {difference:+.1%} (paired 95% CI {low:+.1%} to {high:+.1%}): "
                 + ("moved beyond its confidence interval" if moved else "within its confidence interval"))
    return {"before": results[0], "after": results[1], "difference": difference, "difference_ci95": [low, high],
            "moved_beyond_ci": moved, "report": "\n".join(lines)}
