"""Measure xgrammar and llguidance on our vocabularies (SmolLM2 49,152 tokens, Gemma-3 262,144).

For each engine and tokenizer: the one-time tokenizer preparation, compiling a JSON schema, a regex
and a grammar, and per token along a real JSON answer: computing the mask, applying it to fp32
logits, accepting the token. Run: .venv/bin/python scripts/measure_grammar_engines.py
(this is how docs/structured-output.md's engine table was made; both engines must be installed).
"""
from __future__ import annotations

import json
import statistics
import time

import torch

from llm_playground import zoo

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                            "city": {"type": "string"}}, "required": ["name", "age", "city"]}
ANSWER = '{"name": "Alice Smith", "age": 29, "city": "London"}'
REGEX = "[0-9]{3}-[0-9]{4}"
GBNF = 'root ::= "yes" | "no" | "maybe"'


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return value, best


def walk_xgrammar(xgr, compiled, ids, vocab):
    matcher = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, vocab)
    fill, apply, accept = [], [], []
    logits = torch.randn(1, vocab)
    for token in ids:
        t0 = time.perf_counter(); matcher.fill_next_token_bitmask(bitmask); t1 = time.perf_counter()
        scores = logits.clone(); t2 = time.perf_counter()
        xgr.apply_token_bitmask_inplace(scores, bitmask); t3 = time.perf_counter()
        assert torch.isfinite(scores[0, token]), "the answer's token was masked"
        ok = matcher.accept_token(token); t4 = time.perf_counter()
        assert ok
        fill.append(t1 - t0); apply.append(t3 - t2); accept.append(t4 - t3)
    return fill, apply, accept


def walk_llguidance(llg, compiled_grammar, lltok, ids, vocab):
    import numpy as np
    from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask

    matcher = llg.LLMatcher(lltok, compiled_grammar)
    assert not matcher.is_error(), matcher.get_error()
    bitmask = allocate_token_bitmask(1, vocab)
    fill, apply, accept = [], [], []
    logits = torch.randn(1, vocab)
    for token in ids:
        t0 = time.perf_counter(); fill_next_token_bitmask(matcher, bitmask); t1 = time.perf_counter()
        scores = logits.clone(); t2 = time.perf_counter()
        # unpack bits with torch (llguidance's torch kernel is torch.compile'd, its numpy one is slow)
        bits = torch.from_numpy(bitmask).view(torch.int32)
        allowed = ((bits[0, :, None] >> torch.arange(32, dtype=torch.int32)) & 1).flatten()[:vocab].bool()
        scores[0].masked_fill_(~allowed, -float("inf")); t3 = time.perf_counter()
        assert torch.isfinite(scores[0, token]), "the answer's token was masked"
        ok = matcher.consume_token(token); t4 = time.perf_counter()
        assert ok, matcher.get_error()
        fill.append(t1 - t0); apply.append(t3 - t2); accept.append(t4 - t3)
    return fill, apply, accept


def us(values):
    return f"median {statistics.median(values) * 1e6:.0f} µs, max {max(values) * 1e6:.0f} µs"


def main():
    import llguidance as llg
    import llguidance.hf
    import xgrammar as xgr

    torch.set_num_threads(1)
    for model in ("smollm2-135m-instruct", "gemma3-270m"):
        tokenizer = zoo.load_tokenizer(model)
        vocab = {"smollm2-135m-instruct": 49152, "gemma3-270m": 262144}[model]
        ids = tokenizer.encode(ANSWER, add_special_tokens=False)
        print(f"\n== {model}: vocabulary {vocab}, answer {len(ids)} tokens")

        info, seconds = timed(lambda: xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab))
        print(f"xgrammar    tokenizer info {seconds:.2f} s")
        compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
        compiled, seconds = timed(lambda: compiler.compile_json_schema(json.dumps(SCHEMA), any_whitespace=False), 3)
        _, regex_s = timed(lambda: compiler.compile_regex(REGEX), 3)
        _, gbnf_s = timed(lambda: compiler.compile_grammar(GBNF), 3)
        print(f"xgrammar    compile: schema {seconds * 1000:.0f} ms, regex {regex_s * 1000:.0f} ms, grammar {gbnf_s * 1000:.0f} ms")
        fill, apply, accept = walk_xgrammar(xgr, compiled, ids, vocab)
        print(f"xgrammar    fill {us(fill)}; apply {us(apply)}; accept {us(accept)}")

        lltok, seconds = timed(lambda: llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab))
        print(f"llguidance  tokenizer {seconds:.2f} s")
        grammar = llg.LLMatcher.grammar_from_json_schema(SCHEMA, defaults={"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "})
        _, seconds = timed(lambda: llg.LLMatcher(lltok, grammar), 3)
        _, regex_s = timed(lambda: llg.LLMatcher(lltok, llg.LLMatcher.grammar_from_regex(REGEX)), 3)
        _, gbnf_s = timed(lambda: llg.LLMatcher(lltok, llg.grammar_from("gbnf", GBNF)), 3)
        print(f"llguidance  compile: schema {seconds * 1000:.0f} ms, regex {regex_s * 1000:.0f} ms, grammar {gbnf_s * 1000:.0f} ms")
        fill, apply, accept = walk_llguidance(llg, grammar, lltok, ids, vocab)
        print(f"llguidance  fill {us(fill)}; apply {us(apply)}; accept {us(accept)}")


if __name__ == "__main__":
    main()
