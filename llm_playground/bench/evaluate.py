"""`llmpg bench multiple-choice`: multiple-choice scoring throughput, ours vs lm-evaluation-harness's HF model.

The same items of one task go through:
- lm-eval's `HFLM` (transformers' model, fp32, `loglikelihood` on one (context, " " + choice) request
  per choice: its own encoding, batching and sorting; the task framework around it is left out, which
  only favours lm-eval);
- ours: the contestant's scorer (`auto`: the fast fp32 engine for Llama models), which computes the
  context once and every choice's tokens in one batched pass;
- (unless left out) ours with lm-eval's method: one forward pass per choice on our readable engine
  (`ReferenceScorer`), which separates what sharing the context gains from what the engine gains.
Both use the same torch thread count; each side is warmed up on one item first. The benchmark also
checks that both sides pick the same answers (acc and acc_norm) item by item.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

import torch

from llm_playground.errors import PlaygroundError


@dataclass
class Row:
    name: str
    seconds: float
    items: int

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds


@dataclass
class MultipleChoiceBenchmark:
    model: str
    task: str
    items: int
    choices: int
    threads: int
    lm_eval_batch_size: int
    load_before: float
    load_after: float
    rows: list[Row] = field(default_factory=list)
    same_acc: int = 0
    same_acc_norm: int = 0
    max_logprob_difference: float = 0.0

    @property
    def ratio(self) -> float:
        return self.rows[0].seconds / self.rows[1].seconds

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": [{**asdict(r), "items_per_second": r.items_per_second} for r in self.rows],
                "ratio": self.ratio}


def run_benchmark(model: str = "smollm2-135m-instruct", *, task: str = "logiqa", items: int = 20,
                  backend: str = "auto", threads: int | None = None, lm_eval_batch_size: int = 1,
                  reference_row: bool = True, progress: bool = True) -> MultipleChoiceBenchmark:
    """Score `items` items of `task` with lm-eval's HF model and with ours; time both."""
    from llm_playground import zoo
    from llm_playground.evaluation import load_task, resolve_contestant
    from llm_playground.evaluation.multiple_choice import argmax, score_item

    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        raise PlaygroundError("the benchmark needs lm-eval: pip install lm-eval==0.4.13 (the test extra: "
                              "pip install -e '.[test]')") from None
    if items < 2:
        raise PlaygroundError(f"items must be at least 2 (got {items})")
    contestant = resolve_contestant(model if "@" in model else f"{model}@{backend}")
    chosen = load_task(task)
    batch = chosen.items(items)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    say = (lambda text: print(text, flush=True)) if progress else (lambda text: None)
    try:
        load_before = os.getloadavg()[0]
        say(f"loading lm-eval's HFLM on {zoo.model_dir(contestant.model)}")
        lm = HFLM(pretrained=str(zoo.model_dir(contestant.model)), batch_size=lm_eval_batch_size, device="cpu",
                  dtype="float32")
        scorer = contestant.scorer()

        def theirs(chunk):
            requests = [Instance(request_type="loglikelihood", doc={}, arguments=(item.prompt, " " + choice),
                                 idx=j, metadata=(chosen.name, item.index, 1))
                        for item in chunk for j, choice in enumerate(item.choices)]
            scores = lm.loglikelihood(requests, disable_tqdm=True)
            out, start = [], 0
            for item in chunk:
                out.append([float(s[0]) for s in scores[start:start + len(item.choices)]])
                start += len(item.choices)
            return out

        say("warming up both sides on one item")
        theirs(batch[:1])
        score_item(batch[0], scorer)
        say(f"lm-eval HFLM: {len(batch)} items")
        started = time.perf_counter()
        their_logprobs = theirs(batch)
        their_seconds = time.perf_counter() - started
        say(f"ours ({contestant.label}): {len(batch)} items")
        started = time.perf_counter()
        ours = [score_item(item, scorer) for item in batch]
        our_seconds = time.perf_counter() - started
        extra = []
        if reference_row:
            from llm_playground.evaluation.scoring import ReferenceScorer
            from llm_playground.generation.backends import native_model

            native = native_model(contestant.model)
            reference = ReferenceScorer(lambda ids: native(torch.tensor([ids]))[0][0], scorer.tokenizer,
                                        native.config.block_size)
            say(f"ours, one forward pass per choice (lm-eval's method on our readable engine): {len(batch)} items")
            started = time.perf_counter()
            for item in batch:
                score_item(item, reference)
            extra.append(Row("ours: readable engine, one pass per choice", time.perf_counter() - started, len(batch)))
        result = MultipleChoiceBenchmark(
            model=contestant.label, task=chosen.name, items=len(batch), choices=sum(len(i.choices) for i in batch),
            threads=torch.get_num_threads(), lm_eval_batch_size=lm_eval_batch_size, load_before=load_before,
            load_after=os.getloadavg()[0],
            rows=[Row(f"lm-eval HFLM (batch {lm_eval_batch_size})", their_seconds, len(batch)),
                  Row(f"ours: {contestant.label}, shared context", our_seconds, len(batch)), *extra])
        for item, mine, lls in zip(batch, ours, their_logprobs):
            result.same_acc += argmax(lls) == mine.pred
            normalised = [ll / len(choice) for ll, choice in zip(lls, item.choices)]
            result.same_acc_norm += argmax(normalised) == mine.pred_norm
            result.max_logprob_difference = max(result.max_logprob_difference,
                                                max(abs(a - b) for a, b in zip(lls, mine.logprobs)))
        return result
    finally:
        torch.set_num_threads(previous_threads)


def format_benchmark(result: MultipleChoiceBenchmark) -> str:
    lines = [f"{result.task}: {result.items} items, {result.choices} choices, {result.model}, {result.threads} threads; "
             f"load average {result.load_before:.2f} → {result.load_after:.2f}",
             f"{'scorer':<52} {'seconds':>8} {'items/s':>8}"]
    for row in result.rows:
        lines.append(f"{row.name:<52} {row.seconds:>8.2f} {row.items_per_second:>8.3f}")
    lines += [f"ratio (ours / lm-eval items per second): {result.ratio:.2f}×",
              f"same acc pick on {result.same_acc}/{result.items} items, same acc_norm pick on "
              f"{result.same_acc_norm}/{result.items}; largest log-likelihood difference {result.max_logprob_difference:.2e}"]
    return "\n".join(lines)
