"""`llmpg bench serve`: what continuous batching buys, at several numbers of concurrent clients.

At each concurrency c, c clients each send `requests_per_client` greedy requests at once (distinct
prompts, exactly `new_tokens` tokens each: end-of-sequence ignored), all in one run against one
engine. Per level: aggregate tokens/s (every generated token over the level's wall time), time to
first token p50/p95 (from sending a request to its first token, queueing and prefill included), and
each request's own decode speed (tokens after the first over the time after the first). The figure
that matters is the ratio of aggregate tokens/s at 16 clients to 1 client: with one pass over the
weights per step for the whole batch, 16 clients should get far more than 1 (target ≥ 4×).

`transport="http"` (the default) starts one `llmpg serve` on a free 127.0.0.1 port and sends
streaming `/v1/completions` requests over HTTP with `ignore_eos` (time to first token = the first
streamed chunk; tokens = the usage the server reports);
`transport="in-process"` drives the server's generation interface (`serving.batching.BatchingEngine`)
directly from client threads (no HTTP).
"""
from __future__ import annotations

import json
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field

MAX_CLIENTS = 256
PROMPTS = ["Write a short story about a lighthouse keeper.", "Explain how a bicycle stays upright.",
           "List three facts about the Moon.", "Describe the smell of rain.", "What is a prime number?",
           "Give advice to a new gardener.", "Summarize the plot of Hamlet.", "Why is the sky blue?",
           "Describe a busy train station.", "How do bees make honey?", "Write a haiku about winter.",
           "Explain recursion to a child.", "What makes bread rise?", "Describe your ideal weekend.",
           "How does a compass work?", "Write a letter to a future self."]


@dataclass
class Level:
    """One concurrency level."""

    clients: int
    requests: int
    tokens: int
    seconds: float
    """Wall time from the first request sent to the last token received."""
    ttft_p50: float
    ttft_p95: float
    decode_p50: float
    """Median over requests of each request's own decode speed (tok/s)."""
    mean_batch: float = 0.0
    """Mean number of sequences per batched decode step (0 when the engine does not batch)."""

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ServeBenchmark:
    model: str
    backend: str
    transport: str
    batching: bool
    """False: the baseline, one request at a time (`llmpg serve --no-batching`)."""
    new_tokens: int
    prompt_tokens: float
    threads: int
    load_average: list[float]
    """1-minute load average before and after the run."""
    levels: list[Level] = field(default_factory=list)

    def ratio(self, many: int = 16, one: int = 1) -> float | None:
        """Aggregate tokens/s at `many` clients ÷ at `one` (None when either level was not run)."""
        by_clients = {level.clients: level.tokens_per_second for level in self.levels}
        if many not in by_clients or one not in by_clients or not by_clients[one]:
            return None
        return by_clients[many] / by_clients[one]

    def to_dict(self) -> dict:
        return {**asdict(self), "levels": [{**asdict(level), "tokens_per_second": round(level.tokens_per_second, 2)}
                                           for level in self.levels], "ratio_16_to_1": self.ratio()}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class InProcessClient:
    """Sends requests straight to the server's generation interface (`BatchingEngine.stream`)."""

    transport = "in-process"

    def __init__(self, model: str, backend: str, batching: bool = True) -> None:
        from llm_playground import zoo
        from llm_playground.serving.batching import BatchingEngine
        from llm_playground.serving.engine import SerialEngine

        self.spec = zoo.resolve(model)
        self.tokenizer = zoo.load_tokenizer(self.spec)
        self.eos_ids = zoo.eos_token_ids(self.spec)
        self.backend = backend
        self.engine = BatchingEngine() if batching else SerialEngine()

    def prompt_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def complete(self, text: str, new_tokens: int) -> tuple[float, float, int]:
        """Send one greedy request: (time of the first token, time of the last, tokens)."""
        from llm_playground.generation.config import GenerationConfig
        from llm_playground.serving.engine import EngineRequest

        request = EngineRequest(self.spec, self.backend, self.prompt_ids(text),
                                GenerationConfig(max_new_tokens=new_tokens, stop_at_eos=False, top_alternatives=0),
                                self.eos_ids)
        times = [time.perf_counter() for _ in self.engine.stream(request)]
        return times[0], times[-1], len(times)

    def close(self) -> None:
        for scheduler in list(getattr(self.engine, "_schedulers", ())):
            scheduler.join(timeout=30)  # its thread ends once idle: not in the middle of a step at exit

    def batch_counters(self) -> tuple[int, int]:
        schedulers = list(getattr(self.engine, "_schedulers", ()))
        return sum(s.decode_steps for s in schedulers), sum(s.decoded_rows for s in schedulers)


