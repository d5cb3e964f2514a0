"""`llmpg bench generate`: our engines vs transformers' `generate` on one prompt, in one process.

Every row generates the same number of new tokens greedily, batch 1, with the same torch thread
count, from the same ~100-token chat prompt; end-of-sequence does not stop anyone (transformers
gets a generation config without eos, ours `stop_at_eos=False`), so every row makes exactly
`new_tokens` tokens and the token lists can be compared position by position.

Rows:
- transformers `model.generate` (fp32): the reference, ratio 1.00. Its time to first token comes
  from a streamer (the moment the first new token is handed over).
- ours, `native`: the readable transformer through our generator (`generate_steps`).
- aggregate throughput (optional, labelled as such): `batch` prompts decoded together by each fast
  precision (one pass over the weights per step for all of them), against transformers' batch-1
  decode speed.
- ours, `fast` (fp32) and `fast-bf16`, `fast-int8`, `fast-int4`: the fast decoder
  (`llm_playground.models.fast`) through the same generator. Reduced-precision rows are labelled
  with their precision and report how far they drift: greedy agreement with the fp32 reference
  over the new tokens (leading identical tokens, and the share of equal positions) and perplexity
  on held-out text (the last tokens of the Shakespeare corpus), computed by teacher forcing with
  the same engine, next to the fp32 perplexity.

- llama.cpp (optional, `vs_llamacpp`: a GGUF path): the same prompt ids through llama-cpp-python
  on that file (greedy, eos ignored), when llama-cpp-python is installed.

Every row also gets a roofline figure: bytes of weights streamed per decode step × decode tokens/s,
i.e. the memory traffic the row sustains, and its share of the machine's memory bandwidth, measured
once at start by streaming a buffer much larger than the caches (`measure_bandwidth`). A row near
100 % is bound by memory bandwidth; far below it, by arithmetic or overheads.

Our rows include everything our generator does per token (log-softmax, top alternatives,
incremental detokenization); transformers' includes what `generate` does. Runs alternate between
rows and each row keeps its best of `repeats` (the machine may be shared: compare ratios from one
run, and read the load average printed with them).
"""
from __future__ import annotations

import copy
import importlib.util
import os
import time
from dataclasses import asdict, dataclass, field

import torch

PROMPT = (
    "I am preparing a short lecture for first-year students about how large language models produce text. "
    "Please explain, step by step and in plain words, what happens inside a small transformer model between "
    "the moment it receives my question and the moment it prints the first word of its answer: how the text "
    "becomes tokens, what the embeddings and attention layers do, why a cache of keys and values makes "
    "each later word cheaper, and how the next token is finally chosen. Use a simple example sentence."
)
FAST_ROWS = ("fast", "fast-bf16", "fast-int8", "fast-int4")
BATCH_QUESTIONS = (  # the other prompts of the batched rows (the benchmark prompt is the first)
    "What is the capital of France, and why did it become the capital?",
    "Write a short poem about the sea at night.",
    "Explain photosynthesis to a ten-year-old.",
    "Give me three tips for learning to play the guitar.",
    "Why is the sky blue? Answer in a few sentences.",
    "Summarise the plot of Romeo and Juliet.",
    "How do I make a good cup of tea?",
    "What are the main differences between a list and a tuple in Python?",
)


