"""The one token-yielding generator. Every face (CLI streaming, web UI, API, compare, bench)
consumes it, and every probability any face shows is read from the `Step`s it yields.

    for step in generate_steps(backend, tokenizer, prompt_ids, config):
        print(step.text, end="")

Each step carries the token, its log-probability, and the top alternatives both before the
logits processors (the model's own distribution) and after them (what was sampled from).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.generation.cancel import StopSignal
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.detokenize import IncrementalDetokenizer, StopStringWatcher
from llm_playground.sampling import build_processors, make_generator, select_greedy, select_sample
from llm_playground.structured import GrammarMask


@dataclass(frozen=True)
class Alternative:
    id: int
    text: str
    prob: float


@dataclass
class Step:
    """One generated token (for a remote model whose server sends no logprobs: one streamed piece)."""

    index: int
    """0 for the first generated token."""
    id: int
    """The token id; -1 for a remote model's token (no local tokenizer)."""
    text: str
    """The text this step adds to the output (may be "" while a multi-byte character is incomplete,
    or when the token is an end-of-sequence marker)."""
    token: str
    """The token's own text (decoded alone), e.g. " Paris"."""
    logprob: float
    """log p(token) under the processed distribution it was chosen from (NaN: unknown, see `has_logprob`)."""
    raw_logprob: float
    """log p(token) under the model's own distribution, before any processor."""
    top_before: list[Alternative] = field(default_factory=list)
    top_after: list[Alternative] = field(default_factory=list)
    finish_reason: str | None = None
    """None while going on; "eos", "stop" or "length" on the last step."""
    elapsed: float = 0.0
    """Seconds since generation started (prefill included)."""
    masked_mass: float | None = None
    """With a constraint: the model's probability for the tokens the constraint ruled out at this
    step (0 = it only wanted allowed tokens, 0.9 = it wanted to go elsewhere); None without one."""
    incomplete: bool = False
    """On the last step: the output stopped (length or stop string) before the constraint was complete."""

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)

    @property
    def has_logprob(self) -> bool:
        """False for a remote model's piece whose server sent no log-probability (its logprob is NaN):
        faces say "no probability" rather than draw a number."""
        return not math.isnan(self.logprob)


def _top(logprobs: torch.Tensor, n: int, tokenizer) -> list[Alternative]:
    """The n most likely tokens of a log-probability vector (V,), as probabilities.

    Only the n chosen values are exponentiated: exp over the whole vocabulary each token would
    cost more than a fast decode step.
    """
    if n == 0:
        return []
    values, ids = logprobs.topk(min(n, logprobs.shape[-1]))
    return [Alternative(int(i), tokenizer.decode([int(i)]), float(v)) for v, i in zip(values.exp(), ids) if v > 0]


def eos_ids_of(tokenizer) -> set[int]:
    """The tokenizer's end-of-sequence id (callers with a model pass the model's full set, see
    `zoo.eos_token_ids`)."""
    eos = getattr(tokenizer, "eos_token_id", None)
    return {int(eos)} if eos is not None else set()


def bad_words_ids_of(tokenizer, words: list[str]) -> list[list[int]]:
    """Token-id sequences of each bad word, with and without a leading space (as it appears mid-text)."""
    sequences = []
    for word in words:
        for variant in (word, " " + word):
            ids = tokenizer.encode(variant, add_special_tokens=False)
            if ids and ids not in sequences:
                sequences.append(ids)
    return sequences


