"""Cross-entropy and perplexity, computed in the open and explained in words.

For one prediction, the loss is the surprise at the token that really came next:

    loss = −ln p(target)                  (nats; divide by ln 2 for bits)

A model's loss on a text is the mean of that over every target token, and

    perplexity = e^loss

is the number of equally likely tokens that would leave a guesser just as unsure: perplexity 4
means "as if choosing fairly among 4 tokens". A uniform guess over V tokens has loss ln V and
perplexity V, the ceiling any trained model should beat.

`cross_entropy` here is the readable version of `torch.nn.functional.cross_entropy` (a
log-softmax with the maximum subtracted for stability, then the mean of −log p[target]); the
tests prove the two equal.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np

from llm_playground.errors import PlaygroundError


def _numpy(values) -> np.ndarray:
    """A float64 numpy array from a list, numpy array or (CPU or not, grad or not) torch tensor."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def log_softmax(logits) -> np.ndarray:
    """ln softmax over the last axis: logits − max − ln Σ e^(logits − max)."""
    logits = _numpy(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)  # the largest exponent is e^0: no overflow
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(logits, targets) -> float:
    """Mean −ln softmax(logits)[target] in nats: logits (..., V), targets (...) integer ids."""
    logprobs = log_softmax(logits)
    targets = np.asarray(_numpy(targets), dtype=np.int64)
    if logprobs.shape[:-1] != targets.shape:
        raise PlaygroundError(f"logits {logprobs.shape} need one target per row; got targets {targets.shape}")
    if targets.size == 0:
        raise PlaygroundError("cross-entropy needs at least one target")
    if targets.min() < 0 or targets.max() >= logprobs.shape[-1]:
        raise PlaygroundError(f"target ids must be in [0, {logprobs.shape[-1]}) (got {targets.min()}…{targets.max()})")
    picked = np.take_along_axis(logprobs, targets[..., None], axis=-1)[..., 0]
    return float(-picked.mean())


def loss_from_target_probabilities(probabilities) -> float:
    """Mean −ln p over the probabilities the model gave each actual next token."""
    p = _numpy(probabilities).ravel()
    if p.size == 0 or np.any(p < 0) or np.any(p > 1):
        raise PlaygroundError("target probabilities must be a non-empty list of numbers in [0, 1]")
    with np.errstate(divide="ignore"):
        return float(-np.log(p).mean())  # a probability of 0 gives an infinite loss, as it should


def perplexity(loss: float) -> float:
    """e^loss for a loss in nats/token."""
    return math.exp(loss)


@dataclass(frozen=True)
class TokenLoss:
    """One prediction: how likely the model found the token that came, and the loss that gives."""

    token: str
    """The target token, as text (or its id)."""
    probability: float
    """p(target)."""
    loss: float
    """−ln p(target) in nats."""


@dataclass(frozen=True)
class LossExplanation:
    """A loss, what it means, and what it compares with."""

    loss: float
    """Mean cross-entropy in nats/token."""
    perplexity: float
    """e^loss."""
    bits_per_token: float
    """loss / ln 2."""
    vocab_size: int | None = None
    """V, when known: the uniform baseline is then ln V."""
    tokens: int | None = None
    """How many target tokens the mean is over."""
    baselines: dict[str, float] = field(default_factory=dict)
    """Other models' losses (nats/token) by name, e.g. n-gram baselines."""
    examples: list[TokenLoss] = field(default_factory=list)
    """A few predictions worked out one by one."""

    @property
    def uniform_loss(self) -> float | None:
        """ln V: the loss of guessing uniformly among V tokens."""
        return math.log(self.vocab_size) if self.vocab_size else None

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {**asdict(self), "uniform_loss": self.uniform_loss}

    def text(self) -> str:
        """The explanation in a few lines, for reports and the CLI."""
        over = f" over {self.tokens:,} tokens" if self.tokens else ""
        lines = [
            f"loss = mean of −ln p(next token){over} = {self.loss:.4f} nats/token ({self.bits_per_token:.3f} bits/token)",
            f"perplexity = e^loss = e^{self.loss:.4f} = {self.perplexity:.3f}: on average the model is as unsure "
            f"as a fair choice among {self.perplexity:.3g} tokens",
        ]
        for example in self.examples:
            lines.append(f"  e.g. target {example.token!r}: p = {example.probability:.4f} → "
                         f"−ln p = {example.loss:.4f} nats")
        if self.vocab_size:
            ratio = self.vocab_size / self.perplexity
            lines.append(f"uniform guess over V = {self.vocab_size:,} tokens: loss ln V = {self.uniform_loss:.4f}, "
                         f"perplexity {self.vocab_size:,} ({ratio:.3g}× this model's)")
        for name, loss in self.baselines.items():
            lines.append(f"{name}: loss {loss:.4f}, perplexity {math.exp(loss):.3f} "
                         f"({'higher' if loss > self.loss else 'lower'} than this model by {abs(loss - self.loss):.4f} nats)")
        return "\n".join(lines)


def explain_loss(loss: float, *, vocab_size: int | None = None, tokens: int | None = None,
                 baselines: Mapping[str, float] | None = None,
                 examples: Sequence[tuple[str, float]] = ()) -> LossExplanation:
    """Explain a cross-entropy loss (nats/token): perplexity, bits, the uniform baseline,
    comparisons with `baselines` (name → loss) and worked `examples` ((token, p(token)) pairs)."""
    if not (isinstance(loss, (int, float)) and math.isfinite(loss) and loss >= 0):
        raise PlaygroundError(f"a cross-entropy loss is a finite number ≥ 0 (got {loss!r})")
    if vocab_size is not None and vocab_size < 1:
        raise PlaygroundError(f"vocab_size must be at least 1 (got {vocab_size})")
    worked = []
    for token, probability in examples:
        if not 0 < probability <= 1:
            raise PlaygroundError(f"example probability for {token!r} must be in (0, 1] (got {probability})")
        worked.append(TokenLoss(str(token), float(probability), -math.log(probability)))
    return LossExplanation(float(loss), perplexity(loss), loss / math.log(2.0), vocab_size, tokens,
                           {name: float(value) for name, value in (baselines or {}).items()}, worked)