@dataclass
class Row:
    """One engine's figures on the benchmark prompt."""

    engine: str
    precision: str
    prefill_tokens_per_second: float
    """Prompt tokens ÷ time to first token."""
    time_to_first_token_s: float
    """Best over the repeats: prefill plus choosing the first token."""
    decode_tokens_per_second: float
    """Best over the repeats: (new tokens − 1) ÷ (time of the last token − time of the first)."""
    decode_ratio: float = 1.0
    """This row's decode tokens/s ÷ transformers'."""
    identical_prefix: int = 0
    """How many leading new tokens equal the transformers fp32 tokens."""
    equal_positions: float = 0.0
    """Share of the new-token positions whose token equals the transformers fp32 token."""
    perplexity: float | None = None
    """On the held-out text, teacher forcing with this engine (None: not measured for this row)."""
    weight_bytes_per_token: int | None = None
    """Bytes of weight matrices streamed per decode step (fp32 rows: the fp32 matrices; llama.cpp:
    the GGUF's matrices as stored)."""
    streamed_gb_per_second: float | None = None
    """Roofline: weight_bytes_per_token × decode tokens/s ÷ 1e9."""
    bandwidth_share: float | None = None
    """streamed_gb_per_second ÷ the measured memory bandwidth."""
    lossless: bool | None = None
    """Fast rows: every packed matrix dequantizes to the fp32 weights bit for bit (e.g. SmolLM2's
    int4 and int8: its shipped Q4_1/Q8_0 blocks), so reduced bytes, not reduced precision."""
    tokens: list[int] = field(default_factory=list, repr=False)


@dataclass
class BatchRow:
    """Aggregate throughput: several prompts decoded together, one pass over the weights per step."""

    engine: str
    precision: str
    prompts: int
    aggregate_tokens_per_second: float
    """prompts × (new tokens − 1) ÷ decode time (greedy argmax in a plain loop, prefill excluded)."""
    ratio: float
    """Aggregate tokens/s ÷ transformers' batch-1 decode tokens/s: throughput, not the speed of one answer."""
    first_prompt_identical: int
    """Leading tokens of the benchmark prompt's answer equal to the same engine's batch-1 answer."""


@dataclass
class GenerateBenchmark:
    model: str
    threads: int
    prompt_tokens: int
    new_tokens: int
    repeats: int
    kernels: str
    """What ran the fast rows (compiled kernels or the plain-torch fallback, with the reason)."""
    perplexity_text: str
    perplexity_tokens: int
    load_average: list[float]
    """The 1-minute load average before and after the runs (2 cores: above ~2 means shared)."""
    rows: list[Row]
    batch_rows: list[BatchRow] = field(default_factory=list)
    memory_bandwidth_gb_per_second: float = 0.0
    """Measured at start: one large buffer read with this thread count (`measure_bandwidth`)."""

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": [{k: v for k, v in asdict(row).items() if k != "tokens"} for row in self.rows]}


class _TimingStreamer:
    """A transformers streamer that records when each batch of tokens is handed over."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def _hf_run(model, prompt_ids: list[int], new_tokens: int) -> tuple[float, float, list[int]]:
    """transformers' greedy generate: (time to first token, decode tok/s, new tokens)."""
    config = copy.deepcopy(model.generation_config)
    config.eos_token_id = None  # never stop early: every row makes exactly new_tokens tokens
    config.max_new_tokens, config.min_new_tokens, config.do_sample = new_tokens, new_tokens, False
    config.num_beams, config.temperature, config.top_p, config.top_k = 1, None, None, None
    streamer = _TimingStreamer()
    ids = torch.tensor([prompt_ids])
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config, streamer=streamer)
    # put() #0 is the prompt itself, #1 the first new token, #new_tokens the last one
    first, last = streamer.times[1], streamer.times[-1]
    return first - started, (new_tokens - 1) / (last - first), out[0, len(prompt_ids):].tolist()


def _our_run(backend, tokenizer, prompt_ids: list[int], new_tokens: int) -> tuple[float, float, list[int]]:
    """Our generator over `backend`: (time to first token, decode tok/s, new tokens)."""
    from llm_playground.generation import GenerationConfig
    from llm_playground.generation.generator import generate_steps

    config = GenerationConfig(max_new_tokens=new_tokens, stop_at_eos=False)
    steps = list(generate_steps(backend, tokenizer, prompt_ids, config, eos_ids=set()))
    first, last = steps[0].elapsed, steps[-1].elapsed
    return first, (len(steps) - 1) / (last - first), [s.id for s in steps]


