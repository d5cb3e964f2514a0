"""Token embeddings: the first table of every model, one learned vector per vocabulary entry.

Before any layer runs, a token is just its row of the embedding matrix (V × C). Rows of tokens that
are used alike end up pointing alike, so the nearest rows by cosine similarity are often related
words (" cat" → " cats", " dog", " kitten"). Vector arithmetic on rows (king − man + woman) lands
near " queen" in some models and not in others: `analogy` reports the rank of the answer you expect,
so you can see where it works. These are *static* embeddings: the same vector in every sentence
(`contextual` shows what the layers make of it).

A word that is several tokens is represented by the mean of their rows (said in the notes). For
byte-level BPE models the word is looked up with a leading space first (" king"), the form a word
takes inside a sentence.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from llm_playground.errors import PlaygroundError


@dataclass
class Neighbour:
    """One vocabulary entry near the query."""

    rank: int
    id: int
    token: str
    """The token decoded on its own (leading space shown as a space)."""
    cosine: float


@dataclass
class NeighbourResult:
    """The nearest tokens to a query vector in a model's embedding table."""

    model: str
    query: str
    """What was asked: a word, or "b − a + c" for an analogy."""
    query_tokens: list[str]
    neighbours: list[Neighbour]
    expected: str | None = None
    """Analogies: the answer you expected."""
    expected_rank: int | None = None
    """Its rank among all vocabulary entries (1 = nearest), None when not asked or not one token."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def embedding_table(model: str) -> tuple[torch.Tensor, object, str]:
    """(token embedding matrix (V, C), tokenizer, model name) of a zoo model, held by the model store.

    Decoders come from our engine (the `native` entry other commands share); encoders and other
    architectures from transformers' model (`get_input_embeddings`)."""
    from llm_playground import zoo
    from llm_playground.generation.backends import native_model, native_supported

    spec = zoo.resolve(model)
    if spec.generates and native_supported(spec.architecture):
        weight = native_model(model).wte.weight
    else:
        weight = zoo.load_hf_model(model).get_input_embeddings().weight
    return weight.detach(), zoo.load_tokenizer(model), spec.name


def _word_ids(tokenizer, word: str) -> list[int]:
    """The ids of `word` as it appears inside a sentence: with a leading space for byte-level BPE
    (when that is fewer tokens), as is for WordPiece (which ignores spaces)."""
    plain = tokenizer(word, add_special_tokens=False)["input_ids"]
    spaced = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
    return spaced if 0 < len(spaced) <= len(plain) else plain


def _label(tokenizer, token_id: int) -> str:
    return tokenizer.decode([token_id])


def word_vector(table: torch.Tensor, tokenizer, word: str) -> tuple[torch.Tensor, list[str], list[str]]:
    """(vector (C,), its token labels, notes) for a word: its row, or the mean of its tokens' rows."""
    word = word.strip()
    if not word:
        raise PlaygroundError("the word is empty; type a word such as king")
    ids = _word_ids(tokenizer, word)
    labels = [_label(tokenizer, i) for i in ids]
    notes = [] if len(ids) == 1 else [f"{word!r} is {len(ids)} tokens {labels}: its vector is the mean of their rows"]
    return table[ids].float().mean(dim=0), labels, notes


def _is_same_word(label: str, words: set[str]) -> bool:
    return label.strip().lower().removeprefix("##") in words


def nearest(table: torch.Tensor, tokenizer, vector: torch.Tensor, *, k: int, exclude_words: set[str],
            exclude_ids: set[int]) -> tuple[list[Neighbour], torch.Tensor]:
    """The k rows nearest to `vector` by cosine, leaving out the query's own tokens and other spellings
    of the query words (" King", "king"); also returns every row's cosine (V,)."""
    norms = table.float().norm(dim=1).clamp(min=1e-12)   # (V,)
    cosines = (table.float() @ vector) / (norms * vector.norm().clamp(min=1e-12))  # (V,)
    order = torch.argsort(cosines, descending=True)
    found: list[Neighbour] = []
    for token_id in order.tolist():
        if token_id in exclude_ids:
            continue
        label = _label(tokenizer, token_id)
        if not label.strip() or label.startswith("[unused") or _is_same_word(label, exclude_words):
            continue
        found.append(Neighbour(rank=len(found) + 1, id=token_id, token=label, cosine=float(cosines[token_id])))
        if len(found) == k:
            break
    return found, cosines


def _check_k(k: int) -> None:
    if not isinstance(k, int) or not 1 <= k <= 100:
        raise PlaygroundError(f"k (how many neighbours) must be between 1 and 100 (got {k})")


def nearest_tokens(model: str, word: str, k: int = 10) -> NeighbourResult:
    """The k vocabulary entries whose embedding rows are nearest to `word`'s (cosine)."""
    _check_k(k)
    table, tokenizer, name = embedding_table(model)
    vector, labels, notes = word_vector(table, tokenizer, word)
    neighbours, _ = nearest(table, tokenizer, vector, k=k, exclude_words={word.strip().lower()},
                            exclude_ids=set(_word_ids(tokenizer, word.strip())))
    notes.append("other spellings of the word itself (case, leading space) are left out")
    return NeighbourResult(model=name, query=word.strip(), query_tokens=labels, neighbours=neighbours, notes=notes)


def analogy(model: str, a: str, b: str, c: str, *, k: int = 10, expected: str | None = None) -> NeighbourResult:
    """a is to b as c is to ?: the rows nearest to b − a + c (man : king :: woman : ? → king − man + woman),
    leaving out a, b and c themselves (as word2vec's evaluation does). With `expected`, also its rank."""
    _check_k(k)
    table, tokenizer, name = embedding_table(model)
    vectors, notes, ids = [], [], set()
    for word in (a, b, c):
        vector, _, word_notes = word_vector(table, tokenizer, word)
        vectors.append(vector)
        notes += word_notes
        ids.update(_word_ids(tokenizer, word.strip()))
    query = vectors[1] - vectors[0] + vectors[2]
    words = {w.strip().lower() for w in (a, b, c)}
    neighbours, cosines = nearest(table, tokenizer, query, k=k, exclude_words=words, exclude_ids=ids)
    result = NeighbourResult(model=name, query=f"{b.strip()} − {a.strip()} + {c.strip()}", query_tokens=[],
                             neighbours=neighbours, expected=expected, notes=notes)
    if expected:
        expected_ids = _word_ids(tokenizer, expected.strip())
        if len(expected_ids) == 1:
            better = (cosines > cosines[expected_ids[0]]).nonzero().flatten().tolist()
            result.expected_rank = 1 + sum(1 for i in better if i not in ids
                                           and not _is_same_word(_label(tokenizer, i), words))
        else:
            result.notes.append(f"{expected!r} is {len(expected_ids)} tokens in {name}: no single row to rank")
    return result


def format_neighbours(result: NeighbourResult) -> str:
    """The result as text: header, one line per neighbour, the expected answer's rank, notes."""
    lines = [f"{result.model}: nearest tokens to {result.query}"
             + (f" (tokens: {result.query_tokens})" if result.query_tokens else "")]
    lines += [f"  {n.rank:>3}. {n.token!r:<24} cos {n.cosine:.3f}" for n in result.neighbours]
    if result.expected:
        where = f"rank {result.expected_rank}" if result.expected_rank else "not ranked"
        lines.append(f"expected {result.expected!r}: {where}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)
