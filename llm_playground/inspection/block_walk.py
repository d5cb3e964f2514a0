"""Walk a prompt through the embeddings and the first transformer block, one operation at a time.

`walk_first_block(model, idx)` redoes block 0 of our `Transformer` by hand, with the block's own
modules, and records the shape (and the size) of the tensor after every step: ids → embeddings →
norm → q, k, v projections → heads → RoPE → attention weights → weighted values → merged heads →
output projection → residual add → norm → MLP → residual add. It then checks that the hand walk
gives exactly what `model.blocks[0]` gives.

`residual_norms(model, idx)` follows the residual stream through every layer: the L2 norm of
each token's vector after the embeddings, after each block, and after the final norm. In most
trained models it grows with depth (each block adds to it), and the first token often carries a
far larger norm than the others (an "attention sink").
"""
from __future__ import annotations

from pathlib import Path

from dataclasses import asdict, dataclass, field

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.models.transformer import Transformer, apply_rope, causal_mask


@dataclass
class Step:
    """The tensor after one operation of the walk."""

    name: str
    """What was computed, with the shape convention in brackets (e.g. "q = q_proj(x)")."""
    shape: list[int]
    """Its shape; B = batch, T = tokens, C = width, nh = heads, hs = head width."""
    dims: str
    """The shape's dimensions named, e.g. "(B, T, C)"."""
    rms: float
    """Root mean square of its entries: how large the numbers are."""
    note: str = ""
    """Why the step is there / what changed."""


@dataclass
class ResidualNorm:
    """The residual stream's size at one depth."""

    label: str
    """"embeddings", "block N", or "final norm"."""
    mean_norm: float
    """Mean over tokens of each token vector's L2 norm."""
    last_norm: float
    """L2 norm of the last token's vector (the one that predicts the next token)."""
    first_norm: float
    """L2 norm of the first token's vector."""


@dataclass
class BlockWalk:
    """Everything `llmpg block` shows."""

    model: str
    prompt: str
    tokens: list[str]
    ids: list[int]
    config: dict
    steps: list[Step] = field(default_factory=list)
    max_abs_diff_vs_block: float = 0.0
    """max |hand walk − model.blocks[0](x)|: 0 (or ~1e-7) proves the walk is the real computation."""
    residual: list[ResidualNorm] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _step(steps: list[Step], name: str, tensor: torch.Tensor, dims: str, note: str = "") -> torch.Tensor:
    rms = float(tensor.float().pow(2).mean().sqrt()) if tensor.is_floating_point() else 0.0
    steps.append(Step(name=name, shape=list(tensor.shape), dims=dims, rms=rms, note=note))
    return tensor


