"""The grammar engine (llguidance) over one model's vocabulary: compiled constraints and matcher states.

    compiled = compile_constraint(constraint, tokenizer, vocab_size=49152, eos_ids={0, 2})
    state = compiled.start()
    allowed = state.allowed()        # BoolTensor (V,): which tokens may come next
    state.consume(token_id)          # advance with the token that was chosen
    state.is_accepting()             # the text so far satisfies the constraint

The engine's view of a vocabulary (its token trie, about 1 s for SmolLM2's 49,152 tokens and
5–15 s for Gemma-3's 262,144 on this CPU) is built once per (tokenizer, vocabulary size, end ids)
and lives as long as the tokenizer does. A compiled constraint is kept per (that vocabulary,
constraint), least recently used first out; new states are copies of its warmed-up matcher.
Why llguidance and not xgrammar: docs/structured-output.md.
"""
from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.structured.constraint import Constraint

COMPILED_PER_VOCABULARY = 64
"""Compiled constraints kept for each vocabulary (least recently used dropped first)."""

_lock = threading.RLock()
_vocabularies: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()
"""tokenizer → {(vocab_size, eos ids): EngineVocabulary}; an entry goes when its tokenizer goes."""


@dataclass
class EngineVocabulary:
    """llguidance's tokenizer for one model vocabulary, and the constraints compiled against it."""

    tokenizer: object
    """llguidance.LLTokenizer."""
    vocab_size: int
    eos_ids: tuple[int, ...]
    compiled: "OrderedDict[tuple[str, str], CompiledConstraint]"


def engine_vocabulary(tokenizer, vocab_size: int, eos_ids: Iterable[int]) -> EngineVocabulary:
    """The engine's view of `tokenizer` with `vocab_size` logits and these end-of-sequence ids (cached)."""
    eos = tuple(sorted({int(i) for i in eos_ids}))
    if not eos:
        raise PlaygroundError("a constraint needs the model's end-of-sequence token to know where the output "
                              "ends, and this tokenizer has none")
    with _lock:
        per_tokenizer = _vocabularies.setdefault(tokenizer, {})
        entry = per_tokenizer.get((vocab_size, eos))
        if entry is None:
            import llguidance.hf

            try:
                lltokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=list(eos))
            except ValueError as error:
                raise PlaygroundError(f"the grammar engine cannot read this tokenizer ({error}); constraints "
                                      "need a Hugging Face fast tokenizer") from None
            entry = EngineVocabulary(lltokenizer, vocab_size, eos, OrderedDict())
            per_tokenizer[(vocab_size, eos)] = entry
        return entry


def compile_constraint(constraint: Constraint, tokenizer, *, vocab_size: int, eos_ids: Iterable[int],
                       forcing: bool = True) -> "CompiledConstraint":
    """A constraint compiled for a vocabulary, from the cache when it was compiled before.

    With `forcing` (the default), where the constraint leaves only one possible continuation text
    (the rest of `"positive"` after `"pos"`, a JSON key and its `": "`), only the first token of that
    text's canonical tokenization is allowed, as the tokenizer would have split it: the model keeps
    seeing token sequences like those it was trained on. Without it, every token that keeps the text
    inside the constraint is allowed (what the brute-force test checks exactly).
    """
    vocabulary = engine_vocabulary(tokenizer, vocab_size, eos_ids)
    key = (*constraint.key, "forcing" if forcing else "no forcing")
    with _lock:
        compiled = vocabulary.compiled.get(key)
        if compiled is not None:
            vocabulary.compiled.move_to_end(key)
            return compiled
    import llguidance

    grammar = constraint.grammar if forcing else without_forcing(constraint.grammar)
    template = llguidance.LLMatcher(vocabulary.tokenizer, grammar, log_level=0)
    if template.is_error():
        raise PlaygroundError(f"the constraint cannot be used with this vocabulary: {template.get_error()}")
    compiled = CompiledConstraint(constraint, vocabulary, template)
    with _lock:
        vocabulary.compiled[key] = compiled
        while len(vocabulary.compiled) > COMPILED_PER_VOCABULARY:
            vocabulary.compiled.popitem(last=False)
    return compiled


def without_forcing(grammar: str) -> str:
    """The same grammar with llguidance's `no_forcing` option: every tokenization of the text is allowed."""
    directive = '%llguidance {"no_forcing": true}\n'
    if not grammar.lstrip().startswith("{"):  # a Lark grammar
        return directive + grammar
    spec = json.loads(grammar)
    for part in spec["grammars"]:
        if part.get("lark_grammar"):
            part["lark_grammar"] = directive + part["lark_grammar"]
        elif part.get("json_schema") is not None:
            part["lark_grammar"] = directive + "start: %json " + json.dumps(part.pop("json_schema"))
    return json.dumps(spec)


def cached_count(tokenizer) -> int:
    """How many constraints are compiled for this tokenizer (all vocabulary sizes together)."""
    with _lock:
        return sum(len(v.compiled) for v in _vocabularies.get(tokenizer, {}).values())


class CompiledConstraint:
    """A constraint compiled for one vocabulary; `start()` gives a fresh matcher state."""

    def __init__(self, constraint: Constraint, vocabulary: EngineVocabulary, template) -> None:
        self.constraint = constraint
        self.vocabulary = vocabulary
        self._template = template  # an llguidance.LLMatcher that has consumed nothing
        self._template_lock = threading.Lock()

    @property
    def vocab_size(self) -> int:
        return self.vocabulary.vocab_size

    def start(self) -> "MatcherState":
        with self._template_lock:
            return MatcherState(self._template.deep_copy(), self.vocabulary)


class MatcherState:
    """Where one sequence stands in the constraint; advanced token by token."""

    def __init__(self, matcher, vocabulary: EngineVocabulary) -> None:
        self._matcher = matcher
        self.vocabulary = vocabulary
        words = (vocabulary.vocab_size + 31) // 32
        self._bitmask = np.zeros((1, words), dtype=np.int32)  # one bit per token, filled by the engine

    def allowed_bits(self) -> np.ndarray:
        """uint8 (V,): 1 for each token the constraint allows next (end-of-sequence ids only when the
        text so far is complete), 0 for the others."""
        from llguidance.numpy import fill_next_token_bitmask

        fill_next_token_bitmask(self._matcher, self._bitmask)
        if self._matcher.is_error():
            raise PlaygroundError(f"the grammar engine failed: {self._matcher.get_error().splitlines()[0]}")
        return np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")[: self.vocabulary.vocab_size]

    def allowed(self) -> torch.Tensor:
        """BoolTensor (V,): True for each token the constraint allows next."""
        return torch.from_numpy(self.allowed_bits().astype(np.bool_))

    def consume(self, token_id: int) -> None:
        """Advance with the token that was chosen (it must have been allowed)."""
        if not self._matcher.consume_token(int(token_id)):
            raise PlaygroundError(f"token {token_id} does not fit the constraint here: "
                                  f"{self._matcher.get_error().splitlines()[0]}")

    def fork(self) -> "MatcherState":
        """An independent copy (beam search: one state per beam)."""
        return MatcherState(self._matcher.deep_copy(), self.vocabulary)

    def is_accepting(self) -> bool:
        """The text so far satisfies the constraint (it may be ended here)."""
        return bool(self._matcher.is_accepting())

    def is_stopped(self) -> bool:
        """Nothing but an end-of-sequence token may follow."""
        return bool(self._matcher.is_stopped())

    def forced_text(self) -> bytes:
        """The bytes the constraint forces next, whatever the model wants ("" when it has a choice)."""
        return bytes(self._matcher.compute_ff_bytes())
