"""Recursive chunking in tokens: exact slices, sizes, overlap, separators tried in order."""
import pytest

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.rag.chunking import ChunkingConfig, chunk_text


class WordTokenizer:
    """One token per run of non-spaces, with offsets (what chunk_text asks of a tokenizer)."""

    def __call__(self, text, **_):
        import re
        return {"offset_mapping": [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]}


def test_worked_example_by_hand():
    # pieces at " ": "a ", "b ", … one token each; size 3, overlap 1 → each chunk repeats the last word
    chunks = chunk_text("a b c d e f", WordTokenizer(), ChunkingConfig(chunk_size=3, chunk_overlap=1))
    assert [(c.text, c.start, c.end, c.tokens) for c in chunks] == [
        ("a b c", 0, 5, 3), ("c d e", 4, 9, 3), ("e f", 8, 11, 2)]


def test_paragraphs_are_cut_before_lines_and_sentences():
    text = "one two three.\nfour five\n\nsix seven eight. nine"
    chunks = chunk_text(text, WordTokenizer(), ChunkingConfig(chunk_size=5, chunk_overlap=0))
    assert [c.text for c in chunks] == ["one two three.\nfour five", "six seven eight. nine"]


def test_a_long_run_without_separators_is_cut_at_token_boundaries():
    text = "x" * 40  # MiniLM splits it into word pieces; no separator occurs
    tokenizer = zoo.load_tokenizer("minilm-l6")
    chunks = chunk_text(text, tokenizer, ChunkingConfig(chunk_size=4, chunk_overlap=0))
    assert "".join(c.text for c in chunks) == text
    assert all(c.tokens <= 4 for c in chunks) and len(chunks) > 1


def test_real_text_chunks_are_exact_slices_within_size_with_overlap():
    tokenizer = zoo.load_tokenizer("minilm-l6")
    text = open(__file__.replace("tests/rag/test_chunking.py", "README.md"), encoding="utf-8").read()
    config = ChunkingConfig(chunk_size=64, chunk_overlap=16)
    chunks = chunk_text(text, tokenizer, config)
    assert len(chunks) > 20
    covered = [False] * len(text)
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text and chunk.text == chunk.text.strip()
        encoded = tokenizer(chunk.text, add_special_tokens=False)["input_ids"]
        assert chunk.tokens <= 64 and abs(len(encoded) - chunk.tokens) <= 1  # counted on the page, checked alone
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())  # nothing is lost
    assert sum(b.start < a.end for a, b in zip(chunks, chunks[1:])) > len(chunks) // 2  # most neighbours overlap
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_whitespace_only_text_has_no_chunks():
    assert chunk_text(" \n\n ", WordTokenizer()) == []


@pytest.mark.parametrize("size, overlap, message", [
    (0, 0, "chunk_size must be between 1 and 254"), (300, 0, "chunk_size must be between 1 and 254"),
    (10, 10, "chunk_overlap must be at least 0 and less than chunk_size=10"), (10, -1, "chunk_overlap")])
def test_bad_chunking_settings(size, overlap, message):
    with pytest.raises(PlaygroundError, match=message):
        ChunkingConfig(chunk_size=size, chunk_overlap=overlap)
