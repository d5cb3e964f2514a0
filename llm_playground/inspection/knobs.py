"""What the decoding knobs do to one next-token distribution: before and after the processors.

The model gives one distribution over the vocabulary for the token after a prompt (`before`).
Temperature, top-k, top-p, min-p and the penalties reshape it (`after`) — the distribution a
sampler would draw from. Putting the two side by side shows what each knob does: temperature < 1
sharpens, top-k keeps k tokens, top-p keeps the smallest set whose mass reaches p, min-p drops
tokens far below the best one. Tokens a knob removes get probability exactly 0 after.

The processors are the same ones generation runs (`sampling.build_processors`), built from a
sampling config: the builder leaves the warpers out for greedy decoding, and with temperature 0
the "after" distribution is all on the argmax (greedy).

>>> import torch
>>> from llm_playground.generation.config import GenerationConfig
>>> effect = knob_rows(torch.tensor([2.0, 1.0, 0.0]), [], GenerationConfig(strategy="sample", top_k=2), 3, str)
>>> [(r.id, round(r.prob_before, 3), round(r.prob_after, 3)) for r in effect]
[(0, 0.665, 0.731), (1, 0.245, 0.269), (2, 0.09, 0.0)]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.generation.config import GenerationConfig


@dataclass
class KnobRow:
    """One candidate next token, with its probability before and after the knobs."""

    id: int
    """Token id in the model's vocabulary."""
    token: str
    """The token decoded on its own (leading spaces included)."""
    prob_before: float
    """softmax(logits)[id]: the model's own probability."""
    prob_after: float
    """The probability after the processors (0 when a knob removed the token)."""

    @property
    def kept(self) -> bool:
        """True when the token can still be drawn after the knobs."""
        return self.prob_after > 0


@dataclass
class KnobEffect:
    """The next-token distribution after a prompt, before and after a set of knobs."""

    model: str
    prompt: str
    backend: str
    prompt_ids: list[int]
    """The prompt's token ids as the model saw them (raw text, special tokens such as <bos> included)."""
    processors: list[str]
    """The processors that ran, in order (e.g. "Temperature(temperature=0.7)"); empty when none."""
    greedy: bool
    """True at temperature 0: the after distribution is all on the argmax."""
    kept: int
    """How many vocabulary entries keep a non-zero probability after the knobs."""
    vocab_size: int
    rows: list[KnobRow] = field(default_factory=list)
    """The `top_n` most likely tokens before the knobs, then any of the `top_n` most likely after
    them that were not already listed; most likely (before) first."""

    def to_dict(self) -> dict:
        return asdict(self)


def sampling_config(config: GenerationConfig) -> GenerationConfig:
    """`config` as a sampling config, so that the builder includes temperature and truncation.

    Greedy and beam configs carry no warper settings worth showing; they become plain sampling.
    """
    if config.strategy == "sample":
        return config
    return config.replace(strategy="sample", num_beams=1, num_return_sequences=1, early_stopping=False)


def processed_probs(logits: torch.Tensor, input_ids: Sequence[int], config: GenerationConfig) -> tuple[torch.Tensor, list[str]]:
    """Probabilities (V,) after the processors `config` asks for, and the processors' descriptions.

    `logits` (V,) are the model's raw scores for the next token; `input_ids` the context (penalties
    read it). At temperature 0 the result is one-hot on the argmax of the penalised scores.
    """
    from llm_playground.sampling import build_processors

    config = sampling_config(config)
    if config.bad_words:
        raise PlaygroundError("bad words need the model's tokenizer; leave them out of the next-token view")
    pipeline = build_processors(config)
    ids = torch.tensor([list(input_ids)], dtype=torch.long)  # (1, T)
    scores = pipeline(ids, logits.float()[None])[0]  # (V,)
    if config.is_greedy:
        probs = torch.zeros_like(scores)
        probs[int(torch.argmax(scores))] = 1.0
    else:
        probs = torch.softmax(scores, dim=-1)  # masked tokens (-inf) get exactly 0
    return probs, [repr(p) for p in pipeline]


def knob_rows(logits: torch.Tensor, input_ids: Sequence[int], config: GenerationConfig, top_n: int,
              decode: Callable[[int], str]) -> list[KnobRow]:
    """Rows for the `top_n` most likely tokens before the knobs plus those most likely after them.

    `decode(id) -> str` names each token. Ties keep the lower id first.
    """
    if top_n < 1:
        raise PlaygroundError(f"the number of candidates to show must be at least 1 (got {top_n})")
    before = torch.softmax(logits.float(), dim=-1)  # (V,)
    after, _ = processed_probs(logits, input_ids, config)
    k = min(top_n, before.shape[-1])
    order = torch.sort(before, descending=True, stable=True).indices[:k].tolist()
    listed = set(order)
    for token_id in torch.sort(after, descending=True, stable=True).indices[:k].tolist():
        if token_id not in listed and after[token_id] > 0:
            order.append(token_id)
            listed.add(token_id)
    order.sort(key=lambda i: (-float(before[i]), i))
    return [KnobRow(id=i, token=decode(i), prob_before=float(before[i]), prob_after=float(after[i])) for i in order]


def knob_effect(model_name: str, prompt: str, config: GenerationConfig, top_n: int = 10, *,
                backend: str = "auto", allow_special: bool = False) -> KnobEffect:
    """The next-token distribution of a zoo model after `prompt` (raw text), before and after the
    knobs of `config` (temperature, top-k, top-p, min-p, typical-p, penalties), computed by
    `backend` (auto: the engine generation uses)."""
    from llm_playground import zoo
    from llm_playground.inspection.next_token import MAX_ROWS, check_backend, next_token_logits, prompt_ids

    spec = zoo.resolve(model_name)
    if not spec.generates:
        raise PlaygroundError(f"{spec.name} is an encoder: it does not predict next tokens; "
                              "pick a chat or base model")
    if top_n < 1 or top_n > MAX_ROWS:
        raise PlaygroundError(f"the number of candidates to show must be between 1 and {MAX_ROWS} (got {top_n})")
    ids = prompt_ids(spec, prompt, allow_special=allow_special)
    backend = check_backend(spec, backend)
    logits = next_token_logits(spec, ids, backend)  # (V,)
    tokenizer = zoo.load_tokenizer(spec)
    after, processors = processed_probs(logits, ids, config)
    rows = knob_rows(logits, ids, config, top_n, lambda i: tokenizer.decode([i]))
    return KnobEffect(model=spec.name, prompt=prompt, backend=backend, prompt_ids=ids, processors=processors,
                      greedy=sampling_config(config).is_greedy, kept=int((after > 0).sum()),
                      vocab_size=int(logits.shape[-1]), rows=rows)