def heldout_ids(tokenizer, n_tokens: int) -> tuple[list[int], str]:
    """The last `n_tokens` tokens of the Shakespeare corpus (text no row is asked to generate)."""
    from llm_playground import assets

    text = assets.corpus_text("shakespeare")[-n_tokens * 8:]  # ~4 characters per token: plenty
    ids = tokenizer.encode(text, add_special_tokens=False)[-n_tokens:]
    return ids, f"the last {len(ids)} tokens of the Shakespeare corpus"


def perplexity_hf(model, ids: list[int]) -> float:
    """exp(mean cross-entropy of each next token), transformers in one forward pass."""
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, :-1].float()
    return float(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:])).exp())


def perplexity_fast(decoder, ids: list[int]) -> float:
    """The same perplexity through a FastDecoder (teacher forcing, its own weights and kernels)."""
    decoder.reset(len(ids))
    logits = decoder.forward(ids, all_logits=True)[:-1]  # (T-1, V)
    return float(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:])).exp())


def batch_throughput(weights, prompts: list[list[int]], new_tokens: int) -> tuple[float, list[int]]:
    """Greedy-decode every prompt together with one FastDecoder: (aggregate tok/s, first prompt's tokens)."""
    from llm_playground.models.fast import FastDecoder

    decoder = FastDecoder(weights)
    decoder.reset(max(len(p) for p in prompts) + new_tokens, sequences=len(prompts))
    tokens = torch.stack([decoder.forward(p, sequence=b) for b, p in enumerate(prompts)]).argmax(-1)  # (B,)
    generated = [tokens]
    started = time.perf_counter()
    for _ in range(new_tokens - 1):
        tokens = decoder.step_batch(tokens).argmax(-1)
        generated.append(tokens)
    seconds = time.perf_counter() - started
    return len(prompts) * (new_tokens - 1) / seconds, torch.stack(generated)[:, 0].tolist()


def _agreement(tokens: list[int], reference: list[int]) -> tuple[int, float]:
    prefix = 0
    while prefix < min(len(tokens), len(reference)) and tokens[prefix] == reference[prefix]:
        prefix += 1
    equal = sum(a == b for a, b in zip(tokens, reference)) / max(1, len(reference))
    return prefix, equal


def measure_bandwidth(megabytes: int = 512, repeats: int = 3) -> float:
    """The machine's memory read bandwidth in GB/s: a buffer far larger than any cache, summed by
    torch (vectorized, on the current thread count); the best of `repeats` passes counts."""
    buffer = torch.ones(megabytes * 2**20 // 4)  # fp32; written once so every page is resident
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        buffer.sum()
        best = min(best, time.perf_counter() - started)
    return buffer.numel() * 4 / best / 1e9


LLAMACPP_MISSING = ("vs_llamacpp: llama-cpp-python is not installed, so llama.cpp cannot run in this benchmark "
                    "(install it with: pip install llama-cpp-python — it compiles llama.cpp, 12+ minutes)")


def gguf_matrix_bytes(path) -> int:
    """Bytes of a GGUF's weight matrices streamed per decode step: every 2-D tensor as stored,
    except the token embedding, which is read a row at a time — unless it is also the output head."""
    from gguf import GGUFReader

    tensors = {t.name: t for t in GGUFReader(path).tensors if len(t.shape) == 2}
    total = sum(int(t.n_bytes) for name, t in tensors.items() if name != "token_embd.weight")
    if "output.weight" not in tensors and "token_embd.weight" in tensors:
        total += int(tensors["token_embd.weight"].n_bytes)  # tied: the head streams it every step
    return total


def llamacpp_runner(path, threads: int, context: int):
    """A function (prompt ids, new tokens) → (time to first token, decode tok/s, new tokens) running
    llama.cpp on the GGUF at `path` through llama-cpp-python; PlaygroundError if it cannot."""
    from pathlib import Path

    from llm_playground.errors import PlaygroundError

    if not Path(path).is_file():
        raise PlaygroundError(f"vs_llamacpp: {path} is not a file (give the path of a GGUF)")
    try:
        import llama_cpp
    except ImportError:
        raise PlaygroundError(LLAMACPP_MISSING) from None
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=context, n_threads=threads, n_threads_batch=threads,
                          n_batch=512, verbose=False)

    def run(prompt_ids: list[int], new_tokens: int) -> tuple[float, float, list[int]]:
        llm.reset()
        tokens, times = [], []
        started = time.perf_counter()
        for token in llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                                  reset=True):  # greedy; generate() never stops on eos by itself
            tokens.append(int(token))
            times.append(time.perf_counter())
            if len(tokens) == new_tokens:
                break
        decode = (len(tokens) - 1) / (times[-1] - times[0]) if len(tokens) > 1 else 0.0
        return times[0] - started, decode, tokens

    return run


