"""What faces call: prepare the prompt, pick the backend, run the generator, time it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation.backends import BACKENDS, fast_supported, make_backend, native_supported
from llm_playground.generation.cancel import StopSignal
from llm_playground.generation.chat import Message, PreparedPrompt, check_prompt_text, prepare_prompt
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.generator import Step, beam_steps, generate_steps
from llm_playground.structured import Constraint, parse_output

if TYPE_CHECKING:
    from llm_playground.generation.remote import RemoteStatus

BackendChoice = Literal["auto", "native", "hf", "fast", "fast-bf16", "fast-int8", "fast-int4"]


@dataclass
class Completion:
    """A finished generation, with the steps it was made of and its timing."""

    model: str
    backend: str
    prompt: PreparedPrompt
    text: str
    steps: list[Step] = field(default_factory=list)
    finish_reason: str | None = None
    time_to_first_token: float = 0.0
    seconds: float = 0.0
    strategy: str = "greedy"
    """Beam search returns all its tokens at the end, so it has no per-token speed."""
    constraint: Constraint | None = None
    """The constraint the output was generated under (None: free text)."""
    incomplete: bool = False
    """The output stopped (length or a stop string) before the constraint was satisfied: it is not
    valid JSON / does not match yet. Faces say "finished: length, output incomplete"."""
    remote: "RemoteStatus | None" = None
    """For a remote model: what its server said besides the text (usage, why logprobs are missing)."""

    @classmethod
    def of(cls, run: "GenerationRun") -> "Completion":
        """An empty completion for a run, to `add` its steps to."""
        return cls(model=run.model, backend=run.backend, prompt=run.prompt, text="", strategy=run.strategy,
                   constraint=run.constraint, remote=run.remote)

    @property
    def probability_note(self) -> str:
        """Why some tokens have no probability ("" when every step has one): a remote server that
        returns no logprobs. Faces show this instead of drawing zeros."""
        if all(step.has_logprob for step in self.steps):
            return ""
        note = self.remote.logprobs_note if self.remote is not None and self.remote.logprobs_note else \
            "the server returned no per-token probabilities"
        return f"{note}: the per-token probability view is unavailable for this output"

    def add(self, step: Step) -> None:
        """Record one more step (what every consumer of the stream does as steps arrive)."""
        self.steps.append(step)
        self.text += step.text
        if step.index == 0:
            self.time_to_first_token = step.elapsed
        self.seconds = step.elapsed
        self.finish_reason = step.finish_reason
        self.incomplete = step.incomplete

    @property
    def finish_text(self) -> str:
        """"eos", "length", or "length, output incomplete" when the constraint was not completed."""
        reason = self.finish_reason or ""
        return f"{reason}, output incomplete" if self.incomplete else reason

    @property
    def parsed(self) -> Any:
        """The parsed JSON value of a complete JSON-constrained output (else None)."""
        if self.constraint is None or not self.constraint.produces_json or self.incomplete or not self.finish_reason:
            return None
        try:
            return parse_output(self.constraint, self.text)
        except ValueError:
            return None

    @property
    def masked_mass(self) -> list[float]:
        """Per generated token: the probability the constraint removed (empty without a constraint)."""
        return [s.masked_mass for s in self.steps if s.masked_mass is not None]

    @property
    def token_count(self) -> int:
        """Generated tokens: the steps, or for a remote model the server's own count when it sent one."""
        if self.remote is not None and self.remote.usage.get("completion_tokens") is not None:
            return int(self.remote.usage["completion_tokens"])
        return len(self.steps)

    @property
    def tokens_per_second(self) -> float:
        """Decode speed: tokens after the first, over the time after the first. For beam search,
        whose tokens all arrive at the end, the tokens of the answer over the whole search's time."""
        if self.strategy == "beam":
            return len(self.steps) / self.seconds if self.steps and self.seconds > 0 else 0.0
        decode_time = self.seconds - self.time_to_first_token
        return (len(self.steps) - 1) / decode_time if len(self.steps) > 1 and decode_time > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "model": self.model, "backend": self.backend, "prompt": self.prompt.text,
            "prompt_tokens": len(self.prompt.ids) if self.remote is None else self.remote.usage.get("prompt_tokens"),
            "templated": self.prompt.templated,
            "text": self.text, "finish_reason": self.finish_reason,
            **({"constraint": self.constraint.to_dict(), "incomplete": self.incomplete} if self.constraint else {}),
            **({"parsed": self.parsed} if self.constraint and self.constraint.produces_json else {}),
            "tokens": [{"id": s.id if s.id >= 0 else None, "text": s.text,
                        "logprob": s.logprob if s.has_logprob else None,
                        **({"masked_mass": round(s.masked_mass, 6)} if s.masked_mass is not None else {})}
                       for s in self.steps],
            **({"remote": {"url": self.remote.target.base_url, "model": self.remote.target.model,
                           "usage": self.remote.usage, "logprobs_note": self.probability_note}}
               if self.remote is not None else {}),
            "generated_tokens": self.token_count, "time_to_first_token_s": round(self.time_to_first_token, 4),
            "seconds": round(self.seconds, 4), "tokens_per_second": round(self.tokens_per_second, 2),
            "strategy": self.strategy,
        }


