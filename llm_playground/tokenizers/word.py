"""Word-level and character-level tokenizers: the two simple ends of the scale BPE sits between.

Word-level: one id per word seen in a corpus. Short sequences, a huge vocabulary, and any word it
did not see becomes `[UNK]`: the information is gone, and `decode` cannot give it back. It also
loses the spacing (decode joins words with single spaces).

Character-level: one id per character. A tiny vocabulary and nothing unknown within its alphabet,
but long sequences; characters outside the alphabet become `[UNK]`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import regex

from llm_playground.tokenizers.base import Token, Tokenizer, TokenizerError, char_to_byte_offsets, fix_surrogates

PAD, UNK = "[PAD]", "[UNK]"
WORD_PATTERN = regex.compile(r"\w+|[^\w\s]")  # a run of letters/digits/_, or one punctuation mark


class _VocabularyTokenizer(Tokenizer):
    """Shared machinery: a list of strings whose position is the id; `[PAD]` = 0, `[UNK]` = 1."""

    def __init__(self, vocabulary: Iterable[str], *, name: str):
        self.name = name
        self.id_to_text = [PAD, UNK, *(t for t in dict.fromkeys(vocabulary) if t not in (PAD, UNK))]
        self.text_to_id = {text: i for i, text in enumerate(self.id_to_text)}
        self.unk_id = self.text_to_id[UNK]

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_text)

    @property
    def special_tokens(self) -> dict[str, int]:
        return {PAD: 0, UNK: 1}

    def _pieces(self, text: str) -> list[tuple[str, int, int]]:
        """(piece, start char, end char) for each unit of `text`."""
        raise NotImplementedError

    def _lookup(self, piece: str) -> int:
        return self.text_to_id.get(piece, self.unk_id)

    def encode_ordinary(self, text: str) -> list[int]:
        return [self._lookup(piece) for piece, _, _ in self._pieces(fix_surrogates(text))]

    def _ordinary_tokens(self, text: str, byte_offset: int) -> list[Token]:
        offsets = char_to_byte_offsets(text)
        tokens = []
        for piece, start, end in self._pieces(text):
            token_id = self._lookup(piece)
            tokens.append(Token(token_id, self.id_to_text[token_id], byte_offset + offsets[start],
                                byte_offset + offsets[end], token_id == self.unk_id))
        return tokens

    def _text_of(self, ids: Iterable[int]) -> list[str]:
        ids = list(ids)
        bad = [i for i in ids if not (isinstance(i, int) and 0 <= i < self.vocab_size)]
        if bad:
            raise TokenizerError(f"token id {bad[0]!r} is out of range for {self.name} (ids are 0 … {self.vocab_size - 1})")
        return [self.id_to_text[i] for i in ids]


class WordTokenizer(_VocabularyTokenizer):
    """One id per word of a fixed vocabulary; unknown words become `[UNK]`.

    >>> tok = WordTokenizer.fit("the cat sat on the mat", lowercase=True)
    >>> tok.decode(tok.encode("The dog sat."))
    'the [UNK] sat [UNK]'
    """

    def __init__(self, vocabulary: Iterable[str], *, lowercase: bool = False, name: str = "word"):
        super().__init__(vocabulary, name=name)
        self.lowercase = lowercase

    @classmethod
    def fit(cls, corpus: str, *, max_size: int | None = None, min_count: int = 1, lowercase: bool = False,
            name: str = "word") -> WordTokenizer:
        """Build the vocabulary from `corpus`: the `max_size` most frequent words seen `min_count`+ times."""
        if max_size is not None and max_size < 3:
            raise TokenizerError(f"max_size {max_size} is too small: [PAD], [UNK] and at least one word")
        counts = Counter(piece.lower() if lowercase else piece for piece in WORD_PATTERN.findall(corpus))
        limit = None if max_size is None else max_size - 2
        words = [w for w, c in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if c >= min_count][:limit]
        return cls(words, lowercase=lowercase, name=name)

    def _pieces(self, text: str) -> list[tuple[str, int, int]]:
        return [(m.group().lower() if self.lowercase else m.group(), m.start(), m.end())
                for m in WORD_PATTERN.finditer(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Words joined by single spaces: the original spacing is not kept (another limitation)."""
        return " ".join(self._text_of(ids))


class CharTokenizer(_VocabularyTokenizer):
    """One id per character (Unicode code point) of an alphabet; others become `[UNK]`.

    >>> tok = CharTokenizer("abc ")
    >>> tok.encode("a cab!"), tok.decode(tok.encode("a cab!"))
    ([2, 5, 4, 2, 3, 1], 'a cab[UNK]')
    """

    def __init__(self, alphabet: Iterable[str], *, name: str = "char"):
        alphabet = list(alphabet)
        if any(len(ch) != 1 for ch in alphabet):
            raise TokenizerError("a character alphabet holds single characters only")
        super().__init__(alphabet, name=name)

    @classmethod
    def fit(cls, corpus: str, *, name: str = "char") -> CharTokenizer:
        """The alphabet of `corpus`, in code-point order."""
        return cls(sorted(set(corpus)), name=name)

    def _pieces(self, text: str) -> list[tuple[str, int, int]]:
        return [(ch, i, i + 1) for i, ch in enumerate(text)]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self._text_of(ids))
