"""The same prompt through several models × strategies, side by side (base vs chat lesson).

Each cell shows the exact text its model received after templating (special tokens visible), so a
learner sees why a base model continues a question while a chat model answers it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from llm_playground.errors import PlaygroundError
from llm_playground.generation.api import GenerationRun, start_generation
from llm_playground.generation.cancel import StopSignal
from llm_playground.generation.config import GenerationConfig

STRATEGY_PRESETS: dict[str, dict] = {
    "greedy": {"strategy": "greedy"},
    "sample": {"strategy": "sample", "temperature": 1.0},
    "top_k": {"strategy": "sample", "temperature": 0.8, "top_k": 40},
    "top_p": {"strategy": "sample", "temperature": 0.8, "top_p": 0.9},
    "min_p": {"strategy": "sample", "temperature": 1.0, "min_p": 0.1},
    "beam": {"strategy": "beam", "num_beams": 4},
}
"""Named decoding setups for `compare`; sampling ones use the seed of the base config (default 0)."""


def strategy_config(name: str, base: GenerationConfig) -> GenerationConfig:
    """`base` (length, stop strings, penalties, seed) with the named strategy's settings."""
    if name not in STRATEGY_PRESETS:
        raise PlaygroundError(f"unknown strategy {name!r} for compare; known: {', '.join(STRATEGY_PRESETS)}")
    preset = dict(STRATEGY_PRESETS[name])
    neutral = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "typical_p": 1.0, "num_beams": 1}
    if preset["strategy"] == "sample":
        preset.setdefault("seed", base.seed if base.seed is not None else 0)
    else:
        preset["seed"] = None
    return base.replace(**{**neutral, **preset})


@dataclass
class CompareCell:
    model: str
    strategy: str
    config: GenerationConfig
    run: GenerationRun
    """Consume `run.steps` to generate this cell; `run.prompt.text` is the exact templated input."""


def compare_runs(models: list[str], strategies: list[str], prompt: str, base: GenerationConfig | None = None, *,
                 system: str | None = None, signal: StopSignal | None = None,
                 on_beam_step: Callable[[int], None] | None = None) -> list[CompareCell]:
    """One prepared run per model × strategy (validated up front, generated when consumed);
    `signal` stops whichever cell is running."""
    base = base or GenerationConfig(max_new_tokens=48)
    if not models or not strategies:
        raise PlaygroundError("compare needs at least one model and one strategy")
    configs = {name: strategy_config(name, base) for name in strategies}  # validate all before any model work
    return [CompareCell(model, name, configs[name], start_generation(model, prompt, configs[name], system=system,
                                                                     signal=signal, on_beam_step=on_beam_step))
            for model in models for name in strategies]
