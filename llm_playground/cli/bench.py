"""`llmpg bench …`: benchmarks that run ours and the reference in one process and print the ratio."""
from __future__ import annotations

import json as _json
from typing import Literal


def tokenize(*, megabytes: float = 5.5, repeats: int = 3, no_baseline: bool = False, json: bool = False) -> int:
    """Encode the same ≥ 5 MB text with every tokenizer implementation; print MB/s and the ratio to tiktoken.

    Also times training a 4096-token BPE vocabulary on that text.

    Args:
        megabytes: minimum text size in MiB (Shakespeare, then Python stdlib source)
        repeats: runs of each fast implementation (the best counts)
        no_baseline: skip the slow minbpe-style pure-Python baseline
        json: print machine-readable JSON
    """
    from llm_playground.bench.tokenize import format_benchmark, run_benchmark

    result = run_benchmark(megabytes=megabytes, repeats=repeats, baseline=not no_baseline, progress=not json)
    print(_json.dumps(result.to_dict(), indent=2) if json else format_benchmark(result))
    return 0


def train(*, preset: str = "cpu-tiny", steps: int = 20, rounds: int = 3, threads: int | None = None,
          batch_size: int | None = None, compile: Literal["on", "off"] | None = None, json: bool = False) -> int:
    """Our training loop vs a plain nanoGPT-style loop: same model size, batch, sequence length and threads.

    Prints tokens/s of each and the ratio; rows are timed in alternation and the best round counts.

    Args:
        preset: training preset whose sizes both loops use (cpu-tiny, cpu-small, …)
        steps: optimizer steps per timed round
        rounds: timed rounds per loop (alternated)
        threads: torch threads for both (default: the process setting, $LLMPG_THREADS or all cores)
        batch_size: sequences per step (default: the preset's)
        compile: also time both loops under torch.compile (default: on when the preset trains compiled)
        json: print machine-readable JSON
    """
    from llm_playground.bench.train import format_benchmark, run_benchmark

    result = run_benchmark(preset=preset, steps=steps, rounds=rounds, threads=threads, batch_size=batch_size,
                           compile_model=None if compile is None else compile == "on", progress=not json)
    print(_json.dumps(result.to_dict(), indent=2) if json else format_benchmark(result))
    return 0


def generate(*, model: str = "smollm2-135m-instruct", new_tokens: int = 128, repeats: int = 3,
             perplexity_tokens: int = 2048, no_native: bool = False, batch: int = 8, threads: int | None = None,
             vs_llamacpp: str | None = None, json: bool = False) -> int:
    """Our engines vs transformers' generate: prefill tok/s, time to first token, decode tok/s and the ratio.

    Same prompt, greedy, batch 1, same thread count; rows alternate and the best of the repeats counts.
    Reduced-precision rows (fast-bf16, fast-int8, fast-int4) also report greedy agreement with fp32
    and perplexity on held-out text.

    Args:
        model: a zoo decoder (smollm2-135m-instruct, gemma3-270m) or local folder
        new_tokens: tokens each row generates (end-of-sequence ignored)
        repeats: timed runs per row (the best counts)
        perplexity_tokens: held-out Shakespeare tokens for perplexity (0 skips it)
        no_native: leave out the readable engine's row (the slowest)
        batch: prompts decoded together in the aggregate-throughput rows (0 leaves them out)
        threads: torch threads for every row, ours and transformers' alike (default: $LLMPG_THREADS or all cores)
        vs_llamacpp: PATH of a GGUF (e.g. the model's shipped file): add a llama.cpp row on it, run through llama-cpp-python in the same process (it must be installed)
        json: print machine-readable JSON
    """
    from llm_playground.bench.generate import format_benchmark, run_benchmark

    result = run_benchmark(model, new_tokens=new_tokens, repeats=repeats, perplexity_tokens=perplexity_tokens,
                           native=not no_native, batch=batch, threads=threads, vs_llamacpp=vs_llamacpp,
                           progress=not json)
    print(_json.dumps(result.to_dict(), indent=2) if json else format_benchmark(result))
    return 0


def multiple_choice(*, model: str = "smollm2-135m-instruct", task: str = "logiqa", items: int = 20,
                    backend: str = "auto", threads: int | None = None, lm_eval_batch_size: int = 1,
                    no_reference: bool = False, json: bool = False) -> int:
    """Multiple-choice scoring throughput: ours vs lm-evaluation-harness's HF model on the same items.

    Prints items/s of each and the ratio, and checks that both pick the same answers item by item.
    Needs lm-eval (the test extra).

    Args:
        model: a zoo model or local folder (NAME or NAME@BACKEND).
        task: a multiple-choice task (llmpg eval tasks) or task file.
        items: items scored by each side.
        backend: our engine (auto: the fast fp32 engine where its kernels build).
        threads: torch threads for both (default: $LLMPG_THREADS or all cores).
        lm_eval_batch_size: lm-eval's batch size (its default is 1).
        no_reference: leave out the row of our readable engine scoring one forward pass per choice.
        json: print machine-readable JSON
    """
    from llm_playground.bench.evaluate import format_benchmark, run_benchmark

    result = run_benchmark(model, task=task, items=items, backend=backend, threads=threads,
                           lm_eval_batch_size=lm_eval_batch_size, reference_row=not no_reference, progress=not json)