def run_benchmark(model: str = "smollm2-135m-instruct", *, new_tokens: int = 128, repeats: int = 3,
                  perplexity_tokens: int = 2048, native: bool = True, batch: int = 8, threads: int | None = None,
                  vs_llamacpp: str | None = None, progress: bool = True) -> GenerateBenchmark:
    """Time every row on one prompt (best of `repeats`, rows alternating) and measure drift.

    Args:
        model: a zoo decoder or local folder (smollm2-135m-instruct, gemma3-270m, …).
        new_tokens: tokens each row generates (greedy, eos ignored).
        repeats: timed runs per row; the best counts.
        perplexity_tokens: held-out tokens for the perplexity figures (0 skips them).
        native: include the readable engine's row (slow; fp32).
        batch: prompts decoded together in the aggregate-throughput rows (0: none).
        threads: torch threads for every row, ours and transformers' alike (default: the process
            setting); restored afterwards.
        vs_llamacpp: a GGUF path: add a llama.cpp row on it (llama-cpp-python must be installed:
            PlaygroundError naming this field otherwise).
        progress: print what runs to stderr.
    """
    from llm_playground.checks import require_range

    require_range("new_tokens", new_tokens, 1, 4096)
    require_range("repeats", repeats, 1, 100)
    require_range("perplexity_tokens", perplexity_tokens, 0, 1_000_000)
    require_range("batch", batch, 0, 64)
    if threads is not None:
        require_range("threads", threads, 1, 1024)
    if vs_llamacpp is not None:  # fail before minutes of other rows, not after
        from pathlib import Path

        from llm_playground.errors import PlaygroundError

        if not Path(vs_llamacpp).is_file():
            raise PlaygroundError(f"vs_llamacpp: {vs_llamacpp} is not a file (give the path of a GGUF)")
        if importlib.util.find_spec("llama_cpp") is None:
            raise PlaygroundError(LLAMACPP_MISSING)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(model, new_tokens=new_tokens, repeats=repeats, perplexity_tokens=perplexity_tokens,
                    native=native, batch=batch, vs_llamacpp=vs_llamacpp, progress=progress)
    finally:
        torch.set_num_threads(previous_threads)


