"""`GrammarMask`: constrained decoding as one more logits processor.

It masks (score -inf) every token that the constraint does not allow after the text generated so
far, and records how much of the incoming probability mass it removed. It is built for one
generation (greedy, sampling or beam search) and keeps one matcher state per distinct generated
sequence: the first call fixes the prompt length; later calls find each row's state by its
generated tokens, forking the parent row's state and advancing it by the row's last token. So a
beam that continues another beam gets a copy of that beam's state, reordered with the beams,
without beam search knowing that a constraint exists.

    mask = GrammarMask(constraint, tokenizer, eos_ids={2})
    scores = mask(input_ids, logits)   # (B, T), (B, V) -> (B, V) with disallowed tokens at -inf
    mask.last_masked_mass              # [0.31]: probability the constraint took away, per row
    mask.is_complete(generated_ids)    # whether that output satisfies the constraint
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.sampling.processors import MASKED, LogitsProcessor
from llm_playground.structured.constraint import Constraint
from llm_playground.structured.engine import CompiledConstraint, MatcherState, compile_constraint


class GrammarMask(LogitsProcessor):
    """Allow only the tokens that keep the output inside `constraint` (and end-of-sequence only when
    the output is complete). Stateful: build one per generation."""

    def __init__(self, constraint: Constraint, tokenizer, eos_ids: Iterable[int], *, forcing: bool = True) -> None:
        self.constraint = constraint
        self.forcing = forcing
        """See `engine.compile_constraint`: forced text is allowed only in its canonical tokenization."""
        self.tokenizer = tokenizer
        self.eos_ids = frozenset(int(i) for i in eos_ids)
        self.compiled: CompiledConstraint | None = None
        self.prompt_length: int | None = None
        self._states: dict[tuple[int, ...], MatcherState] = {}
        self.last_masked_mass: list[float] = []
        """For each row of the last call: the probability mass (under the incoming scores) of the tokens
        the constraint masked, 0 when the model only wanted allowed tokens, near 1 when it wanted others."""

    def _arguments(self) -> dict:
        return {"constraint": self.constraint.describe()}

    def prepare(self, vocab_size: int) -> CompiledConstraint:
        """Compile for a vocabulary of `vocab_size` logits (done by the first call when not done before)."""
        if self.compiled is None or self.compiled.vocab_size != vocab_size:
            self.compiled = compile_constraint(self.constraint, self.tokenizer, vocab_size=vocab_size,
                                               eos_ids=self.eos_ids, forcing=self.forcing)
        return self.compiled

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        self.prepare(scores.shape[-1])
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        keys = [tuple(row) for row in input_ids[:, self.prompt_length:].tolist()]
        states = {key: self.state_of(key) for key in dict.fromkeys(keys)}
        self._states = states  # rows that did not continue are dropped
        masks = {key: state.allowed() for key, state in states.items()}
        allowed = torch.stack([masks[key] for key in keys]).to(scores.device)  # (B, V)
        masked = scores.masked_fill(~allowed, MASKED)
        # log of the allowed share of the incoming distribution, per row; masked mass = 1 - its exp
        log_allowed = torch.logsumexp(masked.float(), dim=-1) - torch.logsumexp(scores.float(), dim=-1)
        self.last_masked_mass = (-torch.expm1(log_allowed)).clamp(0.0, 1.0).tolist()
        return masked

    def state_of(self, generated: Sequence[int]) -> MatcherState:
        """The matcher state after `generated` (the tokens after the prompt): from this generation's
        states, else forked from its parent's and advanced by its last token, else replayed."""
        key = tuple(generated)
        state = self._states.get(key)
        if state is not None:
            return state
        parent = self._states.get(key[:-1]) if key else None
        try:
            if parent is not None:
                state = parent.fork()
                state.consume(key[-1])
                return state
            state = self.compiled.start()
            for token in key:
                state.consume(token)
            return state
        except PlaygroundError:
            # A row holding a token the constraint never allowed: beam search keeps filler rows of
            # probability 0 when fewer tokens are allowed than it has beams. Nothing may follow it.
            return DeadState(self.compiled.vocab_size)

    def is_complete(self, generated: Sequence[int]) -> bool:
        """Whether `generated` (ending, or not, with an end-of-sequence token) satisfies the constraint."""
        if self.compiled is None:
            raise RuntimeError("GrammarMask.is_complete before any call: nothing was generated")
        generated = list(generated)
        if generated and generated[-1] in self.eos_ids:
            generated = generated[:-1]
        return self.state_of(generated).is_accepting()


class DeadState:
    """The state of a sequence that left the constraint: allows nothing, never complete."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def allowed(self) -> torch.Tensor:
        return torch.zeros(self.vocab_size, dtype=torch.bool)

    def fork(self) -> "DeadState":
        return self

    def consume(self, token_id: int) -> None:
        pass

    def is_accepting(self) -> bool:
        return False

    def is_stopped(self) -> bool:
        return True
