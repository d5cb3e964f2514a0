"""Log-likelihood of continuations after a context, the way lm-evaluation-harness computes it.

    scorer = make_scorer("smollm2-135m-instruct", "fast")
    context, continuations = encode_choices(scorer.tokenizer, "Question: 2+2=?\\nAnswer:", [" 4", " 5"])
    scores = scorer.score_choices(context, continuations)    # [ChoiceScore(logprob=-1.2, …), …]

The rules (lm-eval 0.4, `_encode_pair` and `_loglikelihood_tokens`):
- trailing whitespace of the context moves to the front of the continuation;
- the context is `enc(context)`; the continuation is `enc(context + continuation)[len(enc(context)):]`
  (so a merge across the boundary stays inside the continuation's tokens); `enc` is the tokenizer's
  own default (a Llama or Gemma tokenizer adds its BOS, SmolLM2's adds nothing) unless the text
  already starts with the BOS text;
- an empty context becomes the prefix token (BOS, else EOS);
- the model sees `(context + continuation)[-(max_length + 1):][:-1]`, and the continuation's score is
  the sum of the log-softmax of its tokens; `is_greedy` says whether every one was the argmax.

Two ways to compute the same numbers:
- `ReferenceScorer` runs one forward pass per (context, continuation), exactly as lm-eval does
  (readable; the tests prove it equal to the `lm-eval` package);
- `NativeScorer`, `FastScorer` and `HFScorer` run the context once, copy its keys and values for
  every choice and score all the choices' tokens in one batched pass (what makes `llmpg eval` faster
  than lm-eval on multiple choice; tests prove them equal to the reference).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch
import torch.nn.functional as F

from llm_playground.errors import PlaygroundError


@dataclass
class ChoiceScore:
    """The score of one continuation."""

    logprob: float
    """Sum of ln p(token) over the continuation's tokens (nats)."""
    is_greedy: bool
    """Every continuation token was the model's top token at its position."""
    token_logprobs: list[float] = field(default_factory=list)
    """ln p of each continuation token, in order."""


# --- encoding: lm-eval's rules ------------------------------------------------------------------
def prefix_token_id(tokenizer) -> int:
    """The token an empty context becomes: BOS if the tokenizer has one, else EOS."""
    if getattr(tokenizer, "bos_token_id", None) is not None:
        return int(tokenizer.bos_token_id)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        return int(tokenizer.eos_token_id)
    raise PlaygroundError("this tokenizer has neither a BOS nor an EOS token to stand for an empty context; "
                          "give every item a non-empty prompt")


def _encode(tokenizer, text: str) -> list[int]:
    """The tokenizer's default encoding, without a second BOS when the text already starts with it."""
    bos_text = tokenizer.decode([prefix_token_id(tokenizer)])
    if bos_text and text.startswith(bos_text):
        return list(tokenizer.encode(text, add_special_tokens=False))
    return list(tokenizer.encode(text))


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) by lm-eval's rules (see the module docstring)."""
    if context == "":
        ids = list(tokenizer.encode(continuation, add_special_tokens=False))
        prefix = prefix_token_id(tokenizer)
        return ([prefix], ids) if not ids or ids[0] != prefix else (ids[:1], ids[1:])
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    context_ids = _encode(tokenizer, context)
    whole = _encode(tokenizer, context + continuation)
    return context_ids, whole[len(context_ids):]