def choose_backend(spec: zoo.ModelSpec, backend: BackendChoice, strategy: str = "greedy") -> str:
    """`auto` → the fast engine for the architectures it implements (Llama, Gemma-3, GPT-2), in int4
    where that is the model's shipped precision held losslessly (SmolLM2's Q4_1 GGUF: bit-identical
    weights, several times the fp32 decode speed), else fp32 (token-identical to our readable
    engine), when its kernels build
    on this CPU, else our readable engine where it implements the architecture, else transformers.
    Beam search uses the readable engine."""
    if backend == "auto":
        if fast_supported(spec.architecture) and strategy != "beam":
            from llm_playground.models.fast.kernels import load_library

            if load_library() is not None:  # the shipped 4-bit weights where int4 holds them bit for bit
                from llm_playground.models.fast.shipped import shipped_precision

                return "fast-int4" if shipped_precision(spec) == "int4" else "fast"
        return "native" if native_supported(spec.architecture) else "hf"
    if backend not in BACKENDS:
        raise PlaygroundError(f"unknown backend {backend!r}; choose auto, {', '.join(BACKENDS)}")
    return backend


@dataclass
class GenerationRun:
    """A prepared generation: the exact prompt, and a generator of steps to consume."""

    model: str
    backend: str
    prompt: PreparedPrompt
    steps: Iterator[Step]
    strategy: str = "greedy"
    constraint: Constraint | None = None
    remote: "RemoteStatus | None" = None
    """For a remote model: filled in as its steps are read (usage, why logprobs are missing)."""


BEAM_CACHE_BUDGET_BYTES = 2 * 1024 ** 3
"""Most memory the KV cache of one beam search may take (beams × tokens × per-token cache size)."""


def check_request(spec: zoo.ModelSpec, prompt: str | list[Message], config: GenerationConfig) -> None:
    """Everything about a request that can be refused before a tokenizer or model loads."""
    if isinstance(prompt, str):
        check_prompt_text(prompt)
    elif not prompt or not prompt[-1].content.strip():
        raise PlaygroundError("the message is empty; type something to say")
    if not spec.generates:
        raise PlaygroundError(f"{spec.name} is an encoder: it does not generate text; pick a chat or base "
                              "model (llmpg models)")
    if spec.context_length and config.max_new_tokens >= spec.context_length:  # 0: a remote model, the server checks
        raise PlaygroundError(f"max_new_tokens is {config.max_new_tokens}, but {spec.name}'s context window is "
                              f"{spec.context_length} tokens, prompt included; ask for fewer new tokens")


def _check_beam_memory(spec: zoo.ModelSpec, prompt_tokens: int, config: GenerationConfig) -> None:
    """Refuse a beam search whose KV cache alone would pass BEAM_CACHE_BUDGET_BYTES."""
    if config.strategy != "beam" or not spec.kv_bytes_per_token:
        return
    needed = config.num_beams * (prompt_tokens + config.max_new_tokens) * spec.kv_bytes_per_token
    if needed > BEAM_CACHE_BUDGET_BYTES:
        raise PlaygroundError(f"{config.num_beams} beams × {prompt_tokens + config.max_new_tokens} tokens would need "
                              f"{needed / 1e9:.1f} GB of KV cache (the limit is {BEAM_CACHE_BUDGET_BYTES / 1e9:.1f} GB); "
                              "use fewer beams or fewer new tokens")