def walk_first_block(model: Transformer, idx: torch.Tensor) -> tuple[list[Step], float]:
    """The steps of embeddings + block 0 for ids (B, T), and max |walk − blocks[0](x)|."""
    from llm_playground.models.scratch_attention import attention_weights_torch

    config = model.config
    block, attn, mlp = model.blocks[0], model.blocks[0].attn, model.blocks[0].mlp
    B, T = idx.shape
    steps: list[Step] = []
    with torch.inference_mode():
        _step(steps, "token ids", idx, "(B, T)", f"{T} tokens")
        x = _step(steps, "token embedding wte[ids]", model.wte(idx), "(B, T, C)",
                  f"one row of the {config.vocab_size} × {config.n_embd} table per token")
        if config.embedding_scale:
            x = _step(steps, "× sqrt(C)", x * torch.tensor(config.n_embd ** 0.5, dtype=x.dtype), "(B, T, C)",
                      f"Gemma scales embeddings by √{config.n_embd} = {config.n_embd ** 0.5:.1f}")
        if model.wpe is not None:
            x = _step(steps, "+ position embedding wpe[0..T-1]", x + model.wpe(torch.arange(T)), "(B, T, C)",
                      "learned positions are added to the tokens")
        x_in = x  # the residual stream entering block 0
        h = _step(steps, f"attn_norm ({config.norm})", block.attn_norm(x), "(B, T, C)",
                  "each token vector normalised to a common scale")
        q = _step(steps, "q = q_proj(h)", attn.q_proj(h), "(B, T, nh·hs)", f"{config.n_head} query heads")
        k = _step(steps, "k = k_proj(h)", attn.k_proj(h), "(B, T, nkv·hs)",
                  f"{config.n_kv_head} key heads" + (" (grouped-query: fewer than queries)"
                                                     if config.n_kv_head < config.n_head else ""))
        v = _step(steps, "v = v_proj(h)", attn.v_proj(h), "(B, T, nkv·hs)", f"{config.n_kv_head} value heads")
        q = _step(steps, "q split into heads", q.view(B, T, config.n_head, config.head_dim).transpose(1, 2),
                  "(B, nh, T, hs)", "each head attends on its own")
        k = _step(steps, "k split into heads", k.view(B, T, config.n_kv_head, config.head_dim).transpose(1, 2),
                  "(B, nkv, T, hs)")
        v = _step(steps, "v split into heads", v.view(B, T, config.n_kv_head, config.head_dim).transpose(1, 2),
                  "(B, nkv, T, hs)")
        if attn.q_norm is not None:
            q = _step(steps, "q_norm(q) per head", attn.q_norm(q), "(B, nh, T, hs)", "queries normalised (QK-norm)")
            k = _step(steps, "k_norm(k) per head", attn.k_norm(k), "(B, nkv, T, hs)", "keys normalised (QK-norm)")
        rope = model.rope(0, T, layer=0)
        if rope is not None:
            cos, sin = rope
            q = _step(steps, "q rotated (RoPE)", apply_rope(q, cos, sin), "(B, nh, T, hs)",
                      "each pair of dimensions turned by an angle proportional to the position")
            k = _step(steps, "k rotated (RoPE)", apply_rope(k, cos, sin), "(B, nkv, T, hs)")
        group = config.n_head // config.n_kv_head
        if group > 1:
            k = _step(steps, "k repeated per query group", k.repeat_interleave(group, dim=1), "(B, nh, T, hs)",
                      f"each key/value head serves {group} query heads")
            v = _step(steps, "v repeated per query group", v.repeat_interleave(group, dim=1), "(B, nh, T, hs)")
        if attn.scale is not None:  # attention_weights_torch divides by √hs; fold in the model's own scale
            q = q * (attn.scale * config.head_dim ** 0.5)
        if attn.sliding_window is not None and attn.sliding_window < T:  # Gemma-3 local layer, long prompt
            scores = q @ k.transpose(-2, -1) / config.head_dim ** 0.5  # (B, nh, T, T)
            allowed = causal_mask(T, T, attn.sliding_window)
            weights = _step(steps, f"weights = softmax(q kᵀ / √hs, causal, window {attn.sliding_window})",
                            torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1), "(B, nh, T, T)",
                            f"row i: how much token i looks at the last {attn.sliding_window} tokens up to i")
        else:
            weights = _step(steps, "weights = softmax(q kᵀ / √hs, causal)", attention_weights_torch(q, k, causal=True),
                            "(B, nh, T, T)", "row i: how much token i looks at tokens 0..i (rows sum to 1)")
        y = _step(steps, "weights @ v", weights @ v, "(B, nh, T, hs)", "a weighted average of values per head")
        y = _step(steps, "heads merged", y.transpose(1, 2).reshape(B, T, config.n_head * config.head_dim),
                  "(B, T, nh·hs)", "heads side by side again")
        y = _step(steps, "o_proj(heads)", attn.o_proj(y), "(B, T, C)", "mixes the heads back into the stream")
        if block.post_attn_norm is not None:
            y = _step(steps, "post_attn_norm", block.post_attn_norm(y), "(B, T, C)", "sandwich norm on the branch")
        x = _step(steps, "x + attention", x + y, "(B, T, C)", "residual add: attention only adds to the stream")
        h = _step(steps, f"mlp_norm ({config.norm})", block.mlp_norm(x), "(B, T, C)")
        if mlp.kind == "swiglu":
            gate = _step(steps, "gate_proj(h)", mlp.gate_proj(h), "(B, T, I)")
            up = _step(steps, "up_proj(h)", mlp.up_proj(h), "(B, T, I)")
            hidden = _step(steps, "silu(gate) * up (SwiGLU)", torch.nn.functional.silu(gate) * up, "(B, T, I)",
                           "the gate decides how much of each up-projected feature passes")
        elif mlp.kind == "geglu":
            gate = _step(steps, "gate_proj(h)", mlp.gate_proj(h), "(B, T, I)")
            up = _step(steps, "up_proj(h)", mlp.up_proj(h), "(B, T, I)")
            hidden = _step(steps, "gelu(gate) * up (GeGLU)",
                           torch.nn.functional.gelu(gate, approximate=config.gelu_approximate) * up, "(B, T, I)",
                           "the gate decides how much of each up-projected feature passes")
        else:
            up = _step(steps, "up_proj(h)", mlp.up_proj(h), "(B, T, I)", f"{config.intermediate_size // config.n_embd}× wider")
            hidden = _step(steps, "gelu(up)", torch.nn.functional.gelu(up, approximate=config.gelu_approximate),
                           "(B, T, I)")
        down = _step(steps, "down_proj(hidden)", mlp.down_proj(hidden), "(B, T, C)", "back to the stream's width")
        if block.post_mlp_norm is not None:
            down = _step(steps, "post_mlp_norm", block.post_mlp_norm(down), "(B, T, C)", "sandwich norm on the branch")
        x = _step(steps, "x + MLP = output of block 0", x + down, "(B, T, C)", "residual add")
        reference = block(x_in, rope=rope)
        difference = float((x - reference).abs().max())
    return steps, difference


