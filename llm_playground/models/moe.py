"""A Mixture-of-Experts feed-forward layer, written to be read.

Instead of one MLP, the layer holds n_experts MLPs and a router. For every token the router scores
each expert (a linear layer, then softmax), the token goes to its top_k experts, and their outputs
are mixed with the router's probabilities renormalised over the chosen experts:

    probs  = softmax(x W_router)                      (tokens, experts)
    chosen = top_k(probs)                             each token's k best experts
    gates  = probs[chosen] / sum(probs[chosen])       sum to 1 per token
    y      = Σ_j gates_j · expert_{chosen_j}(x)

Only k of the experts run for each token, so the layer has n_experts× the parameters of one MLP for
about k× its compute. Left alone, a router tends to favour a few experts (they get trained more, so
they win more): the Switch Transformer's auxiliary loss pushes back,

    aux = n_experts · Σ_e f_e · P_e

with f_e the fraction of routing assignments that went to expert e and P_e the router's mean
probability for e. It is 1 when the load is uniform and grows as load concentrates (f carries no
gradient; P does). With a `capacity_factor`, an expert takes at most
ceil(capacity_factor · top_k · tokens / n_experts) assignments; first choices are served before
second choices, and the rest are dropped (the token keeps only its residual stream for them).

`MoEFeedForward` is vectorised: one batched router call, a loop over experts (never over tokens)
that gathers each expert's tokens, and `index_add_` to scatter the results back.
`moe_reference_loop` computes the same thing one token at a time; the tests prove them equal.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from llm_playground.errors import PlaygroundError


class MoEOutput(NamedTuple):
    """What one MoE forward pass returns."""

    output: torch.Tensor
    """Same shape as the input (…, d_model)."""
    aux_loss: torch.Tensor
    """Switch Transformer load-balancing loss (a scalar; 1.0 means perfectly balanced)."""
    tokens_per_expert: torch.Tensor
    """(n_experts,) routing assignments per expert before capacity; sums to top_k × tokens."""
    dropped: int
    """Assignments dropped because an expert was full (0 without a capacity)."""


class MoEFeedForward(nn.Module):
    """Top-k routed mixture of GELU MLP experts (see the module docstring)."""

    def __init__(self, d_model: int, d_ff: int, n_experts: int, top_k: int = 2,
                 capacity_factor: float | None = None) -> None:
        super().__init__()
        if min(d_model, d_ff, n_experts) < 1:
            raise PlaygroundError("d_model, d_ff and n_experts must be positive")
        if not 1 <= top_k <= n_experts:
            raise PlaygroundError(f"top_k must be between 1 and n_experts={n_experts} (got {top_k})")
        if capacity_factor is not None and not capacity_factor > 0:
            raise PlaygroundError(f"capacity_factor must be > 0 or None for no limit (got {capacity_factor})")
        self.n_experts, self.top_k, self.capacity_factor = n_experts, top_k, capacity_factor
        self.router = nn.Linear(d_model, n_experts, bias=False)
        # All experts' weights in two tensors: expert e is gelu(x @ w_in[e]) @ w_out[e].
        self.w_in = nn.Parameter(torch.randn(n_experts, d_model, d_ff) / math.sqrt(d_model))
        self.w_out = nn.Parameter(torch.randn(n_experts, d_ff, d_model) / math.sqrt(d_ff))

    def expert(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Expert `index` on tokens x (n, d_model) → (n, d_model)."""
        return F.gelu(x @ self.w_in[index]) @ self.w_out[index]

    def capacity(self, n_tokens: int) -> int | None:
        """Most assignments one expert accepts for a batch of n_tokens (None: no limit)."""
        if self.capacity_factor is None:
            return None
        return math.ceil(self.capacity_factor * self.top_k * n_tokens / self.n_experts)

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Router probabilities (N, E), chosen experts (N, k) and their renormalised gates (N, k)."""
        probs = torch.softmax(self.router(x), dim=-1)  # (N, E)
        top_probs, chosen = probs.topk(self.top_k, dim=-1)  # (N, k), best first
        gates = top_probs / top_probs.sum(dim=-1, keepdim=True)  # = softmax over the chosen logits
        return probs, chosen, gates

    def forward(self, x: torch.Tensor) -> MoEOutput:
        """x (…, d_model) → MoEOutput with the output in the same shape."""
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # (N, d): batch and time flattened; routing is per token
        n_tokens = x.shape[0]
        probs, chosen, gates = self.route(x)

        # One row per (token, choice) assignment, slot-major: every token's first choice comes
        # before any second choice, so a full expert drops second choices first.
        expert_of = chosen.T.reshape(-1)  # (k·N,)
        token_of = torch.arange(n_tokens, device=x.device).repeat(self.top_k)  # (k·N,)
        gate_of = gates.T.reshape(-1)  # (k·N,)
        tokens_per_expert = torch.bincount(expert_of, minlength=self.n_experts)  # (E,)

        keep = torch.ones_like(expert_of, dtype=torch.bool)
        capacity = self.capacity(n_tokens)
        if capacity is not None:
            one_hot = F.one_hot(expert_of, self.n_experts)  # (k·N, E)
            queue_position = (one_hot.cumsum(dim=0) * one_hot).sum(dim=-1) - 1  # place in its expert's queue
            keep = queue_position < capacity

        output = torch.zeros_like(x)
        for expert_index in range(self.n_experts):  # a loop over experts, never over tokens
            rows = torch.nonzero((expert_of == expert_index) & keep).squeeze(-1)
            if rows.numel() == 0:
                continue
            tokens = token_of[rows]  # which tokens this expert serves
            expert_out = self.expert(expert_index, x[tokens]) * gate_of[rows].unsqueeze(-1)  # (n_e, d)
            output.index_add_(0, tokens, expert_out)  # scatter back; a token may get several experts

        fraction = tokens_per_expert.to(probs.dtype) / (self.top_k * n_tokens)  # f_e, no gradient
        mean_prob = probs.mean(dim=0)  # P_e, differentiable
        aux_loss = self.n_experts * torch.sum(fraction * mean_prob)
        return MoEOutput(output.reshape(shape), aux_loss, tokens_per_expert, int((~keep).sum()))


def moe_reference_loop(layer: MoEFeedForward, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same layer one token at a time, for tests and for reading: (output, tokens_per_expert).

    Capacity is served in the same order as the vectorised layer: all first choices (in token
    order), then all second choices, and so on.
    """
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    n_tokens = x.shape[0]
    output = torch.zeros_like(x)
    counts = torch.zeros(layer.n_experts, dtype=torch.long)
    used = [0] * layer.n_experts
    capacity = layer.capacity(n_tokens)
    routes = []
    for token in range(n_tokens):
        probs = torch.softmax(layer.router(x[token]), dim=-1)  # (E,)
        top_probs, chosen = probs.topk(layer.top_k)
        routes.append((chosen.tolist(), (top_probs / top_probs.sum()).tolist()))
    for slot in range(layer.top_k):
        for token, (chosen, gates) in enumerate(routes):
            expert_index = chosen[slot]
            counts[expert_index] += 1
            if capacity is not None and used[expert_index] >= capacity:
                continue  # expert full: this assignment is dropped
            used[expert_index] += 1
            output[token] += gates[slot] * layer.expert(expert_index, x[token:token + 1])[0]
    return output.reshape(shape), counts


def coefficient_of_variation(counts: torch.Tensor) -> float:
    """std / mean of per-expert loads: 0 for a perfectly even load, larger when a few experts dominate."""
    counts = counts.double()
    return float(counts.std(unbiased=False) / counts.mean()) if counts.mean() > 0 else 0.0