def encode_choices(tokenizer, context: str, continuations: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    """The shared context ids and each continuation's ids (the context encodes the same for all)."""
    pairs = [encode_pair(tokenizer, context, continuation) for continuation in continuations]
    return pairs[0][0], [continuation for _, continuation in pairs]


def _check(continuations: Sequence[Sequence[int]]) -> None:
    for index, ids in enumerate(continuations):
        if not ids:
            raise PlaygroundError(f"choice {index + 1} encodes to no tokens (an empty answer); "
                                  "every choice needs some text")


def _score_from_logprobs(logprobs: torch.Tensor, continuation: Sequence[int]) -> ChoiceScore:
    """logprobs (n, V): row i predicts continuation[i]."""
    target = torch.as_tensor(list(continuation), dtype=torch.long)
    picked = logprobs.gather(1, target[:, None])[:, 0]  # (n,)
    greedy = bool((logprobs.argmax(-1) == target).all())
    return ChoiceScore(float(picked.sum()), greedy, [float(x) for x in picked])


# --- the readable reference: one forward pass per continuation -------------------------------
class LogitsFunction(Protocol):
    def __call__(self, ids: list[int]) -> torch.Tensor: ...  # ids (T,) → logits (T, V)


class ReferenceScorer:
    """One full forward pass per (context, continuation), lm-eval's own method, readable."""

    def __init__(self, logits: LogitsFunction, tokenizer, max_length: int, name: str = "reference") -> None:
        self.logits, self.tokenizer, self.max_length, self.name = logits, tokenizer, max_length, name

    @torch.inference_mode()
    def score(self, context: Sequence[int], continuation: Sequence[int]) -> ChoiceScore:
        whole = (list(context) + list(continuation))[-(self.max_length + 1):]
        logits = self.logits(whole[:-1]).float()                 # (T, V) position t predicts whole[t + 1]
        logprobs = F.log_softmax(logits[-len(continuation):], dim=-1)  # rows that predict the continuation
        return _score_from_logprobs(logprobs, continuation)

    def score_choices(self, context: Sequence[int], continuations: Sequence[Sequence[int]]) -> list[ChoiceScore]:
        _check(continuations)
        return [self.score(context, continuation) for continuation in continuations]


# --- shared context, batched choices ------------------------------------------------------------
class _SharedContextScorer:
    """Context once, then every choice's tokens side by side; falls back to the reference for an
    item that does not fit the context window (lm-eval then truncates each choice differently)."""

    name = "shared"

    def __init__(self, tokenizer, max_length: int, reference_logits: LogitsFunction) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.reference = ReferenceScorer(reference_logits, tokenizer, max_length)

    def score_choices(self, context: Sequence[int], continuations: Sequence[Sequence[int]]) -> list[ChoiceScore]:
        _check(continuations)
        longest = max(len(c) for c in continuations)
        if len(context) + longest - 1 > self.max_length:
            return self.reference.score_choices(context, continuations)
        with torch.inference_mode():
            first, rest = self._logits(list(context), [list(c) for c in continuations])
        scores = []
        for index, continuation in enumerate(continuations):
            rows = torch.cat([first[None], rest[index][:len(continuation) - 1]]) if rest else first[None]
            scores.append(_score_from_logprobs(F.log_softmax(rows.float(), dim=-1), continuation))
        return scores

    def _logits(self, context: list[int], continuations: list[list[int]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits (V,) after the context, [logits (len_i - 1, V) after each continuation token but its last])."""
        raise NotImplementedError


def _padded(continuations: list[list[int]]) -> torch.Tensor:
    """Each continuation but its last token, right-padded with token 0: (n, longest - 1). Padding
    sits after every real token, so causal attention never lets a real token see it."""
    width = max(len(c) for c in continuations) - 1
    return torch.tensor([c[:-1] + [0] * (width - len(c) + 1) for c in continuations], dtype=torch.long)


class NativeScorer(_SharedContextScorer):
    """Our readable `Transformer`: context with a batch-1 KV cache, repeated for the choices; the
    output head runs once per item over exactly the rows that are scored (Gemma's head is 262k wide)."""

    name = "native"

    def __init__(self, model, tokenizer) -> None:
        self.model = model
        super().__init__(tokenizer, model.config.block_size, lambda ids: model(torch.tensor([ids]))[0][0])

    def _logits(self, context, continuations):
        model, longest = self.model, max(len(c) for c in continuations)
        cache = model.new_cache(batch_size=1, max_length=len(context) + longest - 1)
        rows = [model.body(torch.tensor([context]), cache=cache)[0, -1:]]  # (1, C): the context's last position
        if longest > 1:
            hidden = model.body(_padded(continuations), cache=cache.repeated(len(continuations)))  # (n, longest-1, C)
            rows += [hidden[i, :len(c) - 1] for i, c in enumerate(continuations)]  # padding rows left out
        logits = model.final(torch.cat(rows))  # one pass over the head for every scored row: (1 + Σ(len-1), V)
        pieces, start = [], 1
        for continuation in continuations:
            pieces.append(logits[start:start + len(continuation) - 1])
            start += len(continuation) - 1
        return logits[0], pieces if longest > 1 else []


class HFScorer(_SharedContextScorer):
    """transformers' model: context with its DynamicCache, repeated for the choices."""

    name = "hf"

    def __init__(self, model, tokenizer) -> None:
        self.model = model
        config = model.config
        max_length = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 2048)
        super().__init__(tokenizer, max_length, lambda ids: model(input_ids=torch.tensor([ids])).logits[0])

    def _logits(self, context, continuations):
        out = self.model(input_ids=torch.tensor([context]), use_cache=True, logits_to_keep=1)
        first = out.logits[0, -1]
        if max(len(c) for c in continuations) == 1:
            return first, []
        cache = out.past_key_values
        cache.batch_repeat_interleave(len(continuations))
        logits = self.model(input_ids=_padded(continuations), past_key_values=cache, use_cache=True).logits
        return first, list(logits)


class FastScorer(_SharedContextScorer):
    """Our fast decoder (Llama, Gemma-3, GPT-2; fp32 / bf16 / int8 / int4 weights): context in sequence 0,
    copied into one sequence per choice, then every choice's tokens as rows of one call."""

    def __init__(self, decoder, tokenizer, name: str = "fast") -> None:
        self.decoder, self.name = decoder, name

        def full_logits(ids: list[int]) -> torch.Tensor:
            decoder.reset(len(ids))
            return decoder.forward(ids, all_logits=True)

        super().__init__(tokenizer, decoder.config.block_size, full_logits)

    def _logits(self, context, continuations):
        n, longest = len(continuations), max(len(c) for c in continuations)
        self.decoder.reset(len(context) + longest - 1, sequences=n)
        first = self.decoder.forward(context, sequence=0)  # (V,)
        if longest == 1:
            return first, []
        self.decoder.copy_prefix(len(context))
        tokens, sequences = [], []
        for index, continuation in enumerate(continuations):
            tokens += continuation[:-1]
            sequences += [index] * (len(continuation) - 1)
        rows = self.decoder.forward_rows(tokens, sequences)  # (Σ len_i - 1, V)
        pieces, start = [], 0
        for continuation in continuations:
            pieces.append(rows[start:start + len(continuation) - 1])
            start += len(continuation) - 1
        return first, pieces


class LoglikelihoodScorer(Protocol):
    """What the multiple-choice runner needs from a model (a remote backend with logprobs fits too)."""

    name: str
    tokenizer: object

    def score_choices(self, context: Sequence[int], continuations: Sequence[Sequence[int]]) -> list[ChoiceScore]: ...


ScorerFactory = Callable[[], LoglikelihoodScorer]