def _run(model: str, *, new_tokens: int, repeats: int, perplexity_tokens: int, native: bool, batch: int,
         vs_llamacpp: str | None, progress: bool) -> GenerateBenchmark:
    import sys

    from llm_playground import zoo
    from llm_playground.generation.backends import FAST_PRECISIONS, make_backend
    from llm_playground.generation.chat import prepare_prompt
    from llm_playground.models.fast import library_status

    def say(message: str) -> None:
        if progress:
            print(message, file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    bandwidth = measure_bandwidth()
    say(f"memory bandwidth: {bandwidth:.1f} GB/s (one 512 MiB buffer read, {torch.get_num_threads()} threads)")
    loaded = zoo.load_model(model)
    tokenizer, hf_model = loaded.tokenizer, loaded.model
    prompt_ids = prepare_prompt(tokenizer, PROMPT, chat=loaded.spec.kind == "chat").ids
    names = (["native"] if native else []) + list(FAST_ROWS)
    backends = {name: make_backend(model, name) for name in names}
    say(f"fast rows run on: {library_status()}")

    runs: dict[str, list[tuple[float, float, list[int]]]] = {"hf": [], **{name: [] for name in names}}
    llamacpp = None
    if vs_llamacpp:
        llamacpp = llamacpp_runner(vs_llamacpp, torch.get_num_threads(), len(prompt_ids) + new_tokens + 8)
        runs["llama.cpp"] = []

    def run(name: str, count: int) -> tuple[float, float, list[int]]:
        if name == "hf":
            return _hf_run(hf_model, prompt_ids, count)
        if name == "llama.cpp":
            return llamacpp(prompt_ids, count)
        return _our_run(backends[name], tokenizer, prompt_ids, count)

    for name in runs:  # warm-up: first calls allocate, fault pages in and fill caches
        run(name, 8)
    for repeat in range(repeats):
        for name in runs:
            say(f"run {repeat + 1}/{repeats}: {name}")
            runs[name].append(run(name, new_tokens))

    reference = runs["hf"][0][2]
    rows = []
    for name, results in runs.items():
        ttft = min(r[0] for r in results)
        precision = {"hf": "fp32", "native": "fp32", "llama.cpp": "gguf"}.get(name) or FAST_PRECISIONS[name]
        label = {"hf": "transformers generate", "native": "ours: native (readable)",
                 "llama.cpp": "llama.cpp (llama-cpp-python)"}.get(name, f"ours: {name}")
        row = Row(engine=label, precision=precision, prefill_tokens_per_second=len(prompt_ids) / ttft,
                  time_to_first_token_s=ttft, decode_tokens_per_second=max(r[1] for r in results),
                  tokens=results[0][2])
        row.identical_prefix, row.equal_positions = _agreement(row.tokens, reference)
        if name in FAST_PRECISIONS:
            weights = backends[name].decoder.weights
            row.weight_bytes_per_token = weights.matrix_bytes
            row.lossless = weights.head.lossless and all(m.lossless for layer in weights.layers
                                                         for m in (layer.qkv, layer.o, layer.gate_up, layer.down))
        elif name == "llama.cpp":
            row.weight_bytes_per_token = gguf_matrix_bytes(vs_llamacpp)
        rows.append(row)
    fp32_bytes = backends["fast"].decoder.weights.matrix_bytes  # the same fp32 matrices hf and native stream
    for row in rows:
        row.decode_ratio = row.decode_tokens_per_second / rows[0].decode_tokens_per_second
        if row.weight_bytes_per_token is None:
            row.weight_bytes_per_token = fp32_bytes
        row.streamed_gb_per_second = row.weight_bytes_per_token * row.decode_tokens_per_second / 1e9
        row.bandwidth_share = row.streamed_gb_per_second / bandwidth

    batch_rows = []
    if batch:
        questions = (PROMPT,) + BATCH_QUESTIONS
        prompts = [prepare_prompt(tokenizer, questions[b % len(questions)], chat=loaded.spec.kind == "chat").ids
                   for b in range(batch)]
        for row, name in zip(rows, runs):
            if name in FAST_PRECISIONS:
                say(f"batch of {batch} prompts: {name}")
                weights = backends[name].decoder.weights
                best, first = max(batch_throughput(weights, prompts, new_tokens) for _ in range(repeats))
                batch_rows.append(BatchRow(engine=f"ours: {name}", precision=row.precision, prompts=batch,
                                           aggregate_tokens_per_second=best,
                                           ratio=best / rows[0].decode_tokens_per_second,
                                           first_prompt_identical=_agreement(first, row.tokens)[0]))

    text = ""
    if perplexity_tokens:
        ids, text = heldout_ids(tokenizer, perplexity_tokens)
        say(f"perplexity on {text}")
        rows[0].perplexity = perplexity_hf(hf_model, ids)
        for row, name in zip(rows, runs):
            if name in FAST_PRECISIONS:
                row.perplexity = perplexity_fast(backends[name].decoder, ids)
    return GenerateBenchmark(model=loaded.spec.name, threads=torch.get_num_threads(), prompt_tokens=len(prompt_ids),
                             new_tokens=new_tokens, repeats=repeats, kernels=library_status(),
                             perplexity_text=text, perplexity_tokens=perplexity_tokens,
                             load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)], rows=rows,
                             batch_rows=batch_rows, memory_bandwidth_gb_per_second=bandwidth)


