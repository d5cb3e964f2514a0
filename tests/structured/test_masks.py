"""The engine's token masks equal a brute-force check over the whole (tiny) vocabulary.

For each constraint we write the language it stands for as a reference regular expression, then
walk random paths through it. At every step a token is allowed by brute force iff the text so far
plus that token's bytes is still the prefix of some string of the language (Python's `regex` module
with partial matching), and end-of-sequence iff the text is a whole string of the language. Without
forcing, the GrammarMask must allow exactly that set: no token more, no token less. With forcing
(the default), where the constraint leaves one possible text the mask allows only the first token of
that text's canonical tokenization (a subset); everywhere else it is the same exact set.
"""
import random

import pytest
import regex
import torch

from llm_playground.structured import Constraint, GrammarMask

from .conftest import EOS, token_bytes

CASES = [
    (Constraint("regex", "[0-9]{3}-[0-9]{4}"), r"[0-9]{3}-[0-9]{4}"),
    (Constraint("regex", r"\d{2}(ab|ba)?"), r"[0-9]{2}(ab|ba)?"),  # \d means [0-9] here
    (Constraint("choices", ["positive", "negative", "neutral"]), r"positive|negative|neutral"),
    (Constraint("grammar", 'root ::= "(" [a-c]* ")" | "yes"'), r"\([a-c]*\)|yes"),
    (Constraint("json_schema", {"type": "object", "properties": {"age": {"type": "integer"}, "ok": {"type": "boolean"}},
                                "required": ["age", "ok"], "additionalProperties": False}),
     r'\{"age": -?(0|[1-9][0-9]*), "ok": (true|false)\}'),
    (Constraint("json_schema", {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[A-Z][a-z]+$"},
                                                                 "tags": {"type": "array", "items": {"enum": ["a", "b"]},
                                                                          "maxItems": 2}},
                                "required": ["name", "tags"], "additionalProperties": False}),
     r'\{"name": "[A-Z][a-z]+", "tags": \[(("a"|"b")(, ("a"|"b"))?)?\]\}'),
]


def brute_force_allowed(reference: str, text: bytes, table: list[bytes]) -> set[int]:
    allowed = set()
    for token_id, piece in enumerate(table):
        if token_id == EOS:
            try:
                if regex.fullmatch(reference, text.decode("utf-8")):
                    allowed.add(EOS)
            except UnicodeDecodeError:
                pass
            continue
        if not piece:  # another special token: not text
            continue
        try:
            candidate = (text + piece).decode("utf-8")
        except UnicodeDecodeError:  # the references are ASCII: a partial character never fits
            continue
        if regex.fullmatch(reference, candidate, partial=True):
            allowed.add(token_id)
    return allowed


@pytest.mark.parametrize("forcing", [False, True], ids=["every-tokenization", "canonical-forcing"])
@pytest.mark.parametrize("constraint, reference", CASES, ids=lambda c: getattr(c, "kind", None))
def test_masks_equal_brute_force_over_the_whole_vocabulary(constraint, reference, forcing, tiny_tokenizer):
    table = token_bytes(tiny_tokenizer)
    vocab = len(table)
    forced_steps = 0
    for seed in range(3):
        rng = random.Random(seed)
        mask = GrammarMask(constraint, tiny_tokenizer, eos_ids={EOS}, forcing=forcing)
        generated: list[int] = []
        for _ in range(20):
            ids = torch.tensor([[EOS, *generated]])  # a one-token prompt, then what was generated
            scores = mask(ids, torch.zeros(1, vocab))
            engine = set(torch.nonzero(scores[0] > -torch.inf).flatten().tolist())
            text = b"".join(table[t] for t in generated)
            expected = brute_force_allowed(reference, text, table)
            forced = mask.state_of(generated).forced_text() if forcing else b""
            if forced:  # one text is possible: its canonical first token (and tokens going past it) only
                canonical = tiny_tokenizer.encode(forced.decode("utf-8"), add_special_tokens=False)
                assert canonical[0] in engine and engine <= expected, (text, forced, engine)
                expected, forced_steps = engine, forced_steps + 1
            assert engine == expected, (text, sorted(engine ^ expected)[:10])
            assert mask.is_complete(generated) == (EOS in expected)
            choices = sorted(expected - {EOS})
            if not choices or (EOS in expected and rng.random() < 0.3):
                break
            generated.append(rng.choice(choices))
    assert forced_steps > 0 or not forcing or constraint.kind == "regex"


def test_masked_mass_is_the_probability_of_the_masked_tokens(tiny_tokenizer):
    vocab = len(tiny_tokenizer)
    mask = GrammarMask(Constraint("choices", ["yes", "no"]), tiny_tokenizer, eos_ids={EOS})
    logits = torch.randn(2, vocab, generator=torch.Generator().manual_seed(0))
    before = logits.clone()
    scores = mask(torch.tensor([[EOS], [EOS]]), logits)
    assert torch.equal(logits, before)  # the input is never changed
    allowed = scores > -torch.inf
    expected = 1 - (logits.softmax(-1) * allowed).sum(-1)
    assert mask.last_masked_mass == pytest.approx(expected.tolist(), abs=1e-6)
    assert torch.equal(scores[allowed], logits[allowed])  # allowed scores pass unchanged


def test_beam_rows_fork_and_reorder_their_states(tiny_tokenizer):
    """Rows are found by their generated tokens: a row that continues another gets a copy of its
    state; two rows that continue the same parent diverge independently."""
    table = token_bytes(tiny_tokenizer)
    digit = {table.index(str(d).encode()) for d in range(10)} if all(str(d).encode() in table for d in range(10)) else None
    assert digit, "the tiny tokenizer has single-digit tokens"
    one, two, dash = table.index(b"1"), table.index(b"2"), table.index(b"-")
    mask = GrammarMask(Constraint("regex", "[0-9]-[0-9]|[0-9]{3}"), tiny_tokenizer, eos_ids={EOS})
    vocab = len(table)
    mask(torch.tensor([[EOS], [EOS]]), torch.zeros(2, vocab))  # the first step: both rows are the prompt
    mask(torch.tensor([[EOS, one], [EOS, two]]), torch.zeros(2, vocab))
    # reordered: row 0 continues the "2" row with "-", row 1 continues the "2" row with "2"
    scores = mask(torch.tensor([[EOS, two, dash], [EOS, two, two]]), torch.zeros(2, vocab))
    after_dash = set(torch.nonzero(scores[0] > -torch.inf).flatten().tolist())
    after_digits = set(torch.nonzero(scores[1] > -torch.inf).flatten().tolist())
    assert after_dash == digit  # "2-" needs exactly one digit
    assert after_digits == digit  # "22" needs exactly one more digit
    assert mask.is_complete([two, dash, one]) and mask.is_complete([two, two, one])
    assert not mask.is_complete([two, dash])


def test_a_row_outside_the_constraint_allows_nothing(tiny_tokenizer):
    """Beam search keeps probability-0 filler rows when fewer tokens are allowed than it has beams."""
    table = token_bytes(tiny_tokenizer)
    mask = GrammarMask(Constraint("choices", ["yes", "no"]), tiny_tokenizer, eos_ids={EOS})
    vocab = len(table)
    mask(torch.tensor([[EOS]]), torch.zeros(1, vocab))
    scores = mask(torch.tensor([[EOS, table.index(b"7")]]), torch.zeros(1, vocab))
    assert bool((scores == -torch.inf).all())
