"""Beam search over any model, through one step function; equal to transformers' `_beam_search`.

Beam search keeps the `num_beams` best partial sequences ("beams") instead of one. At each step
every beam proposes every token; the candidates are ranked by their summed log-probability and the
best ones continue. A candidate that ends (EOS, a stop string, or max_new_tokens) is moved to a
pool of finished hypotheses, scored with a length penalty:

    score = sum of log-probs of the generated tokens / (number of generated tokens) ** length_penalty

The number of generated tokens counts the EOS token and not the prompt, as in transformers 5
(older releases also counted the prompt for decoder-only models). length_penalty > 0 favours longer
sequences, < 0 shorter ones, 0 ranks by the plain sum.

The step function
-----------------
`beam_search` never touches a model; it calls `step_fn(new_ids, parent_rows) -> logits`:

    first call:  new_ids = the prompt, LongTensor (1, T_prompt); parent_rows = None.
                 Start a fresh cache, run the prompt, return the next-token logits (1, V).
    later calls: new_ids = LongTensor (num_beams, 1), the token each beam just appended;
                 parent_rows = LongTensor (num_beams,): beam i continues row parent_rows[i] of the
                 batch of the PREVIOUS call. Reorder the KV cache first, `cache.reorder(parent_rows)`
                 (an index_select on the batch dimension; on the second call it also expands the
                 one-row prompt cache to num_beams rows), then run new_ids and return (num_beams, V).

`hf_model_step_fn(model)` implements it for a transformers model with its DynamicCache;
`recompute_step_fn(forward)` for any `forward(ids (B, T)) -> logits (B, T, V)` without a cache.

When it stops (`early_stopping`, as in transformers)
----------------------------------------------------
- True: as soon as num_beams hypotheses are finished.
- False (default): when the best running beam, scored at its current length, can no longer beat
  the worst finished hypothesis (a heuristic: with length_penalty > 0 a longer beam might).
- "never": like False, but the running beam is scored at the longest length it could reach when
  length_penalty > 0, so the search only stops when no beam can improve (canonical beam search).
And always when max_new_tokens is reached.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.sampling.builder import build_processors
from llm_playground.sampling.processors import ProcessorPipeline

if TYPE_CHECKING:
    from llm_playground.generation.cancel import StopSignal
    from llm_playground.generation.config import GenerationConfig

StepFn = Callable[[torch.LongTensor, "torch.LongTensor | None"], torch.Tensor]
"""step_fn(new_ids, parent_rows) -> next-token logits; the protocol is in the module docstring."""

EXCLUDED = -1.0e9
"""Added to the score of a beam that must not be chosen (transformers' constant; keeps sums finite)."""


@dataclass
class BeamHypothesis:
    """One finished beam."""

    token_ids: list[int]
    """The generated tokens, without the prompt; ends with the EOS token when it stopped on one."""
    score: float
    """sum_logprobs / len(token_ids) ** length_penalty; transformers' `sequences_scores`."""
    sum_logprobs: float
    """Sum of the (processed) log-probabilities of the generated tokens."""
    finish_reason: Literal["eos", "stop", "length"]
    """Why it ended: an EOS token, a stop string (stop_fn), or max_new_tokens."""


def beam_search(
    step_fn: StepFn,
    prompt_ids: Sequence[int] | torch.Tensor,
    config: "GenerationConfig",
    *,
    eos_ids: Iterable[int] = (),
    processors: ProcessorPipeline | None = None,
    stop_fn: Callable[[list[int]], bool] | None = None,
    early_stopping: bool | Literal["never"] | None = None,
    signal: "StopSignal | None" = None,
    on_step: Callable[[int], None] | None = None,
) -> list[BeamHypothesis]:
    """Beam search for one prompt; returns `config.num_return_sequences` hypotheses, best first.

    Args:
        step_fn: runs the model; see the module docstring for the protocol.
        prompt_ids: the prompt's token ids (at least one).
        config: num_beams, length_penalty, early_stopping, num_return_sequences, max_new_tokens,
            stop_at_eos and the penalties are read from it.
        eos_ids: the model's end-of-sequence token ids (ignored when config.stop_at_eos is False).
        processors: applied to the log-probabilities at each step (as transformers does in beam
            search); by default `build_processors(config)` (which needs bad_words_ids when
            config.bad_words is set: build it yourself then).
        stop_fn: called with a candidate's generated ids; True ends that candidate (e.g. its
            decoded text contains a stop string, see `stop_string_fn`).
        early_stopping: overrides config.early_stopping; also accepts "never".
        signal: checked before every model call; a stopped signal raises GenerationStopped.
        on_step: called with the number of steps done after each step (progress for a face).
    """
    num_beams = config.num_beams
    length_penalty = config.length_penalty
    early_stopping = config.early_stopping if early_stopping is None else early_stopping
    if early_stopping not in (True, False, "never"):
        raise PlaygroundError(f'early_stopping must be True, False or "never" (got {early_stopping!r})')
    processors = build_processors(config) if processors is None else processors
    eos = frozenset(int(t) for t in eos_ids) if config.stop_at_eos else frozenset()
    prompt = torch.as_tensor(prompt_ids, dtype=torch.long).flatten()  # (T0,)
    if prompt.numel() == 0:
        raise PlaygroundError("beam search needs a prompt of at least one token")
    prompt_length = prompt.numel()
    max_length = prompt_length + config.max_new_tokens

    # Keep more candidates than beams, so that num_beams can continue even if the best ones all
    # end on one of the EOS tokens: K = (number of EOS tokens + 1) * num_beams, at least 2 * num_beams.
    candidates_kept = max(2, 1 + len(eos)) * num_beams

    running = prompt.repeat(num_beams, 1)  # (num_beams, T) the live sequences
    # All beams start as the prompt; only beam 0 may propose tokens at the first step, otherwise
    # the num_beams copies would propose the same tokens num_beams times.
    running_scores = torch.full((num_beams,), EXCLUDED)  # (num_beams,) summed log-probs, float32
    running_scores[0] = 0.0
    finished: list[BeamHypothesis] = []  # at most num_beams, best first
    can_improve = True  # sticky: once the heuristic says no beam can improve, it never changes its mind

    new_ids, parent_rows = prompt[None, :], None
    steps_done = 0
    while True:
        if signal is not None:
            signal.check()
        logits = step_fn(new_ids, parent_rows)  # (rows, V), rows = 1 at the first step
        steps_done += 1
        if on_step is not None:
            on_step(steps_done)
        log_probs = torch.log_softmax(logits.detach().float().cpu(), dim=-1)
        log_probs = log_probs.expand(num_beams, -1) if log_probs.shape[0] == 1 else log_probs  # (num_beams, V)
        log_probs = processors(running, log_probs)
        vocab_size = log_probs.shape[-1]

        # The best K continuations over all beams × tokens, ranked by the summed log-probability.
        totals = (log_probs + running_scores[:, None]).flatten()  # (num_beams * V,)
        top_totals, top_flat = torch.topk(totals, candidates_kept)  # (K,) sorted, best first
        from_beam = top_flat // vocab_size  # (K,) which beam each candidate extends
        candidates = torch.cat([running[from_beam], (top_flat % vocab_size)[:, None]], dim=1)  # (K, T+1)
        generated_length = candidates.shape[1] - prompt_length
        reasons = [_finish_reason(row[prompt_length:].tolist(), eos, stop_fn, len(row) >= max_length)
                   for row in candidates]
        ended = torch.tensor([reason is not None for reason in reasons])  # (K,)

        # Finished pool: only the best num_beams candidates may enter it (the rest are a reserve to
        # keep num_beams beams running), and only while the search may still improve on it.
        pool_closed = len(finished) == num_beams and early_stopping is True
        if can_improve and not pool_closed:
            normalised = top_totals / (generated_length ** length_penalty)  # float32, as transformers
            for i in range(num_beams):
                if reasons[i] is not None and top_totals[i] > -math.inf:  # probability 0 (masked): never a result
                    finished.append(BeamHypothesis(candidates[i, prompt_length:].tolist(), normalised[i].item(),
                                                   top_totals[i].item(), reasons[i]))
            finished = sorted(finished, key=lambda h: h.score, reverse=True)[:num_beams]

        # The best num_beams candidates that did not end continue.
        continuing_scores = top_totals + ended.float() * EXCLUDED
        chosen = torch.topk(continuing_scores, num_beams).indices  # (num_beams,) best first
        running, running_scores = candidates[chosen], continuing_scores[chosen]
        parent_rows = from_beam[chosen] if logits.shape[0] > 1 else torch.zeros(num_beams, dtype=torch.long)
        new_ids = running[:, -1:]  # (num_beams, 1)

        can_improve = can_improve and _running_may_beat_finished(
            running_scores[0], finished, num_beams, generated_length, max_length - prompt_length,
            length_penalty, early_stopping)
        all_finished_and_early = len(finished) == num_beams and early_stopping is True
        if not can_improve or all_finished_and_early or bool(ended.all()):
            break
    return finished[: config.num_return_sequences]


def _finish_reason(generated: list[int], eos: frozenset[int], stop_fn, at_max_length: bool) -> str | None:
    """Why a candidate ends now ("eos", "stop", "length"), or None if it goes on."""
    if generated[-1] in eos:
        return "eos"
    if stop_fn is not None and stop_fn(generated):
        return "stop"
    if at_max_length:
        return "length"
    return None


def _running_may_beat_finished(best_running: torch.Tensor, finished: list[BeamHypothesis], num_beams: int,
                               generated_length: int, max_new_tokens: int, length_penalty: float,
                               early_stopping: bool | str) -> bool:
    """transformers' `_check_early_stop_heuristic` for one prompt.

    The best running beam is scored at its current length (or, with early_stopping="never" and
    length_penalty > 0, at the longest length it may reach) and compared with the worst finished
    hypothesis; while the pool has free places, anything may still enter it.
    """
    if early_stopping == "never" and length_penalty > 0.0:
        best_length = max_new_tokens
    else:
        best_length = generated_length
    best_possible = best_running / (best_length ** length_penalty)
    worst_finished = finished[-1].score if len(finished) == num_beams else EXCLUDED
    return bool(best_possible > worst_finished)


# --- step functions ---------------------------------------------------------------------------------


def hf_model_step_fn(model) -> StepFn:
    """A step function over a transformers causal LM, with its KV cache (`DynamicCache.reorder_cache`)."""
    from transformers import DynamicCache

    cache = None

    @torch.inference_mode()
    def step(new_ids: torch.LongTensor, parent_rows: torch.LongTensor | None) -> torch.Tensor:
        nonlocal cache
        if parent_rows is None:
            cache = DynamicCache(config=model.config)
        else:
            cache.reorder_cache(parent_rows)
        output = model(input_ids=new_ids.to(model.device), past_key_values=cache, use_cache=True,
                       logits_to_keep=1)  # only the last position's logits: (rows, 1, V)
        return output.logits[:, -1, :].float()  # (rows, V)

    return step


def recompute_step_fn(forward: Callable[[torch.LongTensor], torch.Tensor]) -> StepFn:
    """A step function without a cache: keeps every beam's full sequence and runs all of it each step.

    `forward(ids (B, T)) -> logits (B, T, V)`. Slow (quadratic), but needs nothing from the model.
    """
    sequences = None

    @torch.inference_mode()
    def step(new_ids: torch.LongTensor, parent_rows: torch.LongTensor | None) -> torch.Tensor:
        nonlocal sequences
        if parent_rows is None:
            sequences = new_ids
        else:
            sequences = torch.cat([sequences[parent_rows], new_ids], dim=1)
        return forward(sequences)[:, -1, :]

    return step


def stop_string_fn(decode: Callable[[list[int]], str], stop: Sequence[str]) -> Callable[[list[int]], bool] | None:
    """A `stop_fn` that ends a candidate once its decoded text contains one of `stop`; None if stop is empty."""
    if not stop:
        return None
    return lambda generated: any(s in decode(generated) for s in stop)