class HttpClient:
    """One `llmpg serve` process on a free loopback port; streaming /v1/completions requests."""

    transport = "http"

    def __init__(self, model: str, backend: str, threads: int | None, batching: bool = True) -> None:
        import httpx

        from llm_playground import zoo
        from llm_playground.serving.testing import run_server

        self.tokenizer = zoo.load_tokenizer(model)
        environment = {"LLMPG_THREADS": str(threads)} if threads else None
        arguments = ["--backend", backend, "--time-limit", "3600", *([] if batching else ["--no-batching"])]
        self._server_context = run_server([model], extra_args=arguments, env=environment)
        self.server = self._server_context.__enter__()
        try:
            self.http = httpx.Client(base_url=self.server.base_url, timeout=3600,
                                     limits=httpx.Limits(max_connections=MAX_CLIENTS + 8))
            self.model_id = self.http.get("/models").json()["data"][0]["id"]
            self.spec = zoo.resolve(model)
        except BaseException:
            self.close()
            raise

    def prompt_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def complete(self, text: str, new_tokens: int) -> tuple[float, float, int]:
        """One streamed greedy completion: (first chunk time, last chunk time, tokens the server counted)."""
        from llm_playground.errors import PlaygroundError

        body = {"model": self.model_id, "prompt": text, "max_tokens": new_tokens, "temperature": 0, "stream": True,
                "ignore_eos": True, "stream_options": {"include_usage": True}}
        first = last = None
        tokens = 0
        with self.http.stream("POST", "/completions", json=body) as response:
            if response.status_code != 200:
                raise PlaygroundError(f"the server answered {response.status_code}: {response.read()[:300]!r}")
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("choices"):
                    last = time.perf_counter()
                    first = first or last
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
        if first is None:
            raise PlaygroundError("the server streamed no tokens")
        return first, last, tokens

    def batch_counters(self) -> tuple[int, int]:
        return 0, 0  # the server's scheduler is in another process

    def close(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        self._server_context.__exit__(None, None, None)


def run_level(client, clients: int, requests_per_client: int, new_tokens: int) -> Level:
    """c clients, each sending its requests one after the other; every client starts at once."""
    ttfts: list[float] = []
    speeds: list[float] = []
    tokens = [0]
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    steps_before, rows_before = client.batch_counters()

    def one_client(index: int) -> None:
        start.wait()
        for round_ in range(requests_per_client):
            prompt = PROMPTS[(index + round_ * clients) % len(PROMPTS)] + f" (request {index}.{round_})"
            sent = time.perf_counter()
            try:
                first, last, count = client.complete(prompt, new_tokens)
            except BaseException as error:  # noqa: BLE001 - reported after the level
                with lock:
                    errors.append(error)
                return
            with lock:
                tokens[0] += count
                ttfts.append(first - sent)
                if count > 1 and last > first:
                    speeds.append((count - 1) / (last - first))

    threads = [threading.Thread(target=one_client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if errors:
        from llm_playground.errors import PlaygroundError

        raise PlaygroundError(f"{len(errors)} of {clients * requests_per_client} requests failed at {clients} clients: "
                              f"{type(errors[0]).__name__}: {errors[0]}")
    steps_after, rows_after = client.batch_counters()
    steps = steps_after - steps_before
    return Level(clients=clients, requests=clients * requests_per_client, tokens=tokens[0], seconds=seconds,
                 ttft_p50=percentile(ttfts, 50), ttft_p95=percentile(ttfts, 95),
                 decode_p50=statistics.median(speeds) if speeds else 0.0,
                 mean_batch=(rows_after - rows_before) / steps if steps else 0.0)


def run_benchmark(model: str = "smollm2-135m-instruct", *, backend: str = "fast",
                  clients: tuple[int, ...] = (1, 4, 16, 32), new_tokens: int = 32, requests_per_client: int = 1,
                  threads: int | None = None, transport: str = "http", batching: bool = True,
                  progress: bool = True) -> ServeBenchmark:
    """Measure every concurrency level in `clients` against one engine (see the module docstring).
    `batching=False` measures the same server generating one request at a time (the baseline)."""
    import torch

    from llm_playground.errors import PlaygroundError
    from llm_playground.generation.backends import FAST_PRECISIONS

    if not clients or any(not isinstance(c, int) or not 1 <= c <= MAX_CLIENTS for c in clients):
        raise PlaygroundError(f"clients must be whole numbers between 1 and {MAX_CLIENTS} (got {clients!r})")
    if not isinstance(new_tokens, int) or not 2 <= new_tokens <= 1024:
        raise PlaygroundError(f"new_tokens must be between 2 and 1024 (got {new_tokens!r})")
    if not isinstance(requests_per_client, int) or not 1 <= requests_per_client <= 100:
        raise PlaygroundError(f"requests_per_client must be between 1 and 100 (got {requests_per_client!r})")
    if backend not in FAST_PRECISIONS:
        raise PlaygroundError(f"backend must be one of {', '.join(FAST_PRECISIONS)}: continuous batching runs on "
                              f"the fast engine (got {backend!r})")
    if transport not in ("http", "in-process"):
        raise PlaygroundError(f"transport must be http or in-process (got {transport!r})")
    if threads:
        torch.set_num_threads(threads)
    load_before = os.getloadavg()[0]
    client = (HttpClient(model, backend, threads, batching) if transport == "http"
              else InProcessClient(model, backend, batching))
    try:
        client.complete(PROMPTS[0], 2)  # loads the model and starts the scheduler: not timed
        result = ServeBenchmark(model=client.spec.name, backend=backend, transport=client.transport,
                                batching=batching,
                                new_tokens=new_tokens,
                                prompt_tokens=statistics.mean(len(client.prompt_ids(p)) for p in PROMPTS),
                                threads=threads or torch.get_num_threads(), load_average=[load_before])
        for count in clients:
            level = run_level(client, count, requests_per_client, new_tokens)
            result.levels.append(level)
            if progress:
                print(f"  {count:>3} clients: {level.tokens_per_second:7.1f} tok/s", flush=True)
    finally:
        client.close()
    result.load_average.append(os.getloadavg()[0])
    return result


def format_benchmark(result: ServeBenchmark) -> str:
    mode = "continuous batching" if result.batching else "one request at a time (--no-batching)"
    lines = [f"{result.model} ({result.backend}, {result.transport}, {mode}): greedy, {result.new_tokens} new tokens "
             f"per request, ~{result.prompt_tokens:.0f}-token prompts, {result.threads} threads; load average "
             f"{result.load_average[0]:.2f} → {result.load_average[-1]:.2f}",
             f"{'clients':>7} {'requests':>8} {'tokens':>6} {'seconds':>8} {'aggregate tok/s':>15} "
             f"{'TTFT p50 ms':>11} {'TTFT p95 ms':>11} {'decode tok/s/request':>20} {'mean batch':>10}"]
    for level in result.levels:
        lines.append(f"{level.clients:>7} {level.requests:>8} {level.tokens:>6} {level.seconds:>8.2f} "
                     f"{level.tokens_per_second:>15.1f} {level.ttft_p50 * 1000:>11.0f} {level.ttft_p95 * 1000:>11.0f} "
                     f"{level.decode_p50:>20.1f} {(f'{level.mean_batch:.1f}' if level.mean_batch else '–'):>10}")
    ratio = result.ratio()
    if ratio is not None:
        lines.append(f"aggregate tok/s, 16 clients ÷ 1 client: {ratio:.2f}× (target ≥ 4×)")
    return "\n".join(lines)
