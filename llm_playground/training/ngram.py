"""n-gram language models: the baseline a transformer has to beat.

An order-n model predicts the next token from the previous n − 1 tokens only, by counting. It works
on token ids, so it runs on whatever tokenizer the neural model uses (characters, BPE, …).

Smoothing gives unseen n-grams some probability:

add-k (Lidstone; k = 1 is Laplace):
    P(w | h) = (c(h w) + k) / (c(h) + k·V)

interpolated Kneser-Ney (Chen & Goodman 1998, §3.5; Jurafsky & Martin, SLP3 §3.7), discount d:
    P_n(w | h) = max(c_n(h w) − d, 0) / c_n(h)  +  d · T_n(h) / c_n(h) · P_{n−1}(w | h′)
    h′ = h without its oldest token;  c_n(h) = Σ_w c_n(h w);  T_n(h) = #{w : c_n(h w) > 0}
    P_0(w) = 1 / V,   and P_n = P_{n−1} when h was never seen (c_n(h) = 0).
  The highest order uses raw counts c(h w). Every lower order uses *continuation counts*
  N₁₊(• h w): in how many different contexts the n-gram appeared, so a token that only ever
  follows one word ("Francisco" after "San") gets little unigram mass.
  Unlike NLTK's `KneserNeyInterpolated` (3.10), the unigram level is discounted and interpolated
  with the uniform P_0 too, so an id never seen as a continuation keeps a probability above 0
  (NLTK gives it 0 and an infinite perplexity). The tests check this file against hand-worked
  values and against a readable dict-based reference written independently.

Counting is vectorised with numpy: an n-gram (t₁ … tₙ) becomes one int64 key
t₁·V^(n−1) + … + tₙ, `np.unique` counts the keys, and `np.searchsorted` looks them up. Fitting
~5 MB of characters takes a few seconds; scoring 500 kB takes well under one.

Perplexity follows the neural model's convention: every token after the first is a target,
predicted from up to n − 1 tokens before it (`cross_entropy` = mean −ln p, `perplexity` = e^that).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from llm_playground.errors import PlaygroundError, unknown_name
from llm_playground.training.metrics import LossExplanation, explain_loss

SMOOTHINGS = ("add-k", "kneser-ney")
MAX_KEY = 2 ** 62  # V^order must stay below this for int64 keys


def window_keys(ids: np.ndarray, length: int, vocab_size: int) -> np.ndarray:
    """One int64 key per window of `length` consecutive ids (base-V digits, oldest first).

    >>> window_keys(np.array([1, 2, 0, 1]), 2, 3).tolist()   # (1,2)→5, (2,0)→6, (0,1)→1
    [5, 6, 1]
    """
    count = ids.size - length + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = ids[:count].astype(np.int64)
    for offset in range(1, length):
        keys = keys * vocab_size + ids[offset:offset + count]
    return keys


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[k] for each query found among sorted_keys, else 0."""
    if sorted_keys.size == 0:
        return np.zeros(np.shape(queries), dtype=np.float64)
    index = np.searchsorted(sorted_keys, queries)
    clipped = np.minimum(index, sorted_keys.size - 1)
    found = sorted_keys[clipped] == queries
    return np.where(found, values[clipped], 0.0)


@dataclass
class _Level:
    """Counts of all n-grams of one length n, and of their (n−1)-token contexts."""

    keys: np.ndarray            # (G,) sorted n-gram keys
    counts: np.ndarray          # (G,) raw or continuation counts, float64
    context_keys: np.ndarray    # (H,) sorted context keys (key // V)
    context_totals: np.ndarray  # (H,) c(h) = Σ_w count(h w)
    context_types: np.ndarray   # (H,) T(h) = #{w : count(h w) > 0}

    @classmethod
    def from_counts(cls, keys: np.ndarray, counts: np.ndarray, vocab_size: int) -> _Level:
        contexts = keys // vocab_size  # keys are sorted, so contexts are too
        context_keys, starts, types = np.unique(contexts, return_index=True, return_counts=True)
        totals = np.add.reduceat(counts, starts) if counts.size else np.zeros(0)
        return cls(keys, counts.astype(np.float64), context_keys, totals.astype(np.float64),
                   types.astype(np.float64))