def constrained(*, model: str = "smollm2-135m-instruct", backend: str = "fast", repeats: int = 3,
                threads: int | None = None, json: bool = False) -> int:
    """Decode tok/s with and without a JSON-schema constraint, same prompt and backend, in one run.

    Also times building the grammar engine's view of the vocabulary and compiling the schema (and a
    cache hit). Target: the constrained run keeps at least 0.9x the unconstrained speed.

    Args:
        model: a zoo model
        backend: fast, fast-bf16, fast-int8, fast-int4, native or hf
        repeats: rounds (constrained and unconstrained alternate; the best of each counts)
        threads: torch threads (default: $LLMPG_THREADS or all cores)
        json: print machine-readable JSON
    """
    from llm_playground.bench.constrained import format_benchmark, run_benchmark

    result = run_benchmark(model, backend=backend, repeats=repeats, threads=threads, progress=not json)


def rag(*, scales: str = "1000,10000,100000", queries: int = 100, real_chunks: int = 1000, json: bool = False) -> int:
    """Our Milvus store vs brute-force numpy: ingest chunks/s (MiniLM embedding included) and query latency p50/p95.

    Rows at each collection size: Milvus dense (HNSW), BM25 and hybrid (RRF) searches, numpy's exact
    cosine top-10, HNSW's recall@10 against it, and how latency grows with the collection. Rows
    above real_chunks are filled with synthetic chunks (real vectors plus noise, random real words).

    Args:
        scales: comma-separated collection sizes in chunks (each ≥ real_chunks).
        queries: queries timed per row.
        real_chunks: Shakespeare chunks embedded with MiniLM (the ingest row and the first scale).
        json: print machine-readable JSON.
    """
    from llm_playground.bench.rag import format_benchmark, run_benchmark
    from llm_playground.errors import PlaygroundError

    try:
        sizes = tuple(int(value) for value in scales.split(",") if value.strip())
    except ValueError:
        raise PlaygroundError(f"scales must be comma-separated whole numbers such as 1000,10000 (got {scales!r})") from None
    if not sizes or min(sizes) < real_chunks or real_chunks < 1 or queries < 1:
        raise PlaygroundError(f"every scale must be at least real_chunks={real_chunks} (≥ 1), and queries ≥ 1")
    result = run_benchmark(scales=sizes, queries=queries, real_chunks=real_chunks, progress=not json)
    print(_json.dumps(result.to_dict(), indent=2) if json else format_benchmark(result))
    return 0


def serve(*, model: str = "smollm2-135m-instruct", backend: str = "fast", clients: str = "1,4,16,32",
          new_tokens: int = 32, requests_per_client: int = 1, threads: int | None = None, in_process: bool = False,
          no_batching: bool = False, json: bool = False) -> int:
    """Continuous batching under load: aggregate tok/s, time to first token p50/p95 and per-request
    decode speed at each number of concurrent clients, greedy, in one run against one engine.

    Prints the ratio of aggregate tok/s at 16 clients to 1 client (target ≥ 4×).

    Args:
        model: a zoo model of the Llama family
        backend: fast, fast-bf16, fast-int8 or fast-int4
        clients: comma-separated numbers of concurrent clients
        new_tokens: tokens per request (end-of-sequence ignored, so every request makes exactly this many)
        requests_per_client: requests each client sends, one after the other
        threads: torch threads of the server (default: $LLMPG_THREADS or all cores)
        in_process: drive the server's generation interface from threads (no `llmpg serve`, no HTTP)
        no_batching: the baseline: the server generates one request at a time
        json: print machine-readable JSON
    """
    from llm_playground.bench.serve import format_benchmark, run_benchmark
    from llm_playground.errors import PlaygroundError

    try:
        counts = tuple(int(value) for value in clients.split(",") if value.strip())
    except ValueError:
        raise PlaygroundError(f"clients must be comma-separated whole numbers such as 1,4,16 "
                              f"(got {clients!r})") from None
    result = run_benchmark(model, backend=backend, clients=counts, new_tokens=new_tokens,
                           requests_per_client=requests_per_client, threads=threads,
                           transport="in-process" if in_process else "http", batching=not no_batching,
                           progress=not json)
    print(_json.dumps(result.to_dict(), indent=2) if json else format_benchmark(result))
    return 0


COMMANDS: dict = {
    "bench": ("Benchmarks: ours vs the reference in one run",
              {"tokenize": tokenize, "train": train, "generate": generate, "multiple-choice": multiple_choice,
               "constrained": constrained, "rag": rag, "serve": serve}),
}