def format_benchmark(result: GenerateBenchmark) -> str:
    """A table for the terminal, then the headline ratios."""
    lines = [f"{result.model}: greedy, batch 1, {result.prompt_tokens}-token prompt, {result.new_tokens} new tokens, "
             f"{result.threads} threads, best of {result.repeats}; load average {result.load_average[0]} → "
             f"{result.load_average[1]}",
             f"fast rows: {result.kernels}",
             f"memory bandwidth (measured at start): {result.memory_bandwidth_gb_per_second:.1f} GB/s; roofline = "
             "MB/token × decode tok/s, and its share of that bandwidth",
             f"{'engine':<28} {'weights':>7} {'prefill tok/s':>13} {'TTFT ms':>8} {'decode tok/s':>12} "
             f"{'vs HF':>6} {'MB/token':>8} {'roofline':>15} {'same prefix':>11} {'equal':>6} {'perplexity':>10}"]
    fp32_ppl = result.rows[0].perplexity
    for row in result.rows:
        ppl = "" if row.perplexity is None else f"{row.perplexity:.3f}"
        if row.perplexity is not None and fp32_ppl and row.precision != "fp32":
            ppl += f" ({(row.perplexity / fp32_ppl - 1) * 100:+.2f}%)"
        mb = "" if row.weight_bytes_per_token is None else f"{row.weight_bytes_per_token / 1e6:.0f}"
        roof = ("" if row.streamed_gb_per_second is None
                else f"{row.streamed_gb_per_second:.1f} GB/s {row.bandwidth_share * 100:3.0f}%")
        lines.append(f"{row.engine:<28} {row.precision:>7} {row.prefill_tokens_per_second:>13.0f} "
                     f"{row.time_to_first_token_s * 1000:>8.0f} {row.decode_tokens_per_second:>12.1f} "
                     f"{row.decode_ratio:>5.2f}× {mb:>8} {roof:>15} {row.identical_prefix:>7}/{result.new_tokens:<3} "
                     f"{row.equal_positions * 100:>5.0f}% {ppl:>10}")
    if result.perplexity_tokens:
        lines.append(f"perplexity: teacher forcing on {result.perplexity_text} (transformers fp32 is the reference)")
    if result.batch_rows:
        lines.append(f"aggregate throughput, {result.batch_rows[0].prompts} prompts decoded together (greedy argmax "
                     "loop; ratio to transformers' batch-1 decode, i.e. throughput, not the speed of one answer):")
        for batch_row in result.batch_rows:
            lines.append(f"  {batch_row.engine:<24} {batch_row.precision:>5} {batch_row.aggregate_tokens_per_second:>8.1f} "
                         f"tok/s  {batch_row.ratio:>5.2f}×  first prompt: {batch_row.first_prompt_identical}/"
                         f"{result.new_tokens} tokens as in batch 1")
    by_engine = {row.engine: row for row in result.rows}
    fp32 = by_engine.get("ours: fast")
    if fp32 is not None:
        lines.append(f"decode speed-up vs transformers generate: fast fp32 {fp32.decode_ratio:.2f}× "
                     f"(tokens {'identical' if fp32.identical_prefix == result.new_tokens else 'DIFFERENT'})")
    best = max(result.rows, key=lambda r: r.decode_ratio)
    kind = ("" if best.precision == "fp32" else ", lossless: the fp32 weights bit for bit" if best.lossless
            else ", reduced precision")
    lines.append(f"best decode speed-up: {best.decode_ratio:.2f}× ({best.engine}, {best.precision} weights{kind})")
    return "\n".join(lines)
