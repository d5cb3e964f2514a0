"""Choosing the next token from processed scores: argmax (greedy) or a seeded draw (sampling).

Beam search keeps several sequences alive and lives in `llm_playground.generation.beam`.
"""
from __future__ import annotations

import torch


def make_generator(seed: int | None) -> torch.Generator:
    """A CPU random generator: seeded for reproducible sampling, or from fresh entropy when seed is None."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def select_greedy(scores: torch.Tensor) -> torch.LongTensor:
    """The highest-scoring token of each row: (B, V) -> (B,). Ties go to the lowest id (as torch.argmax)."""
    return scores.argmax(dim=-1)


def select_sample(scores: torch.Tensor, generator: torch.Generator) -> torch.LongTensor:
    """Draw one token per row from softmax(scores): (B, V) -> (B,).

    Masked tokens (score -inf) have probability 0 and are never drawn. The draw uses only
    `generator`, so the same generator state and scores give the same tokens. Probabilities are
    computed in float32 on the CPU, so a seed gives the same draw whatever device made the logits.
    """
    probs = scores.detach().float().cpu().softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1).to(scores.device)