def residual_norms(model: Transformer, idx: torch.Tensor) -> list[ResidualNorm]:
    """The residual stream's per-token L2 norm after the embeddings, after every block, after the final norm."""
    def row(label: str, x: torch.Tensor) -> ResidualNorm:
        norms = x[0].float().norm(dim=-1)  # (T,) one norm per token of the first sequence
        return ResidualNorm(label=label, mean_norm=float(norms.mean()), last_norm=float(norms[-1]),
                            first_norm=float(norms[0]))

    with torch.inference_mode():
        x = model.embed(idx)
        rows = [row("embeddings", x)]
        for i, block in enumerate(model.blocks):
            x = block(x, rope=model.rope(0, idx.shape[1], layer=i))
            rows.append(row(f"block {i}", x))
        rows.append(row("final norm", model.norm_f(x)))
    return rows


def block_walk(model_name: str, prompt: str) -> BlockWalk:
    """The block walk and residual norms of a zoo model (or folder) on a raw prompt, with our engine."""
    from llm_playground import zoo
    from llm_playground.generation.backends import native_model
    from llm_playground.inspection.next_token import prompt_ids

    spec = zoo.resolve(model_name)
    if not spec.generates:
        raise PlaygroundError(f"{spec.name} is an encoder; `block` walks decoder models (our engine builds "
                              "GPT-2 and Llama families)")
    ids = prompt_ids(model_name, prompt)
    model = native_model(model_name)
    tokenizer = zoo.load_tokenizer(model_name)
    idx = torch.tensor([ids])  # (1, T)
    steps, difference = walk_first_block(model, idx)
    return BlockWalk(model=spec.name, prompt=prompt, tokens=[tokenizer.decode([i]) for i in ids], ids=ids,
                     config=model.config.to_dict(), steps=steps, max_abs_diff_vs_block=difference,
                     residual=residual_norms(model, idx))


def plot_residual_norms(walk: BlockWalk, path: str) -> Path:
    """Save a PNG of the residual stream's norm through the layers (mean, first and last token);
    `path` may be a folder. Returns the file written."""
    from llm_playground.checks import png_path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [row.label for row in walk.residual]
    figure, axis = plt.subplots(figsize=(max(6.0, 0.3 * len(labels)), 4))
    for attribute, label in (("mean_norm", "mean over tokens"), ("first_norm", "first token"),
                             ("last_norm", "last token")):
        axis.plot(range(len(labels)), [getattr(row, attribute) for row in walk.residual], marker="o", label=label)
    axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    axis.set_yscale("log")
    axis.set_ylabel("L2 norm of the residual stream")
    axis.set_title(f"{walk.model}: residual stream through the layers")
    axis.legend()
    figure.tight_layout()
    path = png_path(path, f"residual-{Path(walk.model).name}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