class NGramModel:
    """An order-n language model over token ids with add-k or interpolated Kneser-Ney smoothing.

    >>> model = NGramModel(2, "add-k", k=1.0).fit([0, 1, 0, 1, 2])
    >>> round(model.logprob([0], 1), 4) == round(math.log(3 / 5), 4)   # (2 + 1) / (2 + 3)
    True
    """

    def __init__(self, order: int = 3, smoothing: str = "kneser-ney", *, k: float = 1.0,
                 discount: float = 0.75, vocab_size: int | None = None):
        if not isinstance(order, int) or order < 1:
            raise PlaygroundError(f"n-gram order must be an integer ≥ 1 (got {order!r})")
        if smoothing not in SMOOTHINGS:
            raise unknown_name("smoothing", smoothing, SMOOTHINGS)
        if smoothing == "add-k" and not k > 0:
            raise PlaygroundError(f"add-k smoothing needs k > 0 (got {k}); k = 1 is Laplace smoothing")
        if smoothing == "kneser-ney" and not 0 < discount <= 1:
            raise PlaygroundError(f"the Kneser-Ney discount must be in (0, 1] (got {discount}); 0.75 is usual")
        self.order = order
        self.smoothing = smoothing
        self.k = float(k)
        self.discount = float(discount)
        self.vocab_size = vocab_size
        self._levels: dict[int, _Level] = {}

    def __repr__(self) -> str:
        knob = f"k={self.k:g}" if self.smoothing == "add-k" else f"discount={self.discount:g}"
        return f"NGramModel(order={self.order}, smoothing={self.smoothing!r}, {knob}, vocab_size={self.vocab_size})"

    # ---- fitting ---------------------------------------------------------------------------------

    def _as_ids(self, ids, what: str) -> np.ndarray:
        array = np.asarray(ids)
        if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise PlaygroundError(f"{what} must be a flat sequence of integer token ids")
        array = array.astype(np.int64, copy=False)
        if array.size and array.min() < 0:
            raise PlaygroundError(f"{what} holds a negative token id ({array.min()})")
        if self.vocab_size is not None and array.size and array.max() >= self.vocab_size:
            raise PlaygroundError(f"{what} holds token id {array.max()}, outside the vocabulary of "
                                  f"{self.vocab_size}; fit with a vocab_size that covers every id")
        return array

    def fit(self, ids: Sequence[int] | np.ndarray, vocab_size: int | None = None) -> NGramModel:
        """Count every n-gram of `ids` (orders 1 … n); returns self.

        `vocab_size` (V) defaults to the one given at construction, else max(ids) + 1. Give it
        explicitly when validation text may hold ids the training text lacks.
        """
        if vocab_size is not None:
            self.vocab_size = int(vocab_size)
        ids = self._as_ids(ids, "training ids")
        if ids.size == 0:
            raise PlaygroundError("cannot fit an n-gram model on no tokens")
        if self.vocab_size is None:
            self.vocab_size = int(ids.max()) + 1
        vocab = self.vocab_size
        if vocab ** self.order >= MAX_KEY:
            raise PlaygroundError(f"order {self.order} with a vocabulary of {vocab:,} is too large to count "
                                  f"(V^order must be < 2^62); lower the order")
        raw = {n: np.unique(window_keys(ids, n, vocab), return_counts=True) for n in range(1, self.order + 1)}
        self._levels = {}
        for n in range(1, self.order + 1):
            if self.smoothing == "add-k" or n == self.order:
                keys, counts = raw[n]
            else:
                # Continuation counts: drop the oldest token of each *distinct* (n+1)-gram and
                # count how many distinct left neighbours every n-gram had.
                keys, counts = np.unique(raw[n + 1][0] % vocab ** n, return_counts=True)
            self._levels[n] = _Level.from_counts(keys, counts, vocab)
        return self

    def _require_fit(self) -> None:
        if not self._levels:
            raise PlaygroundError("this n-gram model is not fitted yet: call .fit(train_ids) first")

    # ---- probabilities ---------------------------------------------------------------------------

    def _probabilities(self, contexts: dict[int, tuple[np.ndarray, np.ndarray]], tokens: np.ndarray) -> np.ndarray:
        """P(token | context) for broadcastable arrays.

        contexts[n] = (context keys of the last n−1 tokens, mask of where that much history exists).
        """
        vocab = self.vocab_size
        shape = np.broadcast_shapes(tokens.shape, *(np.shape(c) for c, _ in contexts.values()))
        probs = np.full(shape, 1.0 / vocab)  # P_0: uniform
        for n in range(1, self.order + 1):
            level = self._levels[n]
            context, usable = contexts[n]
            total = _lookup(level.context_keys, level.context_totals, context)
            count = _lookup(level.keys, level.counts, context * vocab + tokens)
            if self.smoothing == "add-k":
                level_probs = (count + self.k) / (total + self.k * vocab)
            else:
                types = _lookup(level.context_keys, level.context_types, context)
                seen = total > 0
                safe_total = np.where(seen, total, 1.0)
                interpolated = (np.maximum(count - self.discount, 0.0) / safe_total
                                + self.discount * types / safe_total * probs)
                level_probs = np.where(seen, interpolated, probs)  # unseen context: back off whole
            probs = np.where(usable, level_probs, probs) if n > 1 else level_probs
        return probs

    def _single_context(self, context: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        history = self._as_ids(list(context)[-(self.order - 1):] if self.order > 1 else [], "context")
        contexts = {}
        for n in range(1, self.order + 1):
            usable = history.size >= n - 1
            key = 0
            if usable:
                for token in history[history.size - (n - 1):]:
                    key = key * self.vocab_size + int(token)
            contexts[n] = (np.array(key, dtype=np.int64), np.array(usable))
        return contexts

    def next_token_distribution(self, context: Sequence[int] = ()) -> np.ndarray:
        """P(w | context) for every w in the vocabulary: shape (V,), sums to 1.

        Only the last n − 1 tokens of `context` matter; a shorter context uses lower orders.
        """
        self._require_fit()
        return self._probabilities(self._single_context(context), np.arange(self.vocab_size, dtype=np.int64))

    def logprob(self, context: Sequence[int], token: int) -> float:
        """ln P(token | context) in nats."""
        self._require_fit()
        token = int(self._as_ids([token], "token")[0])
        return float(np.log(self._probabilities(self._single_context(context), np.array(token))))

    def target_logprobs(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """ln P(ids[i] | ids[i−n+1 : i]) for i = 1 … len−1: shape (len − 1,), vectorised."""
        self._require_fit()
        ids = self._as_ids(ids, "ids")
        if ids.size < 2:
            raise PlaygroundError("scoring needs at least 2 tokens (the first one is only context)")
        targets = ids[1:]                                   # (M,) M = len − 1
        contexts = {}
        for n in range(1, self.order + 1):
            # Target t (= ids[t + 1]) has n − 1 tokens of history once t ≥ n − 2.
            keys = np.zeros(targets.size, dtype=np.int64)
            usable = np.zeros(targets.size, dtype=bool)
            if n == 1:
                usable[:] = True
            elif targets.size - (n - 2) > 0:
                keys[n - 2:] = window_keys(ids[:-1], n - 1, self.vocab_size)
                usable[n - 2:] = True
            contexts[n] = (keys, usable)
        return np.log(self._probabilities(contexts, targets))

    def cross_entropy(self, ids: Sequence[int] | np.ndarray) -> float:
        """Mean −ln P over every token after the first (nats/token): the neural model's loss."""
        return float(-self.target_logprobs(ids).mean())

    def perplexity(self, ids: Sequence[int] | np.ndarray) -> float:
        """e^cross-entropy: the effective number of tokens the model hesitates between."""
        return math.exp(self.cross_entropy(ids))

    # ---- sampling --------------------------------------------------------------------------------

    def sample(self, context: Sequence[int] = (), n: int = 100,
               generator: np.random.Generator | int | None = None) -> list[int]:
        """Draw `n` tokens one by one after `context`; returns only the new ids.

        `generator` is a numpy Generator or an int seed (same seed → same tokens).
        """
        self._require_fit()
        rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
        history = [int(t) for t in context]
        new: list[int] = []
        for _ in range(int(n)):
            cumulative = np.cumsum(self.next_token_distribution(history))
            token = int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"),
                            self.vocab_size - 1))
            history.append(token)
            new.append(token)
        return new


