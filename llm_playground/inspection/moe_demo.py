"""`llmpg moe-demo`: watch a router collapse onto a few experts, and the balancing loss undo it.

A tiny model (token embedding → norm → MoE feed-forward → output head) learns a fixed random
token → token mapping; every token's path goes through its experts (no residual shortcut), so the
router's choices matter. Input tokens follow a Zipf distribution (a few are very common, as in real
text), which is what lets a free router pile most tokens onto a few experts. The model is trained
twice from the same initial weights on the same batches: once without the auxiliary loss and once
with it. The load per expert is measured on one held-out batch before training and after each run;
the coefficient of variation (std / mean) of that load summarises how uneven it is.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from llm_playground.checks import png_path
from llm_playground.errors import PlaygroundError
from llm_playground.models.moe import MoEFeedForward, coefficient_of_variation


@dataclass
class MoEDemoConfig:
    """Settings of the MoE load-balancing demo (defaults run in a few seconds on 2 cores)."""

    vocab_size: int = 128
    """Distinct input tokens (and output classes)."""
    d_model: int = 32
    """Width of the embeddings and of the MoE layer."""
    d_ff: int = 64
    """Hidden width of each expert."""
    n_experts: int = 8
    """Number of experts."""
    top_k: int = 2
    """Experts per token."""
    steps: int = 300
    """Training steps per run."""
    batch_tokens: int = 512
    """Tokens per training batch."""
    learning_rate: float = 1e-2
    """AdamW learning rate."""
    aux_loss_weight: float = 0.05
    """Weight of the balancing loss in the second run (the first run uses 0)."""
    zipf_exponent: float = 1.1
    """Token frequency ∝ 1 / rank**zipf_exponent; 0 would be uniform."""
    seed: int = 0
    """Seed for weights, data and the target mapping."""

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "d_ff", "n_experts", "steps", "batch_tokens"):
            if getattr(self, name) < 1:
                raise PlaygroundError(f"{name} must be a positive integer (got {getattr(self, name)})")
        if not 1 <= self.top_k <= self.n_experts:
            raise PlaygroundError(f"top_k must be between 1 and n_experts={self.n_experts} (got {self.top_k})")
        if self.learning_rate <= 0 or self.aux_loss_weight < 0 or self.zipf_exponent < 0:
            raise PlaygroundError("learning_rate must be > 0, aux_loss_weight and zipf_exponent ≥ 0")


class TinyMoEModel(nn.Module):
    """Embedding → MoE(norm(x)) → head: the smallest model with a trainable router."""

    def __init__(self, config: MoEDemoConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.norm = nn.LayerNorm(config.d_model)
        self.moe = MoEFeedForward(config.d_model, config.d_ff, config.n_experts, config.top_k)
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, tokens: torch.Tensor):
        """tokens (N,) → (logits (N, vocab), aux_loss, tokens_per_expert)."""
        x = self.embed(tokens)  # (N, d)
        routed = self.moe(self.norm(x))
        return self.head(routed.output), routed.aux_loss, routed.tokens_per_expert


def _sample_tokens(config: MoEDemoConfig, n: int, generator: torch.Generator) -> torch.Tensor:
    ranks = torch.arange(1, config.vocab_size + 1, dtype=torch.float64)
    weights = ranks ** -config.zipf_exponent
    return torch.multinomial(weights, n, replacement=True, generator=generator)


def _train(model: TinyMoEModel, config: MoEDemoConfig, targets: torch.Tensor, aux_weight: float,
           progress: bool) -> list[float]:
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(config.seed + 1)  # the same batches for both runs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    losses = []
    steps = tqdm(range(config.steps), desc=f"aux weight {aux_weight:g}", disable=not progress, leave=False)
    for _ in steps:
        tokens = _sample_tokens(config, config.batch_tokens, generator)
        logits, aux_loss, _ = model(tokens)
        task_loss = F.cross_entropy(logits, targets[tokens])
        loss = task_loss + aux_weight * aux_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(task_loss.item())
    return losses


@torch.no_grad()
def _load(model: TinyMoEModel, tokens: torch.Tensor) -> list[int]:
    return model(tokens)[2].tolist()


def run_moe_demo(config: MoEDemoConfig | None = None, *, progress: bool = False) -> dict:
    """Train the tiny MoE model without and with the balancing loss; return loads and CVs.

    Returns {"config", "load_before", "load_without_balancing", "load_with_balancing" (tokens per
    expert on a held-out batch), "cv_before", "cv_without_balancing", "cv_with_balancing",
    "final_loss_without_balancing", "final_loss_with_balancing"}.
    """
    config = config or MoEDemoConfig()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small run slower when split across threads
    try:
        return _run(config, progress)
    finally:
        torch.set_num_threads(threads)


def _run(config: MoEDemoConfig, progress: bool) -> dict:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    targets = torch.randperm(config.vocab_size, generator=generator)  # the mapping to learn
    held_out = _sample_tokens(config, 4096, generator)
    initial = TinyMoEModel(config)
    result: dict = {"config": asdict(config), "load_before": _load(initial, held_out)}
    for label, weight in (("without_balancing", 0.0), ("with_balancing", config.aux_loss_weight)):
        model = copy.deepcopy(initial)
        losses = _train(model, config, targets, weight, progress)
        result[f"load_{label}"] = _load(model, held_out)
        result[f"final_loss_{label}"] = sum(losses[-20:]) / len(losses[-20:])
    for key in ("before", "without_balancing", "with_balancing"):
        result[f"cv_{key}"] = coefficient_of_variation(torch.tensor(result[f"load_{key}"]))
    return result


def plot_moe_demo(result: dict, path: str | Path) -> Path:
    """Bar charts of tokens per expert: at initialisation, trained without and with the balancing loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("before", "at initialisation"), ("without_balancing", "trained, no balancing loss"),
              ("with_balancing", f"trained, balancing loss × {result['config']['aux_loss_weight']:g}")]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    n_experts = len(result["load_before"])
    for axis, (key, title) in zip(axes, panels):
        axis.bar(range(n_experts), result[f"load_{key}"], color="tab:blue" if key != "without_balancing" else "tab:red")
        axis.axhline(sum(result[f"load_{key}"]) / n_experts, color="black", linestyle="--", linewidth=1,
                     label="even load")
        axis.set_title(f"{title}\nCV = {result[f'cv_{key}']:.2f}")
        axis.set_xlabel("expert")
        axis.set_xticks(range(n_experts))
    axes[0].set_ylabel("tokens routed (held-out batch)")
    axes[0].legend(loc="upper right")
    figure.suptitle(f"Mixture of experts: load per expert (top-{result['config']['top_k']} of {n_experts})")
    figure.tight_layout()
    path = png_path(path, "moe-load.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def format_moe_demo(result: dict) -> str:
    """The loads and CVs as a short text report."""
    lines = [f"{'run':<28}{'CV':>6}  {'task loss':>9}  tokens per expert"]
    for key, label in (("before", "at initialisation"), ("without_balancing", "no balancing loss"),
                       ("with_balancing", f"balancing loss × {result['config']['aux_loss_weight']:g}")):
        loss = result.get(f"final_loss_{key}")
        lines.append(f"{label:<28}{result[f'cv_{key}']:>6.2f}  {'' if loss is None else f'{loss:.3f}':>9}  "
                     f"{result[f'load_{key}']}")
    return "\n".join(lines)