def start_generation(model: str | zoo.ModelSpec, prompt: str | list[Message], config: GenerationConfig, *,
                     system: str | None = None, raw: bool = False, backend: BackendChoice = "auto",
                     allow_special: bool = False, signal: StopSignal | None = None,
                     on_beam_step: Callable[[int], None] | None = None, batching: bool = False) -> GenerationRun:
    """Check everything that can be checked before model work, then return the step stream.

    Chat models get their chat template unless `raw`; base models always get the text as-is.
    Special-token spellings in the user's text are encoded as text unless `allow_special`.
    `signal` stops the generation from another thread (a Stop button, a disconnect, a time limit);
    `on_beam_step(steps_done)` reports beam search's progress (it yields its tokens only at the end).
    `batching`: on a fast backend (not beam search), decode in the model's shared batch
    (`serving.batching`) with every other batching request; other backends run alone as usual.
    """
    spec = model if isinstance(model, zoo.ModelSpec) else zoo.resolve(model)  # resolved once per request
    check_request(spec, prompt, config)
    if spec.remote is not None:
        return start_remote_generation(spec, prompt, config, system=system, raw=raw, backend=backend,
                                       allow_special=allow_special, signal=signal)
    chosen = choose_backend(spec, backend, config.strategy)
    use_template = spec.kind == "chat" and not raw
    if system and not use_template:
        raise PlaygroundError("a system prompt needs a chat model's template; drop the system prompt or raw")
    tokenizer = zoo.load_tokenizer(spec)
    prepared = prepare_prompt(tokenizer, prompt, chat=use_template, system=system, allow_special=allow_special)
    zoo.check_prompt_fits(spec, len(prepared.ids), config.max_new_tokens)
    _check_beam_memory(spec, len(prepared.ids), config)
    if batching:
        from llm_playground.serving.batching import batches, scheduler_for
    if batching and batches(spec, chosen, config):
        steps = scheduler_for(spec, chosen).generate(prepared.ids, config, signal=signal)
        return GenerationRun(model=spec.name, backend=chosen, prompt=prepared, steps=steps, strategy=config.strategy,
                             constraint=config.constraint)
    engine = make_backend(spec, chosen)
    eos_ids = zoo.eos_token_ids(spec)
    if config.strategy == "beam":
        steps = beam_steps(engine, tokenizer, prepared.ids, config, eos_ids=eos_ids, signal=signal,
                           on_step=on_beam_step)
    else:
        steps = generate_steps(engine, tokenizer, prepared.ids, config, eos_ids=eos_ids, signal=signal)
    return GenerationRun(model=spec.name, backend=chosen, prompt=prepared, steps=steps, strategy=config.strategy,
                         constraint=config.constraint)


def start_remote_generation(spec: zoo.ModelSpec, prompt: str | list[Message], config: GenerationConfig, *,
                            system: str | None = None, raw: bool = False, backend: BackendChoice = "auto",
                            allow_special: bool = False, signal: StopSignal | None = None) -> GenerationRun:
    """`start_generation` for a remote model (generation.remote): checked here, sent when the first
    step is read."""
    from llm_playground.generation.remote import RemoteStatus, check_remote_request, prepare_remote, remote_steps

    check_remote_request(spec, config, raw=raw, backend=backend, allow_special=allow_special)
    if system and raw:
        raise PlaygroundError("a system prompt needs the chat endpoint; drop the system prompt or raw")
    prepared = prepare_remote(spec, prompt, system=system, raw=raw)
    status = RemoteStatus(spec.remote)
    return GenerationRun(model=spec.name, backend=spec.remote.provider, prompt=prepared,
                         steps=remote_steps(spec, prepared, config, status, raw=raw, signal=signal),
                         strategy=config.strategy, constraint=config.constraint, remote=status)


def collect(run: GenerationRun) -> Completion:
    """Consume a run's steps into a Completion (what non-streaming callers want)."""
    completion = Completion.of(run)
    for step in run.steps:
        completion.add(step)
    return completion


def generate(model: str, prompt: str | list[Message], config: GenerationConfig | None = None, **options) -> Completion:
    """Generate a whole completion (blocking)."""
    return collect(start_generation(model, prompt, config or GenerationConfig(), **options))
