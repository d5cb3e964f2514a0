"""`llmpg bench constrained`: decode speed with and without a JSON-schema constraint, in one run.

Same prompt, same backend, greedy, batch 1, same thread count. The constrained row runs first and
ends where its JSON is complete; the unconstrained row then makes exactly as many tokens
(end-of-sequence ignored), so both decode the same number of steps. Rows alternate and each keeps
its best of `repeats`. Also timed: preparing the engine's view of the vocabulary (once per
tokenizer), compiling the schema (once per tokenizer and schema), and a cache hit.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

SCHEMA = {
    "type": "object",
    "properties": {"people": {"type": "array", "minItems": 5, "maxItems": 5, "items": {
        "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                         "city": {"type": "string"}},
        "required": ["name", "age", "city"], "additionalProperties": False}}},
    "required": ["people"], "additionalProperties": False,
}
PROMPT = "List five fictional people as JSON, each with a name, an age and a city."
SYSTEM = "You are a JSON API. Respond with valid JSON only."


@dataclass
class ConstrainedRun:
    constrained: bool
    tokens: int
    decode_tokens_per_second: float
    """Best over the repeats: (tokens − 1) ÷ (time of the last token − time of the first)."""
    text: str = ""


@dataclass
class ConstrainedBenchmark:
    model: str
    backend: str
    threads: int
    repeats: int
    vocabulary_seconds: float
    """Building the grammar engine's view of the vocabulary (first constraint on this tokenizer)."""
    compile_seconds: float
    """Compiling the schema for that vocabulary (first use)."""
    cached_compile_seconds: float
    """The same constraint again (a cache hit)."""
    load_average: list[float]
    runs: list[ConstrainedRun] = field(default_factory=list)
    valid: bool = False
    """The constrained output parsed and validated against the schema."""

    @property
    def ratio(self) -> float:
        constrained, free = self.runs
        return constrained.decode_tokens_per_second / free.decode_tokens_per_second if free.decode_tokens_per_second else 0.0

    @property
    def overhead_ms_per_token(self) -> float:
        constrained, free = self.runs
        return 1000 * (1 / constrained.decode_tokens_per_second - 1 / free.decode_tokens_per_second)

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": round(self.ratio, 4), "overhead_ms_per_token": round(self.overhead_ms_per_token, 3)}


def _decode_speed(completion) -> float:
    steps = completion.steps
    decode_time = steps[-1].elapsed - steps[0].elapsed
    return (len(steps) - 1) / decode_time if len(steps) > 1 and decode_time > 0 else 0.0


def run_benchmark(model: str = "smollm2-135m-instruct", *, backend: str = "fast", repeats: int = 3,
                  max_new_tokens: int = 200, threads: int | None = None, progress: bool = True) -> ConstrainedBenchmark:
    import torch

    from llm_playground import zoo
    from llm_playground.generation import GenerationConfig, collect, start_generation
    from llm_playground.structured import Constraint, compile_constraint, validation_error
    from llm_playground.structured.engine import engine_vocabulary

    if threads:
        torch.set_num_threads(threads)
    constraint = Constraint("json_schema", SCHEMA)
    tokenizer = zoo.load_tokenizer(model)
    eos_ids = zoo.eos_token_ids(model)
    vocab_size = _vocab_size(model)
    started = time.perf_counter()
    engine_vocabulary(tokenizer, vocab_size, eos_ids)
    vocabulary_seconds = time.perf_counter() - started
    started = time.perf_counter()
    compile_constraint(constraint, tokenizer, vocab_size=vocab_size, eos_ids=eos_ids)
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    compile_constraint(constraint, tokenizer, vocab_size=vocab_size, eos_ids=eos_ids)
    cached_seconds = time.perf_counter() - started

    load_before = os.getloadavg()[0]
    constrained_config = GenerationConfig(max_new_tokens=max_new_tokens, constraint=constraint)
    best = {True: ConstrainedRun(True, 0, 0.0), False: ConstrainedRun(False, 0, 0.0)}
    for round_ in range(repeats):
        completion = collect(start_generation(model, PROMPT, constrained_config, system=SYSTEM, backend=backend))
        tokens = len(completion.steps)
        speed = _decode_speed(completion)
        if speed > best[True].decode_tokens_per_second:
            best[True] = ConstrainedRun(True, tokens, speed, completion.text)
        free_config = GenerationConfig(max_new_tokens=tokens, stop_at_eos=False)
        free = collect(start_generation(model, PROMPT, free_config, system=SYSTEM, backend=backend))
        speed_free = _decode_speed(free)
        if speed_free > best[False].decode_tokens_per_second:
            best[False] = ConstrainedRun(False, len(free.steps), speed_free, free.text)
        if progress:
            print(f"round {round_ + 1}/{repeats}: constrained {speed:.1f} tok/s, unconstrained {speed_free:.1f} tok/s "
                  f"({tokens} tokens)", flush=True)
    valid = (not completion.incomplete) and validation_error(constraint, best[True].text) is None
    return ConstrainedBenchmark(model=zoo.resolve(model).name, backend=backend, threads=torch.get_num_threads(),
                                repeats=repeats, vocabulary_seconds=vocabulary_seconds,
                                compile_seconds=compile_seconds, cached_compile_seconds=cached_seconds,
                                load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                                runs=[best[True], best[False]], valid=valid)


def _vocab_size(model: str) -> int:
    """The number of logits the model produces (its config's vocab_size)."""
    import json

    from llm_playground import zoo

    config = json.loads((zoo.model_dir(model) / "config.json").read_text())
    return int(config.get("vocab_size") or config.get("text_config", {}).get("vocab_size"))


def format_benchmark(result: ConstrainedBenchmark) -> str:
    constrained, free = result.runs
    lines = [
        f"constrained decoding on {result.model}, {result.backend} backend, greedy, {result.threads} threads, "
        f"best of {result.repeats}",
        f"  grammar engine's view of the vocabulary: {result.vocabulary_seconds:.2f} s (once per tokenizer)",
        f"  compiling the JSON schema: {result.compile_seconds * 1000:.1f} ms; again (cached): "
        f"{result.cached_compile_seconds * 1000:.3f} ms",
        f"  unconstrained: {free.decode_tokens_per_second:7.1f} tok/s over {free.tokens} tokens",
        f"  constrained:   {constrained.decode_tokens_per_second:7.1f} tok/s over {constrained.tokens} tokens "
        f"({'valid JSON' if result.valid else 'NOT valid'})",
        f"  ratio constrained / unconstrained: {result.ratio:.3f}  (overhead {result.overhead_ms_per_token:+.2f} ms a token; "
        f"target ≥ 0.9)",
        f"  load average (1 min) before/after: {result.load_average[0]} / {result.load_average[1]}",
    ]
    return "\n".join(lines)
