"""Text from a trained model, always through the generation engine (`generate_steps` over a
`NativeBackend`), so every probability a face shows comes from the same place.

Our small models have short contexts (64 tokens for cpu-tiny). To write more than fits, generation
runs in rounds: each round continues from the last half-context of what exists so far.

Training text is encoded without special tokens, so the model never saw [PAD], [UNK] or
<|endoftext|> as a target; their logits are set to −inf (`NoSpecialsBackend`) so that an
undertrained model does not print them.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig, generate_steps
from llm_playground.generation.backends import NativeBackend
from llm_playground.models import Transformer
from llm_playground.training.tokenizing import TrainingTokenizer


class NoSpecialsBackend(NativeBackend):
    """The native backend with the given ids masked out of every next-token distribution."""

    def __init__(self, model: Transformer, masked_ids: list[int]) -> None:
        super().__init__(model)
        self.masked_ids = masked_ids

    def _forward(self, ids):
        logits = super()._forward(ids)  # (V,)
        if self.masked_ids:
            logits[self.masked_ids] = float("-inf")
        return logits


def stream_tokens(model: Transformer, tokenizer: TrainingTokenizer, prompt_ids: list[int],
                  config: GenerationConfig) -> Iterator[tuple[int, str]]:
    """(id, text) for each of `config.max_new_tokens` new tokens; continues past the context in rounds."""
    if config.strategy == "beam":
        raise PlaygroundError("sampling from a checkpoint streams token by token; use greedy or sample")
    was_training = model.training
    model.eval()
    context = model.config.block_size
    ids = list(prompt_ids)[-(context - 1):] or [0]
    generated: list[int] = []
    round_ = 0
    try:
        while len(generated) < config.max_new_tokens:
            prompt = (ids + generated)[-max(1, context // 2):] if generated else ids
            new = min(config.max_new_tokens - len(generated), context - len(prompt))
            seed = None if config.seed is None else config.seed + round_
            round_config = config.replace(max_new_tokens=new, seed=seed, stop_at_eos=False)
            backend = NoSpecialsBackend(model, sorted(tokenizer.tokenizer.special_tokens.values()))
            for step in generate_steps(backend, tokenizer.for_generation(), prompt, round_config,
                                       eos_ids=set()):
                generated.append(step.id)
                yield step.id, step.text
            round_ += 1
    finally:
        model.train(was_training)


def sample_text(model: Transformer, tokenizer: TrainingTokenizer, prompt_ids: list[int], n_tokens: int, *,
                seed: int = 0, temperature: float = 0.8, top_k: int = 0) -> str:
    """The prompt followed by `n_tokens` sampled tokens, as text."""
    config = GenerationConfig(max_new_tokens=n_tokens, strategy="sample", temperature=temperature, top_k=top_k,
                              seed=seed, stop_at_eos=False, top_alternatives=0)
    new = [token for token, _ in stream_tokens(model, tokenizer, prompt_ids, config)]
    return tokenizer.decode(list(prompt_ids) + new)


def stream_sample(checkpoint: str | Path, prompt: str, config: GenerationConfig) -> Iterator[str]:
    """Load a checkpoint and stream the text generated after `prompt` (empty prompt: a newline)."""
    from llm_playground.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    model = loaded.build_model()
    prompt_ids = loaded.tokenizer.encode(prompt or "\n")
    if len(prompt_ids) >= model.config.block_size:
        prompt_ids = prompt_ids[-(model.config.block_size - 1):]  # the model sees only its context anyway
    for _, text in stream_tokens(model, loaded.tokenizer, prompt_ids, config):
        yield text
