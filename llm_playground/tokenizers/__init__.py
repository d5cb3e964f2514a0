"""Tokenization lab: word, character and byte-level BPE tokenizers behind one interface.

    >>> from llm_playground.tokenizers import get_tokenizer
    >>> tok = get_tokenizer("bpe-gpt2")                      # tiktoken's engine, our ranks
    >>> tok.encode("hello world")
    [31373, 995]
    >>> [(t.text, t.start_byte, t.end_byte) for t in tok.tokens("hi 😀")]   # doctest: +SKIP

Modules, from the smallest idea up: `base` (the interface, special-token rules), `patterns`
(pre-splitting regexes), `word` (word and character level), `bpe` (the readable byte-level BPE,
save/load), `bpe_train` (training, merge by merge), `fast` (tiktoken's engine), `hf` (Hugging Face
tokenizers of the zoo models), `registry` (names), `display` (visible whitespace, coloured spans),
`lab` (what the faces call: several tokenizers on one text, training from a file).
"""
from llm_playground.tokenizers.base import SpecialTokenError, Token, Tokenizer, TokenizerError, fix_surrogates
from llm_playground.tokenizers.bpe import BPEVocab, ReferenceBPETokenizer
from llm_playground.tokenizers.bpe_train import BPETrainer, Merge, train_bpe
from llm_playground.tokenizers.display import render_ansi, token_pieces, visible_whitespace
from llm_playground.tokenizers.fast import TiktokenTokenizer
from llm_playground.tokenizers.hf import HFTokenizer, hf_tokenizer_from_vocab
from llm_playground.tokenizers.lab import Tokenization, TrainingReport, tokenize_text, train_from_file
from llm_playground.tokenizers.registry import (bpe_tokenizer, describe_tokenizers, get_tokenizer, list_tokenizers,
                                                load_tokenizer)
from llm_playground.tokenizers.textfile import read_text_file
from llm_playground.tokenizers.word import CharTokenizer, WordTokenizer

__all__ = [
    "BPETrainer", "BPEVocab", "CharTokenizer", "HFTokenizer", "Merge", "ReferenceBPETokenizer", "SpecialTokenError",
    "TiktokenTokenizer", "Token", "Tokenization", "Tokenizer", "TokenizerError", "TrainingReport", "WordTokenizer",
    "bpe_tokenizer", "describe_tokenizers", "fix_surrogates", "get_tokenizer", "hf_tokenizer_from_vocab",
    "list_tokenizers", "load_tokenizer", "read_text_file", "render_ansi", "token_pieces", "tokenize_text",
    "train_bpe", "train_from_file", "visible_whitespace",
]
