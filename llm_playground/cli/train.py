"""`llmpg` training-lab commands: n-gram baselines (the neural trainer's commands join this table)."""
from __future__ import annotations

import json as _json
import sys
from typing import Literal


def ngram(*, data: str | None = None, order: int = 3, smoothing: Literal["kneser-ney", "add-k"] = "kneser-ney",
          tokenizer: str = "char", k: float = 1.0, discount: float = 0.75, val_fraction: float = 0.1,
          prompt: str = "", sample_tokens: int = 300, seed: int = 0, json: bool = False) -> int:
    """n-gram baselines: train/val perplexity for orders 1 … N, and a sample from order N.

    The split is the neural trainer's: the first 90% of the tokens train, the last 10% validate.

    Args:
        data: a UTF-8 text file (default: the Shakespeare corpus)
        order: the highest n-gram order; orders 1 … order are all scored
        smoothing: kneser-ney (interpolated, discount 0.75) or add-k
        tokenizer: a tokenizer name from `llmpg tokenize list` (char, gpt2, bpe-gpt2, …)
        k: the k of add-k smoothing (1 = Laplace)
        discount: the Kneser-Ney discount
        val_fraction: share of the tokens (at the end) held out for validation
        prompt: text to start the sample with (default: the corpus's first tokens)
        sample_tokens: how many tokens to sample
        seed: random seed for the sample
        json: print machine-readable JSON
    """
    from llm_playground import assets
    from llm_playground.tokenizers import get_tokenizer, read_text_file
    from llm_playground.training.ngram import ngram_report

    if data is None:
        text, source = assets.corpus_text("shakespeare"), "the Shakespeare corpus"
    else:
        text, warning = read_text_file(data)
        source = data
        if warning:
            print(f"llmpg: warning: {warning}", file=sys.stderr)
    encoder = get_tokenizer(tokenizer)
    report = ngram_report(text, encode=encoder.encode, decode=encoder.decode, vocab_size=encoder.vocab_size,
                          tokenizer_name=tokenizer, max_order=order, smoothing=smoothing, k=k, discount=discount,
                          val_fraction=val_fraction, prompt=prompt, sample_tokens=sample_tokens, seed=seed)
    if json:
        print(_json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"{source}: {report.train_tokens:,} train / {report.val_tokens:,} val tokens, "
          f"tokenizer {tokenizer} (V = {report.vocab_size:,})")
    print(report.table())
    print()
    print(report.explanation().text())
    print()
    print(f"Sample from the order-{order} model (seed {seed}):")
    print(report.sample)
    return 0


COMMANDS: dict = {
    "ngram": ngram,
}
