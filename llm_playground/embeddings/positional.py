"""Positional encodings: how a transformer knows where a token is.

Attention alone is blind to order (shuffle the tokens and every weight moves with them), so each
family adds position some way:

- **sinusoidal** ("Attention Is All You Need", §3.5): a fixed table added to the token embeddings,
  PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)). Each pair of
  dimensions is a clock turning at its own speed; the dot product PE[m]·PE[n] = Σ_i cos((m − n) ω_i)
  depends only on the distance m − n.
- **learned** (GPT-2, BERT/MiniLM): a trained table with one row per position, added to the tokens.
  MiniLM's is real (512 × 384); GPT-2's weights are not installable offline (its architecture here
  has random weights), so the learned table shown by default is MiniLM's.
- **RoPE** (Llama, SmolLM2, Gemma): nothing is added; queries and keys are rotated, pair i of a head
  by the angle pos · θ^(−2i/hs). A query at m and a key at n then score by the angle (m − n) θ_i
  between them: relative position, from absolute rotations. `rope_data` computes the angles with
  the formula and `rotate_pairs` applies them as plain 2-D rotations; tests prove the result equal
  to `models.transformer.apply_rope` with the engine's own tables (`Transformer.rope`).

`PositionalData.similarity` is the cosine between the position vectors of every two positions (for
RoPE: between one vector rotated to position m and to position n), the picture that shows "nearby
positions look alike".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.figures import save_figure

PositionKind = Literal["sinusoidal", "learned", "rope"]
POSITION_KINDS = ("sinusoidal", "learned", "rope")
MAX_POSITIONS = 8192


def sinusoidal_formula(position: int, dimension: int, d_model: int, base: float = 10000.0) -> float:
    """One entry of the paper's table, written as the paper writes it (the reference for tests).

    >>> sinusoidal_formula(0, 1, 8)  # cos(0)
    1.0
    """
    i = dimension // 2
    angle = position / base ** (2 * i / d_model)
    return math.sin(angle) if dimension % 2 == 0 else math.cos(angle)


def sinusoidal_encoding(n_positions: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The sinusoidal table (n_positions, d_model), float64: even columns sin, odd columns cos."""
    if d_model < 2 or d_model % 2:
        raise PlaygroundError(f"d_model must be an even number ≥ 2 for sinusoidal positions (got {d_model})")
    positions = torch.arange(n_positions, dtype=torch.float64)[:, None]               # (P, 1)
    frequencies = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,) ω_i = base^(-2i/d)
    table = torch.empty(n_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(positions * frequencies)
    table[:, 1::2] = torch.cos(positions * frequencies)
    return table


def rope_angles(head_dim: int, n_positions: int, theta: float) -> torch.Tensor:
    """(n_positions, head_dim / 2): the angle pair i turns by at each position, pos · θ^(−2i/hs), float64."""
    if head_dim < 2 or head_dim % 2:
        raise PlaygroundError(f"head_dim must be an even number ≥ 2 for RoPE (got {head_dim})")
    positions = torch.arange(n_positions, dtype=torch.float64)[:, None]
    frequencies = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (hs/2,)
    return positions * frequencies


def rotate_pairs(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Turn each pair (x_j, x_{j+hs/2}) of x (…, T, hs) by angles (T, hs/2), as plain 2-D rotations:
    (a, b) → (a cos φ − b sin φ, a sin φ + b cos φ). The pairing is the Hugging Face / GPT-NeoX
    layout our engine uses (dimension j with j + hs/2, not neighbours)."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


@dataclass
class PositionalData:
    """What the positional plot draws, as numbers."""

    kind: str
    """sinusoidal, learned or rope."""
    source: str
    """"formula (d_model 128)", "minilm-l6", "smollm2-135m-instruct (θ = 100000, hs 64)"…"""
    n_positions: int
    table: torch.Tensor
    """sinusoidal / learned: (P, d) the vector added at each position; rope: (P, hs/2) the angle of
    each pair at each position (radians)."""
    similarity: torch.Tensor
    """(P, P) cosine between the position vectors of positions m and n (rope: one vector rotated to m and to n)."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self, decimals: int = 5) -> dict:
        return {"kind": self.kind, "source": self.source, "n_positions": self.n_positions, "notes": self.notes,
                "table": torch.round(self.table.double(), decimals=decimals).tolist(),
                "similarity": torch.round(self.similarity.double(), decimals=decimals).tolist()}


def _cosine(table: torch.Tensor) -> torch.Tensor:
    unit = torch.nn.functional.normalize(table.double(), dim=-1)
    return unit @ unit.T


def _check_positions(n_positions: int, limit: int = MAX_POSITIONS) -> None:
    if not isinstance(n_positions, int) or not 1 <= n_positions <= limit:
        raise PlaygroundError(f"positions must be between 1 and {limit} (got {n_positions})")


def rope_similarity(angles: torch.Tensor) -> torch.Tensor:
    """(P, P): cos between one vector of equal pairs rotated to position m and to position n, i.e. the
    mean over pairs of cos((m − n) θ_i). It depends on m − n only."""
    cos, sin = torch.cos(angles), torch.sin(angles)  # (P, hs/2)
    return (cos @ cos.T + sin @ sin.T) / angles.shape[1]  # cos(a − b) = cos a cos b + sin a sin b


def rope_config(model: str):
    """Our `TransformerConfig` of a zoo model (from its config.json: no weights loaded)."""
    from transformers import AutoConfig

    from llm_playground import zoo
    from llm_playground.models.config import TransformerConfig

    spec = zoo.resolve(model)
    if spec.kind == "architecture" or spec.kind == "encoder":
        raise PlaygroundError(f"{spec.name} has no rotary positions ({spec.architecture}); RoPE models: "
                              + ", ".join(s.name for s in zoo.list_models() if s.architecture in ("llama", "gemma3_text")))
    config = TransformerConfig.from_hf(AutoConfig.from_pretrained(str(zoo.model_dir(model))))
    if config.positions != "rope":
        raise PlaygroundError(f"{spec.name} uses {config.positions} positions, not RoPE")
    return config


def positional_data(kind: str, *, n_positions: int = 64, d_model: int = 128, model: str | None = None) -> PositionalData:
    """The table and position-similarity matrix of one kind of positional encoding.

    sinusoidal: the formula at `d_model`; learned: a zoo model's table (default minilm-l6, the trained
    one we have; gpt2 is the architecture with random weights); rope: the angles of a zoo model's
    rotations (default smollm2-135m-instruct) at its θ and head width.
    """
    if kind not in POSITION_KINDS:
        raise PlaygroundError(f"unknown positional encoding {kind!r}; known: {', '.join(POSITION_KINDS)}")
    _check_positions(n_positions)
    if kind == "sinusoidal":
        table = sinusoidal_encoding(n_positions, d_model)
        return PositionalData(kind, f"formula (d_model {d_model})", n_positions, table, _cosine(table),
                              ["PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)); "
                               "the similarity depends only on the distance between positions"])
    if kind == "learned":
        return _learned(model or "minilm-l6", n_positions)
    name = model or "smollm2-135m-instruct"
    config = rope_config(name)
    _check_positions(n_positions, config.block_size)
    angles = rope_angles(config.head_dim, n_positions, config.rope_theta)
    notes = [f"pair i of each {config.head_dim}-wide head turns by pos · {config.rope_theta:g}^(−2i/{config.head_dim}) "
             f"radians: pair 0 by 1 radian per token, the last by {angles[1, -1].item():.2e}"]
    if "sliding" in config.layer_types:
        notes.append(f"{name}'s sliding-window layers rotate at base {config.rope_local_theta:g}; shown: the "
                     f"full-attention layers' base {config.rope_theta:g}")
    from llm_playground import zoo

    return PositionalData("rope", f"{zoo.resolve(name).name} (θ = {config.rope_theta:g}, hs {config.head_dim})",
                          n_positions, angles, rope_similarity(angles), notes)


def _learned(model: str, n_positions: int) -> PositionalData:
    from llm_playground import zoo

    spec = zoo.resolve(model)
    if spec.architecture not in ("bert", "gpt2"):
        raise PlaygroundError(f"{spec.name} has no learned position table ({spec.architecture}); models with one: "
                              + ", ".join(s.name for s in zoo.list_models() if s.architecture in ("bert", "gpt2")))
    hf = zoo.load_hf_model(model)
    weight = (hf.embeddings.position_embeddings.weight if spec.architecture == "bert"
              else hf.transformer.wpe.weight).detach()
    _check_positions(n_positions, weight.shape[0])
    table = weight[:n_positions].double()
    notes = [f"{spec.name}'s learned table: {weight.shape[0]} positions × {weight.shape[1]} numbers"]
    if spec.kind == "architecture":
        notes.append(f"{spec.name}: architecture only, random weights: the table is noise (GPT-2's trained "
                     "weights are not installable offline; minilm-l6's table is trained)")
    return PositionalData("learned", spec.name, n_positions, table, _cosine(table), notes)


def plot_positional(data: PositionalData, path: str | Path) -> Path:
    """A PNG: the table as a heat map (rope: cos of each pair's angle), the position-similarity matrix,
    and the similarity to position 0 against distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    shown = torch.cos(data.table) if data.kind == "rope" else data.table
    image = axes[0].imshow(shown.numpy(), aspect="auto", cmap="RdBu", vmin=-float(shown.abs().max()),
                           vmax=float(shown.abs().max()), interpolation="nearest")
    axes[0].set_xlabel("rotation pair i (fast → slow)" if data.kind == "rope" else "dimension")
    axes[0].set_ylabel("position")
    axes[0].set_title("cos(angle) of each pair" if data.kind == "rope" else "value added at each position")
    figure.colorbar(image, ax=axes[0], fraction=0.046)
    image = axes[1].imshow(data.similarity.numpy(), cmap="viridis", interpolation="nearest")
    axes[1].set_xlabel("position n")
    axes[1].set_ylabel("position m")
    axes[1].set_title("cosine similarity of positions m and n")
    figure.colorbar(image, ax=axes[1], fraction=0.046)
    axes[2].plot(range(data.n_positions), data.similarity[0].numpy(), marker=".")
    axes[2].set_xlabel("distance from position 0 (tokens)")
    axes[2].set_ylabel("cosine similarity")
    axes[2].set_title("how alike a position is to position 0")
    axes[2].grid(alpha=0.3)
    figure.suptitle(f"{data.kind} positions: {data.source}, {data.n_positions} positions")
    figure.tight_layout()
    return save_figure(figure, path)