# ---- baselines for a corpus ----------------------------------------------------------------------

def train_val_split(ids: Sequence[int] | np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """nanoGPT's split: the first (1 − val_fraction) of the ids train, the rest validate.

    >>> [part.tolist() for part in train_val_split(list(range(10)), 0.2)]
    [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9]]
    """
    if not 0 < val_fraction < 1:
        raise PlaygroundError(f"val_fraction must be between 0 and 1 (got {val_fraction})")
    ids = np.asarray(ids, dtype=np.int64)
    cut = int(round(ids.size * (1 - val_fraction)))
    if cut < 2 or ids.size - cut < 2:
        raise PlaygroundError(f"{ids.size} tokens are too few to split into train and validation")
    return ids[:cut], ids[cut:]


@dataclass(frozen=True)
class NGramEvaluation:
    """One n-gram model's scores on a train/val split."""

    order: int
    """n."""
    smoothing: str
    """"add-k" or "kneser-ney"."""
    train_loss: float
    """Cross-entropy on the training ids (nats/token)."""
    val_loss: float
    """Cross-entropy on the validation ids (nats/token)."""
    fit_seconds: float
    """Time to count the training ids."""

    @property
    def train_perplexity(self) -> float:
        """e^train_loss."""
        return math.exp(self.train_loss)

    @property
    def val_perplexity(self) -> float:
        """e^val_loss."""
        return math.exp(self.val_loss)

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {**asdict(self), "train_perplexity": self.train_perplexity, "val_perplexity": self.val_perplexity}


def evaluate_orders(train_ids, val_ids, vocab_size: int, *, orders: Sequence[int] = (1, 2, 3),
                    smoothing: str = "kneser-ney", k: float = 1.0, discount: float = 0.75,
                    ) -> tuple[list[NGramEvaluation], dict[int, NGramModel]]:
    """Fit one model per order on `train_ids` and score it on both splits.

    Returns the evaluations and the fitted models (by order), e.g. to sample from them.
    """
    evaluations, models = [], {}
    for order in orders:
        started = time.perf_counter()
        model = NGramModel(order, smoothing, k=k, discount=discount, vocab_size=vocab_size).fit(train_ids)
        seconds = time.perf_counter() - started
        evaluations.append(NGramEvaluation(order, smoothing, model.cross_entropy(train_ids),
                                           model.cross_entropy(val_ids), seconds))
        models[order] = model
    return evaluations, models


@dataclass(frozen=True)
class NGramReport:
    """n-gram baselines of a text: scores for each order and a sample from the largest."""

    tokenizer: str
    """The tokenizer's name."""
    vocab_size: int
    """V."""
    train_tokens: int
    """Tokens in the training split."""
    val_tokens: int
    """Tokens in the validation split."""
    evaluations: list[NGramEvaluation]
    """One per order."""
    sample: str
    """Text sampled from the highest order after the prompt."""

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {**{k: v for k, v in asdict(self).items() if k != "evaluations"},
                "evaluations": [e.to_dict() for e in self.evaluations]}

    def table(self) -> str:
        """Aligned text: one row per order."""
        lines = [f"{'order':>5}  {'smoothing':<10}  {'train loss':>10}  {'train ppl':>9}  "
                 f"{'val loss':>8}  {'val ppl':>8}  {'fit s':>6}"]
        for e in self.evaluations:
            lines.append(f"{e.order:>5}  {e.smoothing:<10}  {e.train_loss:>10.4f}  {e.train_perplexity:>9.2f}  "
                         f"{e.val_loss:>8.4f}  {e.val_perplexity:>8.2f}  {e.fit_seconds:>6.2f}")
        return "\n".join(lines)

    def explanation(self) -> LossExplanation:
        """The highest order's validation loss explained, with the lower orders as baselines."""
        best, *lower = reversed(self.evaluations)
        return explain_loss(best.val_loss, vocab_size=self.vocab_size, tokens=self.val_tokens - 1,
                            baselines={f"order {e.order} ({e.smoothing})": e.val_loss for e in reversed(lower)})


def ngram_report(text: str, *, encode: Callable[[str], list[int]], decode: Callable[[list[int]], str],
                 vocab_size: int, tokenizer_name: str = "", max_order: int = 3,
                 smoothing: str = "kneser-ney", k: float = 1.0, discount: float = 0.75,
                 val_fraction: float = 0.1, prompt: str = "", sample_tokens: int = 300,
                 seed: int = 0) -> NGramReport:
    """Tokenize `text`, split it like the neural trainer (last `val_fraction` validates), fit
    orders 1 … max_order, score both splits and sample from the highest order."""
    if max_order < 1:
        raise PlaygroundError(f"max_order must be at least 1 (got {max_order})")
    ids = np.asarray(encode(text), dtype=np.int64)
    train_ids, val_ids = train_val_split(ids, val_fraction)
    evaluations, models = evaluate_orders(train_ids, val_ids, vocab_size, orders=range(1, max_order + 1),
                                          smoothing=smoothing, k=k, discount=discount)
    prompt_ids = encode(prompt) if prompt else train_ids[:max_order - 1].tolist()
    new = models[max_order].sample(prompt_ids, sample_tokens, seed)
    return NGramReport(tokenizer_name, vocab_size, int(train_ids.size), int(val_ids.size), evaluations,
                       decode([*prompt_ids, *new]))