class SequenceDecoder:
    """Everything between one sequence's next-token logits and its `Step`: the logits processors
    (with the constraint), the strategy and its seeded RNG, the top alternatives, the incremental
    detokenizer and the stop strings.

    `generate_steps` drives one over a backend; the batching scheduler (`serving.batching`) drives
    one per request over a shared batched decode step, so both yield the very same steps.

        decoder = SequenceDecoder(tokenizer, prompt_ids, config, eos_ids=eos_ids)
        step = decoder.advance(logits)       # logits (V,) after the prompt → the first Step
        step = decoder.advance(logits)       # logits (V,) after step.id → the next one, until step.finish_reason
    """

    def __init__(self, tokenizer, prompt_ids: list[int], config: GenerationConfig, *,
                 eos_ids: set[int] | None = None, started: float | None = None) -> None:
        """
        Args:
            started: `time.perf_counter()` that `Step.elapsed` counts from (default: now).
        """
        if config.strategy == "beam":
            raise ValueError("beam search does not stream token by token; use generation.beam")
        self.tokenizer = tokenizer
        self.config = config
        self.started = time.perf_counter() if started is None else started
        self.eos_ids = eos_ids if eos_ids is not None else eos_ids_of(tokenizer)
        self.mask = GrammarMask(config.constraint, tokenizer, self.eos_ids) if config.constraint is not None else None
        self.processors = build_processors(config, bad_words_ids=bad_words_ids_of(tokenizer, config.bad_words),
                                           constraint=self.mask)
        self.rng = make_generator(config.seed) if not config.is_greedy else None
        self.generated: list[int] = []
        self.finish_reason: str | None = None
        self._detokenizer = IncrementalDetokenizer(tokenizer, prompt_ids)
        self._stops = StopStringWatcher(config.stop)
        self._ids = torch.tensor([prompt_ids], dtype=torch.long)  # (1, T) grows by one per step

    def prepare(self, vocab_size: int) -> None:
        """Compile the constraint now (else the first `advance` does), e.g. in a request's own thread."""
        if self.mask is not None:
            self.mask.prepare(vocab_size)

    @torch.inference_mode()
    def advance(self, logits: torch.Tensor) -> Step:
        """Choose the next token from the model's logits (V,) and describe it as a Step."""
        config, tokenizer, mask, index = self.config, self.tokenizer, self.mask, len(self.generated)
        if self.finish_reason is not None:
            raise PlaygroundError("this sequence has finished; start a new one")
        if index:
            self._ids = torch.cat([self._ids, torch.tensor([[self.generated[-1]]])], dim=1)
        scores = self.processors(self._ids, logits[None])[0] if self.processors else logits  # (V,)
        if mask is not None and scores.max() == -math.inf:
            raise _nothing_allowed(config, index)
        token = int(select_greedy(scores[None])[0] if self.rng is None else select_sample(scores[None], self.rng)[0])
        raw_logprobs = torch.log_softmax(logits, dim=-1)
        logprobs = raw_logprobs if scores is logits else torch.log_softmax(scores, dim=-1)  # no processor: the same
        finish = None
        if config.stop_at_eos and token in self.eos_ids:
            text, finish = self._stops.flush(), "eos"
        else:
            text, hit = self._stops.feed(self._detokenizer.add(token))
            if hit:
                finish = "stop"
            elif index == config.max_new_tokens - 1:
                text, finish = text + self._stops.feed(self._detokenizer.flush())[0] + self._stops.flush(), "length"
        self.generated.append(token)
        self.finish_reason = finish
        incomplete = finish in ("stop", "length") and mask is not None and not mask.is_complete(self.generated)
        return Step(index=index, id=token, text=text, token=tokenizer.decode([token]),
                    logprob=float(logprobs[token]), raw_logprob=float(raw_logprobs[token]),
                    top_before=_top(raw_logprobs, config.top_alternatives, tokenizer),
                    top_after=_top(logprobs, config.top_alternatives, tokenizer),
                    finish_reason=finish, elapsed=time.perf_counter() - self.started,
                    masked_mass=mask.last_masked_mass[0] if mask is not None else None, incomplete=incomplete)


@torch.inference_mode()
def generate_steps(backend, tokenizer, prompt_ids: list[int], config: GenerationConfig, *,
                   eos_ids: set[int] | None = None, signal: StopSignal | None = None) -> Iterator[Step]:
    """Yield one `Step` per generated token (greedy or sampling; beam search lives in beam.py).

    A stopped `signal` raises GenerationStopped before the next model call."""
    sequence = SequenceDecoder(tokenizer, prompt_ids, config, eos_ids=eos_ids)
    if signal is not None:
        signal.check()
    logits = backend.start(list(prompt_ids), config.max_new_tokens)  # (V,)
    while True:
        step = sequence.advance(logits)
        yield step
        if step.finish_reason:
            return
        if signal is not None:
            signal.check()
        logits = backend.step(step.id)


