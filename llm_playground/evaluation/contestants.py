"""The models an evaluation compares: a zoo model, a local folder, a fast precision, or (later) a remote API.

    contestant = resolve_contestant("smollm2-135m-instruct@fast-int4")
    contestant.scorer()          # a LoglikelihoodScorer, or raises NotScorable with the reason
    contestant.generate(prompt, config)

A reference is `MODEL` or `MODEL@BACKEND` (BACKEND: auto, native, hf, fast, fast-bf16, fast-int8,
fast-int4). Weights come from the one model store (`generation.backends`, `zoo`), never held here.

Remote backends (an OpenAI-compatible server, …) plug in with `register_remote(scheme, factory)`:
a reference `scheme:NAME` is then handed to the factory, which returns any object with the
`Contestant` attributes. One that cannot give log-likelihoods says why in `loglikelihood_unsupported`,
and multiple-choice and perplexity tasks skip it with that reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation.scoring import (FastScorer, HFScorer, LoglikelihoodScorer, NativeScorer)


class NotScorable(PlaygroundError):
    """This model cannot compute log-likelihoods (a remote API without logprobs, an encoder)."""


class Contestant(Protocol):
    label: str
    """What tables and results show: `model@backend`."""
    model: str
    backend: str
    precision: str
    loglikelihood_unsupported: str | None
    """None when the model can score log-likelihoods, else the reason it cannot."""

    def scorer(self) -> LoglikelihoodScorer: ...

    def generate(self, prompt: str, config) -> str: ...


_REMOTES: dict[str, Callable[[str], Contestant]] = {}


def register_remote(scheme: str, factory: Callable[[str], Contestant]) -> None:
    """Let references `scheme:NAME` resolve to `factory(NAME)` (remote backends plug in here)."""
    _REMOTES[scheme] = factory


def unregister_remote(scheme: str) -> None:
    _REMOTES.pop(scheme, None)


def precision_of(backend: str) -> str:
    from llm_playground.generation.backends import FAST_PRECISIONS

    return FAST_PRECISIONS.get(backend, "fp32")


@dataclass
class LocalContestant:
    """A model we run ourselves, on one of our engines or transformers'."""

    model: str
    """Zoo name or local folder, as the user typed it."""
    backend: str
    """The engine chosen (auto already resolved)."""

    @property
    def label(self) -> str:
        return f"{self.spec.name}@{self.backend}"

    @property
    def spec(self):
        from llm_playground import zoo

        return zoo.resolve(self.model)

    @property
    def precision(self) -> str:
        return precision_of(self.backend)

    @property
    def loglikelihood_unsupported(self) -> str | None:
        if not self.spec.generates:
            return f"{self.spec.name} is an encoder: it has no next-token distribution to score"
        return None

    @property
    def tokenizer(self):
        from llm_playground import zoo

        return zoo.load_tokenizer(self.model)

    def scorer(self) -> LoglikelihoodScorer:
        """A scorer over the store's copy of the weights (built on each call: it is cheap, its caches are its own)."""
        from llm_playground.generation import backends

        if self.loglikelihood_unsupported:
            raise NotScorable(self.loglikelihood_unsupported)
        if self.backend == "hf":
            from llm_playground import zoo

            return HFScorer(zoo.load_hf_model(self.model), self.tokenizer)
        if self.backend in backends.FAST_PRECISIONS:
            from llm_playground.models.fast import FastDecoder

            weights = backends.fast_weights(self.model, backends.FAST_PRECISIONS[self.backend])
            return FastScorer(FastDecoder(weights), self.tokenizer, self.backend)
        return NativeScorer(backends.native_model(self.model), self.tokenizer)

    def generate(self, prompt: str, config) -> str:
        """The completion of `prompt` sent as-is (no chat template), as one string."""
        from llm_playground.generation import generate

        return generate(self.model, prompt, config, raw=True, backend=self.backend).text

    def chat(self, prompt: str, config) -> str:
        """The answer to `prompt` as a user turn (chat template for chat models, as-is for base models)."""
        from llm_playground.generation import generate

        return generate(self.model, prompt, config, backend=self.backend).text


def resolve_contestant(reference: str) -> Contestant:
    """`MODEL`, `MODEL@BACKEND` or `scheme:NAME` (a registered remote backend) → a Contestant.

    Checks the name and the backend now (no model is loaded)."""
    from llm_playground import zoo
    from llm_playground.generation.api import choose_backend
    from llm_playground.generation.backends import BACKENDS, fast_supported, native_supported

    reference = reference.strip()
    if not reference:
        raise PlaygroundError("a model name is empty; give models as NAME or NAME@BACKEND, separated by commas")
    scheme, colon, rest = reference.partition(":")
    if colon and scheme.isidentifier() and not scheme.startswith("/"):
        if scheme not in _REMOTES:
            known = ", ".join(sorted(_REMOTES)) or "none yet (remote backends come with the API server)"
            raise PlaygroundError(f"unknown remote backend {scheme!r} in {reference!r}; registered: {known}")
        return _REMOTES[scheme](rest)
    model, at, backend = reference.rpartition("@")
    if not at:
        model, backend = reference, "auto"
    spec = zoo.resolve(model)
    if backend != "auto" and backend not in BACKENDS:
        raise PlaygroundError(f"unknown backend {backend!r} in {reference!r}; choose auto, {', '.join(BACKENDS)}")
    chosen = choose_backend(spec, backend) if spec.generates else "hf"
    if chosen != "hf" and not native_supported(spec.architecture):
        raise PlaygroundError(f"the native engines do not implement {spec.architecture} ({spec.name}); "
                              f"use {model}@hf")
    if chosen.startswith("fast") and not fast_supported(spec.architecture):
        raise PlaygroundError(f"the fast engine runs Llama, Gemma-3 and GPT-2 models; {spec.name} is "
                              f"{spec.architecture}: use {model}@native or {model}@hf")
    return LocalContestant(model=model, backend=chosen)


def resolve_contestants(references: str | list[str]) -> list[Contestant]:
    """A comma-separated list (or a list) of references → contestants, checked before any model loads."""
    items = references.split(",") if isinstance(references, str) else list(references)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise PlaygroundError("no models given; name at least one (e.g. smollm2-135m-instruct)")
    return [resolve_contestant(item) for item in items]
