"""`llmpg tokenize …` and `llmpg tokenizer train|list`: the tokenization lab on the command line."""
from __future__ import annotations

import json as _json
import os
import sys
from typing import Literal


def _use_color(color: str) -> bool:
    if color == "auto":
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return color == "always"


def tokenize(text: str | None = None, *, file: str | None = None, tokenizer: str = "gpt2",
             impl: Literal["fast", "reference"] = "fast", allow_special: bool = False, ordinary: bool = False,
             color: Literal["auto", "always", "never"] = "auto", json: bool = False) -> int:
    """Show how tokenizers cut a text: token count, characters per token, the tokens and their ids.

    Tokens are drawn on alternating colours with whitespace made visible (· space, ↵ newline,
    → tab); a token that holds part of a character shows its bytes, e.g. <F0 9F>.
    Example: llmpg tokenize "Hello world 😀" --tokenizer gpt2,cl100k_base,word

    Args:
        text: the text to tokenize (or give --file)
        file: read the text from this file (invalid UTF-8 is replaced by U+FFFD, with a warning)
        tokenizer: comma-separated names (llmpg tokenizer list) or folders of trained tokenizers
        impl: for our byte-level BPE (bpe-*, trained folders): tiktoken's engine or the pure-Python reference
        allow_special: encode special-token text such as <|endoftext|> as the special token
        ordinary: encode special-token text as plain text
        color: colour the tokens (auto: when printing to a terminal)
        json: print {"<tokenizer>": {"ids": [...], "tokens": [...], "count": n}, ...}
    """
    from llm_playground.errors import PlaygroundError
    from llm_playground.tokenizers import read_text_file, render_ansi
    from llm_playground.tokenizers.lab import tokenize_text

    if (text is None) == (file is None):
        raise PlaygroundError("give the text to tokenize, or --file FILE (not both)")
    if file is not None:
        text, warning = read_text_file(file)
        if warning:
            print(f"llmpg: warning: {warning}", file=sys.stderr)
    names = [name.strip() for name in tokenizer.split(",") if name.strip()]
    if file is None and text.strip() in ("list", "train"):  # `llmpg tokenizer list` is one letter away
        print(f"llmpg: note: tokenizing the word {text.strip()!r}; to {text.strip()} tokenizers run "
              f"`llmpg tokenizer {text.strip()}`", file=sys.stderr)
    results = tokenize_text(text, names, impl=impl, allow_special=allow_special, ordinary=ordinary)
    if json:
        print(_json.dumps({r.name: r.to_dict() for r in results}, ensure_ascii=False))
        return 0
    use_color = _use_color(color)
    for result in results:
        print(f"── {result.name} ({result.kind}): {result.count:,} tokens, "
              f"{result.chars_per_token:.2f} characters per token")
        print(render_ansi(result.text, result.tokens, color=use_color))
        print(f"ids: {result.ids}")
        print()
    return 0


def train(*, data: str, vocab_size: int, out: str, pattern: str = "gpt2", special: list[str] | None = None,
          show_merges: int = 0) -> int:
    """Train a byte-level BPE tokenizer on a text file and save it to a folder.

    Use the result with: llmpg tokenize "some text" --tokenizer OUT

    Args:
        data: a UTF-8 text file to learn from (invalid bytes are replaced by U+FFFD, with a warning)
        vocab_size: 256 byte tokens + the number of merges to learn (special tokens come on top)
        out: folder to write tokenizer.json (loadable) and vocab.txt (readable) into
        pattern: pre-split regex: gpt2, cl100k, o200k, or a regex of your own
        special: special token to add (repeatable; default <|endoftext|>)
        show_merges: print the first N merges that were learned
    """
    from llm_playground.tokenizers.lab import merge_lines, train_from_file

    report = train_from_file(data, vocab_size=vocab_size, out=out, pattern=pattern,
                             special_tokens=special if special is not None else ["<|endoftext|>"])
    if report.warning:
        print(f"llmpg: warning: {report.warning}", file=sys.stderr)
    vocab = report.vocab
    print(f"Learned {vocab.n_merges:,} merges from {report.text_bytes / 1e6:.2f} MB "
          f"({report.chunks:,} chunks, {report.distinct_chunks:,} distinct) in {report.seconds:.1f} s.")
    if show_merges:
        print(f"First {min(show_merges, vocab.n_merges)} merges (new id, pair → token, times seen):")
        print("\n".join(merge_lines(vocab, show_merges)))
    specials = ", ".join(f"{t}={i}" for t, i in vocab.special_tokens.items()) or "none"
    print(f"Saved {vocab.vocab_size:,} ids (special: {specials}) to {report.out}/tokenizer.json and vocab.txt")
    print(f'Use it: llmpg tokenize "some text" --tokenizer {report.out}')
    return 0


def list_(*, json: bool = False) -> int:
    """List the tokenizer names that --tokenizer accepts.

    Args:
        json: print machine-readable JSON
    """
    from llm_playground.tokenizers import describe_tokenizers

    described = describe_tokenizers()
    if json:
        print(_json.dumps(described, indent=2))
        return 0
    width = max(map(len, described))
    for name, description in described.items():
        print(f"{name:<{width}}  {description}")
    print(f"{'<folder>':<{width}}  a tokenizer saved by `llmpg tokenizer train --out <folder>`")
    return 0


COMMANDS: dict = {
    "tokenize": tokenize,
    "tokenizer": ("Tokenizers: train your own byte-level BPE, list the known ones", {"train": train, "list": list_}),
}
