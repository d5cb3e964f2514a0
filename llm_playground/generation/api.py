"""What faces call: prepare the prompt, pick the backend, run the generator, time it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation.backends import BACKENDS, make_backend, native_supported
from llm_playground.generation.chat import Message, PreparedPrompt, prepare_prompt
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.generator import Step, beam_steps, generate_steps
from llm_playground.structured import Constraint, parse_output

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
    constraint: Constraint | None = None
    """The constraint the output was generated under (None: free text)."""
    incomplete: bool = False
    """The output stopped (length or a stop string) before the constraint was satisfied: it is not
    valid JSON / does not match yet. Faces say "finished: length, output incomplete"."""

    @classmethod
    def of(cls, run: "GenerationRun") -> "Completion":
        """An empty completion for a run, filled by `add` as its steps arrive."""
        return cls(model=run.model, backend=run.backend, prompt=run.prompt, text="", constraint=run.constraint)

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
    def tokens_per_second(self) -> float:
        """Decode speed: tokens after the first, over the time after the first."""
        decode_time = self.seconds - self.time_to_first_token
        return (len(self.steps) - 1) / decode_time if len(self.steps) > 1 and decode_time > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "model": self.model, "backend": self.backend, "prompt": self.prompt.text,
            "prompt_tokens": len(self.prompt.ids), "templated": self.prompt.templated,
            "text": self.text, "finish_reason": self.finish_reason,
            **({"constraint": self.constraint.to_dict(), "incomplete": self.incomplete} if self.constraint else {}),
            **({"parsed": self.parsed} if self.constraint and self.constraint.produces_json else {}),
            "tokens": [{"id": s.id, "text": s.text, "logprob": s.logprob,
                        **({"masked_mass": round(s.masked_mass, 6)} if s.masked_mass is not None else {})}
                       for s in self.steps],
            "generated_tokens": len(self.steps), "time_to_first_token_s": round(self.time_to_first_token, 4),
            "seconds": round(self.seconds, 4), "tokens_per_second": round(self.tokens_per_second, 2),
        }


def choose_backend(spec: zoo.ModelSpec, backend: BackendChoice, strategy: str = "greedy") -> str:
    """`auto` → the fast fp32 engine for Llama models (token-identical to transformers, ~3× its
    decode speed) when its kernels build on this CPU, else our readable engine where it implements
    the architecture, else transformers. Beam search uses the readable engine."""
    if backend == "auto":
        if spec.architecture == "llama" and strategy != "beam":
            from llm_playground.models.fast.kernels import load_library

            if load_library() is not None:
                return "fast"
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
    constraint: Constraint | None = None


def start_generation(model: str, prompt: str | list[Message], config: GenerationConfig, *,
                     system: str | None = None, raw: bool = False,
                     backend: BackendChoice = "auto") -> GenerationRun:
    """Check everything that can be checked before model work, then return the step stream.

    Chat models get their chat template unless `raw`; base models always get the text as-is.
    """
    spec = zoo.resolve(model)
    if not spec.generates:
        raise PlaygroundError(f"{spec.name} is an encoder: it does not generate text; pick a chat or base "
                              "model (llmpg models)")
    chosen = choose_backend(spec, backend, config.strategy)
    tokenizer = zoo.load_tokenizer(model)
    use_template = spec.kind == "chat" and not raw
    if system and not use_template:
        raise PlaygroundError("a system prompt needs a chat model's template; drop --system or --raw")
    prepared = prepare_prompt(tokenizer, prompt, chat=use_template, system=system)
    zoo.check_prompt_fits(spec, len(prepared.ids), config.max_new_tokens)
    engine = make_backend(model, chosen)
    eos_ids = zoo.eos_token_ids(model)
    if config.strategy == "beam":
        steps = beam_steps(engine, tokenizer, prepared.ids, config, eos_ids=eos_ids)
    else:
        steps = generate_steps(engine, tokenizer, prepared.ids, config, eos_ids=eos_ids)
    return GenerationRun(model=spec.name, backend=chosen, prompt=prepared, steps=steps, constraint=config.constraint)


def collect(run: GenerationRun) -> Completion:
    """Consume a run's steps into a Completion (what non-streaming callers want)."""
    completion = Completion.of(run)
    for step in run.steps:
        completion.add(step)
    return completion


def generate(model: str, prompt: str | list[Message], config: GenerationConfig | None = None, **options) -> Completion:
    """Generate a whole completion (blocking)."""
    return collect(start_generation(model, prompt, config or GenerationConfig(), **options))
