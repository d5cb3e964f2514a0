"""The next-token table: what a model thinks comes right after a prompt.

One forward pass over the prompt gives a logit for every vocabulary entry at the last position.
Softmax turns the logits into probabilities; the table lists the top-k with their logit,
probability and the cumulative probability of the rows so far (how much of the distribution the
top-k cover). "Hello my name" → " is" is the classic first look.

Every engine computes it: `backend="native"` runs our readable `llm_playground.models.Transformer`,
`backend="hf"` transformers' model, `fast…` our fast decoder, `auto` the engine generation uses;
tests prove the tables equal.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch

from llm_playground.checks import require_range
from llm_playground.errors import PlaygroundError

Backend = Literal["auto", "native", "hf", "fast", "fast-bf16", "fast-int8", "fast-int4"]
BACKENDS = ("auto", "native", "hf", "fast", "fast-bf16", "fast-int8", "fast-int4")
MAX_ROWS = 200
"""Most candidates one table lists (the whole vocabulary would be 49,152 rows for SmolLM2)."""


@dataclass
class NextTokenRow:
    """One candidate next token."""

    rank: int
    """1 for the most likely token."""
    id: int
    """Token id in the model's vocabulary."""
    token: str
    """The token decoded on its own (leading spaces included)."""
    logit: float
    """Raw score from the output head."""
    prob: float
    """softmax(logits)[id] over the whole vocabulary."""
    cumulative_prob: float
    """Sum of prob over this row and all rows above it."""


@dataclass
class NextTokenTable:
    """The top-k next tokens after a prompt, with what produced them."""

    model: str
    prompt: str
    backend: str
    prompt_ids: list[int]
    """The prompt's token ids as the model saw them (special tokens included)."""
    rows: list[NextTokenRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def top_k_rows(logits: torch.Tensor, top_k: int, decode) -> list[NextTokenRow]:
    """Rows for the `top_k` highest of `logits` (V,), probabilities from a softmax over all V.

    `decode(id) -> str` names each token. Ties keep the lower id first (a stable order).
    """
    require_range("top_k", top_k, 1, MAX_ROWS, why="the table lists the most likely candidates")
    logits = logits.float()
    probs = torch.softmax(logits, dim=-1)  # (V,)
    k = min(top_k, logits.shape[-1])
    order = torch.sort(logits, descending=True, stable=True).indices[:k]  # (k,)
    cumulative = torch.cumsum(probs[order].double(), dim=0)
    return [NextTokenRow(rank=rank + 1, id=int(token_id), token=decode(int(token_id)),
                         logit=float(logits[token_id]), prob=float(probs[token_id]),
                         cumulative_prob=float(cumulative[rank]))
            for rank, token_id in enumerate(order)]


def prompt_ids(model_name: str, prompt: str, *, allow_special: bool = False) -> list[int]:
    """The prompt's ids as the model sees a raw (non-chat) prompt: the tokens the tokenizer adds
    (Gemma's <bos>) included; special-token spellings in the text stay text unless `allow_special`."""
    from llm_playground import zoo
    from llm_playground.generation.chat import encode_text

    if not prompt:
        raise PlaygroundError("the prompt is empty; give some text to continue")
    tokenizer = zoo.load_tokenizer(model_name)
    ids = (tokenizer.encode(prompt, add_special_tokens=True) if allow_special
           else encode_text(tokenizer, prompt, add_special_tokens=True))
    if not ids:
        raise PlaygroundError("the prompt gives no tokens; give some text to continue")
    zoo.check_prompt_fits(zoo.resolve(model_name), len(ids))
    return ids


def next_token_logits(model_name: str, ids: list[int], backend: str = "native") -> torch.Tensor:
    """Logits (V,) for the token after `ids`, from any engine: our readable one (native), transformers
    (hf), our fast decoder (fast, fast-bf16, fast-int8, fast-int4), or auto (what generation uses)."""
    from llm_playground import zoo

    spec = zoo.resolve(model_name)
    backend = check_backend(spec, backend)
    idx = torch.tensor([ids])  # (1, T)
    with torch.inference_mode():
        if backend == "native":
            from llm_playground.generation.backends import native_model

            logits, _ = native_model(spec)(idx, last_only=True)  # (1, 1, V)
            return logits[0, -1].float()
        if backend == "hf":
            return zoo.load_hf_model(spec)(input_ids=idx).logits[0, -1].float()
        from llm_playground.generation.backends import make_backend

        return make_backend(spec, backend).start(list(ids), 1).float()  # the fast decoder's prefill: (V,)


def check_backend(spec, backend: str) -> str:
    """The engine that will compute the table (`auto` chosen as generation chooses it)."""
    from llm_playground.generation.api import choose_backend

    if backend not in BACKENDS:
        raise PlaygroundError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    return choose_backend(spec, backend)


def next_token_table(model_name: str, prompt: str, top_k: int = 10, backend: Backend = "native", *,
                     allow_special: bool = False) -> NextTokenTable:
    """The top-k next tokens after `prompt` (raw text, no chat template) for a zoo model or folder."""
    from llm_playground import zoo

    spec = zoo.resolve(model_name)
    if not spec.generates:
        raise PlaygroundError(f"{spec.name} is an encoder: it does not predict next tokens; "
                              "pick a chat or base model (llmpg models)")
    backend = check_backend(spec, backend)
    require_range("top_k", top_k, 1, MAX_ROWS, why="the table lists the most likely candidates")
    if not prompt or not prompt.strip():
        raise PlaygroundError("the prompt is empty; give some text to continue")
    ids = prompt_ids(spec, prompt, allow_special=allow_special)
    tokenizer = zoo.load_tokenizer(spec)
    rows = top_k_rows(next_token_logits(spec, ids, backend), top_k, lambda i: tokenizer.decode([i]))
    return NextTokenTable(model=spec.name, prompt=prompt, backend=backend, prompt_ids=ids, rows=rows)