def _nothing_allowed(config: GenerationConfig, index: int) -> PlaygroundError:
    others = [name for name, on in (("bad_words", bool(config.bad_words)),
                                    ("no_repeat_ngram_size", config.no_repeat_ngram_size > 0)) if on]
    return PlaygroundError(f"at token {index + 1} no token satisfies both the constraint and "
                           f"{' and '.join(others) or 'the other settings'}; drop "
                           f"{' or '.join(others) or 'one of them'}")


def beam_steps(backend, tokenizer, prompt_ids: list[int], config: GenerationConfig, *,
               eos_ids: set[int], signal: StopSignal | None = None,
               on_step: Callable[[int], None] | None = None) -> Iterator[Step]:
    """Beam search, then the best hypothesis as steps (beam search cannot stream: the best beam is
    known only at the end). Each step's logprob is the processed log-probability beam search
    ranked by; `hypotheses` of the last step's run are on `beam_steps.last_hypotheses`."""
    from llm_playground.generation.beam import beam_search, stop_string_fn

    started = time.perf_counter()
    bad_words = bad_words_ids_of(tokenizer, config.bad_words)
    step_fn = backend.beam_step_fn(config.num_beams, len(prompt_ids) + config.max_new_tokens)
    mask = GrammarMask(config.constraint, tokenizer, eos_ids) if config.constraint is not None else None
    hypotheses = beam_search(step_fn, prompt_ids, config, eos_ids=eos_ids,
                             processors=build_processors(config, bad_words_ids=bad_words, constraint=mask),
                             stop_fn=stop_string_fn(lambda ids: tokenizer.decode(ids), config.stop),
                             signal=signal, on_step=on_step)
    if not hypotheses:
        raise _nothing_allowed(config, 0)
    best = hypotheses[0]
    detokenizer = IncrementalDetokenizer(tokenizer, prompt_ids)
    stops = StopStringWatcher(config.stop)
    elapsed = time.perf_counter() - started
    replay = GrammarMask(config.constraint, tokenizer, eos_ids) if config.constraint is not None else None
    per_token, masked = _beam_token_logprobs(backend, prompt_ids, best.token_ids, signal, replay)
    incomplete = (replay is not None and best.finish_reason in ("stop", "length")
                  and not replay.is_complete(best.token_ids))
    for index, token in enumerate(best.token_ids):
        last = index == len(best.token_ids) - 1
        if config.stop_at_eos and token in eos_ids:
            text = stops.flush()
        else:
            text, _ = stops.feed(detokenizer.add(token) + (detokenizer.flush() if last else ""))
            text += stops.flush() if last and best.finish_reason != "stop" else ""
        yield Step(index=index, id=token, text=text, token=tokenizer.decode([token]), logprob=per_token[index],
                   raw_logprob=per_token[index], finish_reason=best.finish_reason if last else None,
                   elapsed=elapsed, masked_mass=masked[index], incomplete=incomplete and last)


def _beam_token_logprobs(backend, prompt_ids: list[int], generated: list[int],
                         signal: StopSignal | None, mask: GrammarMask | None) -> tuple[list[float], list[float | None]]:
    """Log-probability of each token of the chosen beam under the model, re-read in one pass, and the
    mass the constraint masked before each (None without a constraint)."""
    logits = backend.start(list(prompt_ids), len(generated))
    values, masked = [], []
    ids = torch.tensor([prompt_ids], dtype=torch.long)  # (1, T) grows by one per token
    for index, token in enumerate(generated):
        values.append(float(torch.log_softmax(logits, dim=-1)[token]))
        if mask is not None:
            mask(ids, logits[None])
            masked.append(mask.last_masked_mass[0])
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        else:
            masked.append(None)
        if index < len(generated) - 1:
            if signal is not None:
                signal.check()
            logits = backend.step(token)
    return values, masked
