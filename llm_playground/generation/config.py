"""`GenerationConfig`: every decoding control in one validated dataclass.

Fields are grouped as in transformers' GenerationConfig. `temperature == 0` means greedy.
Validation happens in `__post_init__`, before any model work, and raises `PlaygroundError`
with a message that names the field, the value and the allowed range.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from llm_playground.errors import PlaygroundError
from llm_playground.structured.constraint import Constraint

STRATEGIES = ("greedy", "sample", "beam")

# Documented ranges, checked before any model work: one request must not be able to stall a shared
# server (a 1000-beam search took 155 s and 7.6 GB).
MAX_BEAMS = 64
"""Most beams one beam search may keep."""
MAX_TOP_ALTERNATIVES = 20
"""Most alternatives a step records (before and after the processors)."""
MAX_STOP_STRINGS = 16
"""Most stop strings (each is checked against the text after every token)."""
MAX_BAD_WORDS = 256
"""Most bad words (each becomes a banned token sequence)."""


@dataclass
class GenerationConfig:
    # --- length and stopping -------------------------------------------------------------
    max_new_tokens: int = 128
    """How many tokens to generate at most (≥ 1)."""
    stop: list[str] = field(default_factory=list)
    """Stop as soon as the generated text contains one of these strings (each non-empty)."""
    stop_at_eos: bool = True
    """Stop at the model's end-of-sequence token(s)."""

    # --- strategy ------------------------------------------------------------------------
    strategy: Literal["greedy", "sample", "beam"] = "greedy"
    """"greedy" (argmax), "sample" (draw from the processed distribution) or "beam"."""
    seed: int | None = None
    """Seed for sampling; the same seed reproduces the same text."""

    # --- reshaping the distribution (logits processors, applied in a fixed order) ---------
    repetition_penalty: float = 1.0
    """> 1 discourages tokens already in the context (CTRL-style, divides positive logits)."""
    frequency_penalty: float = 0.0
    """Subtracted from a token's logit once per earlier occurrence (OpenAI-style)."""
    presence_penalty: float = 0.0
    """Subtracted once from the logit of every token that already occurred (OpenAI-style)."""
    no_repeat_ngram_size: int = field(default=0, metadata={"flag": "no-repeat-ngram"})
    """Forbid repeating any n-gram of this size (0 = off)."""
    bad_words: list[str] = field(default_factory=list)
    """Strings whose tokens may never be generated."""
    temperature: float = 1.0
    """Divides the logits; < 1 sharpens, > 1 flattens. 0 means greedy."""
    top_k: int = 0
    """Keep only the k most likely tokens (0 = off)."""
    top_p: float = 1.0
    """Nucleus: keep the smallest set of tokens whose probability adds up to top_p (1 = off)."""
    min_p: float = 0.0
    """Drop tokens less likely than min_p × the top token's probability (0 = off)."""
    typical_p: float = 1.0
    """Locally typical sampling mass (1 = off)."""

    # --- beam search ---------------------------------------------------------------------
    num_beams: int = 1
    """Beams kept at each step (beam strategy)."""
    length_penalty: float = 1.0
    """Beam score = sum of log-probs / length**length_penalty."""
    early_stopping: bool = False
    """Stop beam search once num_beams finished hypotheses exist."""
    num_return_sequences: int = 1
    """How many finished beams to return (≤ num_beams)."""

    # --- structured output ---------------------------------------------------------------
    constraint: Constraint | None = field(default=None, metadata={"cli": False})
    """What the output must look like (JSON schema, any JSON object, regex, grammar, choices); every
    strategy and backend honours it. None: free text. A dict {"kind": …, "value": …} is accepted."""

    # --- what each step reports ----------------------------------------------------------
    top_alternatives: int = 5
    """How many alternatives each step records, before and after the processors."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise PlaygroundError for a value out of range or a contradictory combination."""
        def bad(message: str) -> PlaygroundError:
            return PlaygroundError(message)

        if isinstance(self.constraint, dict):
            self.constraint = Constraint(**self.constraint)
        if self.constraint is not None and not isinstance(self.constraint, Constraint):
            raise bad(f"constraint must be a structured.Constraint (got {type(self.constraint).__name__})")
        if self.constraint is not None and not self.stop_at_eos:
            raise bad("a constraint ends the output at the model's end-of-sequence token; keep stop_at_eos on")
        for name in ("temperature", "top_p", "min_p", "typical_p", "repetition_penalty", "frequency_penalty",
                     "presence_penalty", "length_penalty"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise bad(f"{name} must be a finite number (got {value!r})")
        for name in ("max_new_tokens", "top_k", "num_beams", "num_return_sequences", "no_repeat_ngram_size",
                     "top_alternatives"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad(f"{name} must be a whole number (got {value!r})")
        if self.strategy not in STRATEGIES:
            raise bad(f"unknown strategy {self.strategy!r}; choose one of: {', '.join(STRATEGIES)}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise bad(f"max_new_tokens must be at least 1 (got {self.max_new_tokens})")
        if any(not s for s in self.stop):
            raise bad("stop strings must not be empty; remove the empty stop string")
        if len(self.stop) > MAX_STOP_STRINGS:
            raise bad(f"at most {MAX_STOP_STRINGS} stop strings (got {len(self.stop)})")
        if any(not word.strip() for word in self.bad_words):
            raise bad("bad words must not be empty or only spaces; remove the empty bad word")
        if len(self.bad_words) > MAX_BAD_WORDS:
            raise bad(f"at most {MAX_BAD_WORDS} bad words (got {len(self.bad_words)})")
        if self.temperature < 0:
            raise bad(f"temperature must be ≥ 0 (got {self.temperature}); 0 means greedy")
        if self.top_k < 0:
            raise bad(f"top_k must be ≥ 1, or 0 to switch it off (got {self.top_k})")
        if not 0 < self.top_p <= 1:
            raise bad(f"top_p must be in (0, 1] (got {self.top_p}); 1 switches it off")
        if not 0 <= self.min_p <= 1:
            raise bad(f"min_p must be in [0, 1] (got {self.min_p}); 0 switches it off")
        if not 0 < self.typical_p <= 1:
            raise bad(f"typical_p must be in (0, 1] (got {self.typical_p}); 1 switches it off")
        if self.repetition_penalty <= 0:
            raise bad(f"repetition_penalty must be > 0 (got {self.repetition_penalty}); 1 switches it off")
        if self.no_repeat_ngram_size < 0:
            raise bad(f"no_repeat_ngram_size must be ≥ 0 (got {self.no_repeat_ngram_size})")
        if not 1 <= self.num_beams <= MAX_BEAMS:
            raise bad(f"num_beams must be between 1 and {MAX_BEAMS} (got {self.num_beams}); each beam is "
                      "one more sequence computed at every step")
        if self.num_return_sequences < 1 or self.num_return_sequences > max(1, self.num_beams):
            raise bad(f"num_return_sequences must be between 1 and num_beams={self.num_beams} "
                      f"(got {self.num_return_sequences})")
        if not 0 <= self.top_alternatives <= MAX_TOP_ALTERNATIVES:
            raise bad(f"top_alternatives must be between 0 and {MAX_TOP_ALTERNATIVES} (got {self.top_alternatives})")
        if self.strategy == "beam":
            sampling_flags = {
                "temperature": self.temperature not in (0.0, 1.0),
                "top_k": self.top_k != 0,
                "top_p": self.top_p != 1.0,
                "min_p": self.min_p != 0.0,
                "typical_p": self.typical_p != 1.0,
                "seed": self.seed is not None,
            }
            used = [name for name, on in sampling_flags.items() if on]
            if used:
                raise bad(f"beam search is deterministic: drop {', '.join(used)} or choose strategy 'sample'")
        elif self.num_beams != 1:
            raise bad(f"num_beams={self.num_beams} needs strategy 'beam'")
        if self.strategy == "greedy":
            warpers = {"temperature": self.temperature not in (0.0, 1.0), "top_k": self.top_k != 0,
                       "top_p": self.top_p != 1.0, "min_p": self.min_p != 0.0, "typical_p": self.typical_p != 1.0}
            used = [name for name, on in warpers.items() if on]
            if used:
                raise bad(f"{', '.join(used)} only reshape what sampling draws from, and greedy always takes the "
                          "most likely token: choose strategy 'sample'")

    @property
    def is_greedy(self) -> bool:
        """Argmax decoding: the greedy strategy, or sampling at temperature 0."""
        return self.strategy == "greedy" or (self.strategy == "sample" and self.temperature == 0)

    def replace(self, **changes) -> "GenerationConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
