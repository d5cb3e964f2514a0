"""`TrainConfig`: every choice a training run makes, in one validated dataclass, and named presets.

    from llm_playground.training.config import train_config
    config = train_config("cpu-tiny", max_steps=500)     # a preset with some fields changed

A preset fixes the model's shape (a `TransformerConfig` preset plus overrides) and the
optimisation settings that suit it; any field can then be changed. Checkpoints store the config
as JSON (`to_dict`), so `--resume` and `llmpg sample` rebuild exactly the same model.

| preset     | model                       | tokens/step | meant for                              |
|------------|-----------------------------|-------------|----------------------------------------|
| cpu-tiny   | 4 layers × 128, context 64  | 1,024       | 2 CPU cores, 2–5 minutes (4,000 steps) |
| cpu-small  | 4 layers × 192, context 128 | 4,096       | a laptop CPU, ~half an hour            |
| gpu-small  | 6 layers × 384, context 256 | 16,384      | nanoGPT's shakespeare-char on one GPU  |
| gpu-gpt2   | GPT-2 124M, context 1024    | 491,520     | BPE tokenizers, several GPUs           |
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from llm_playground.checks import require_output_folder
from llm_playground.errors import PlaygroundError, unknown_name
from llm_playground.models.config import PRESETS as MODEL_PRESETS
from llm_playground.models.config import TransformerConfig, preset as model_preset_config

OPTIMIZERS = ("adamw", "adam", "sgd", "sgd-momentum")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
# Fields that shape the model or its data: a checkpoint can only be resumed with the same values.
SHAPE_FIELDS = ("model_preset", "n_layer", "n_head", "n_embd", "context_length", "tokenizer", "data",
                "val_fraction")


@dataclass
class TrainConfig:
    """One training run: data, tokenizer, model shape, optimisation, evaluation and output."""

    # --- data --------------------------------------------------------------------------------
    data: str | None = None
    """UTF-8 text file to train on; None means the Shakespeare corpus that installs offline."""
    tokenizer: str = "char"
    """"char" (the corpus's own alphabet), "bpe:N" (train an N-token byte-level BPE on the corpus),
    a registered name (gpt2, word, …) or the folder of a saved tokenizer."""
    val_fraction: float = 0.1
    """Share of the tokens, at the end of the corpus, held out for validation (as `llmpg ngram`)."""

    # --- model -------------------------------------------------------------------------------
    preset: str = "cpu-tiny"
    """The training preset this config started from (a label; the fields below are what count)."""
    model_preset: str = "cpu-tiny"
    """The `TransformerConfig` preset that gives the architecture (GPT-2 or Llama family)."""
    n_layer: int = 4
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads."""
    n_embd: int = 128
    """Width of the residual stream."""
    block_size: int = 64
    """Tokens per training sequence (each position predicts the next token)."""
    context_length: int | None = None
    """The model's context (position table / RoPE length); None means block_size."""
    dropout: float = 0.0
    """Dropout probability while training (0 = off)."""

    # --- optimisation ------------------------------------------------------------------------
    batch_size: int = 16
    """Sequences per micro-batch on each process."""
    grad_accum: int = 1
    """Micro-batches whose gradients add up to one optimizer step (a larger batch in less memory)."""
    max_steps: int = 2000
    """Optimizer steps to train for."""
    optimizer: str = "adamw"
    """adamw (decoupled weight decay), adam, sgd, or sgd-momentum."""
    lr: float = 2e-3
    """Peak learning rate, reached after warmup."""
    min_lr: float | None = None
    """Learning rate at the end of the cosine decay; None means lr / 10."""
    warmup_steps: int = 100
    """Steps of linear warmup from 0 to lr."""
    weight_decay: float = 0.1
    """Weight decay on matrices (not on biases, norms); decoupled for adamw."""
    beta1: float = 0.9
    """Adam's first-moment decay."""
    beta2: float = 0.99
    """Adam's second-moment decay (0.99 suits small batches; GPT-2 used 0.95)."""
    momentum: float = 0.9
    """Momentum of sgd-momentum."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0 = no clipping)."""

    # --- evaluation, checkpoints, output ------------------------------------------------------
    eval_every: int = 250
    """Evaluate train and val loss (and print a sample) every this many steps, and at the end."""
    eval_batches: int = 20
    """Batches averaged for each loss estimate (the same fixed batches every evaluation)."""
    checkpoint_every: int | None = None
    """Write a checkpoint every this many steps; None means at every evaluation."""
    early_stopping: int = 0
    """Stop when val loss has not improved for this many evaluations (0 = never)."""
    sample_tokens: int = 200
    """Tokens sampled at each evaluation (0 = no samples)."""
    out: str = "runs/train"
    """Output folder: checkpoint/, metrics.json, loss.png, the tokenized-data cache."""

    # --- execution ---------------------------------------------------------------------------
    seed: int = 1337
    """Seed for weights, batches and dropout; the same seed gives the same run."""
    precision: str = "auto"
    """fp32, bf16 (autocast; weights and optimizer stay fp32), or auto (bf16 where the hardware
    has fast bf16 matrix units: CPUs with AVX512-BF16/AMX, GPUs from Ampere on)."""
    device: str = "auto"
    """cpu, cuda, or auto (cuda when available)."""
    compile: bool = False
    """torch.compile the training forward/backward (30–70 s to start; measured by
    `llmpg bench train --compile on`: no gain on top of bf16 + math attention for the CPU presets)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise PlaygroundError naming the first field with a value that cannot train."""
        positive = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum", "max_steps",
                    "eval_every", "eval_batches")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PlaygroundError(f"{name} must be a positive integer (got {value!r})")
        for name in ("warmup_steps", "sample_tokens", "early_stopping"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise PlaygroundError(f"{name} must be an integer ≥ 0 (got {getattr(self, name)!r})")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise PlaygroundError(f"checkpoint_every must be ≥ 1 (got {self.checkpoint_every})")
        if self.model_preset not in MODEL_PRESETS:
            raise unknown_name("model preset", self.model_preset, MODEL_PRESETS)
        if self.n_embd % self.n_head:
            raise PlaygroundError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head} "
                                  "(each head gets n_embd / n_head dimensions)")
        if self.context_length is not None and self.block_size > self.context_length:
            raise PlaygroundError(f"block size {self.block_size} is larger than the model's context "
                                  f"({self.context_length} tokens); use --block-size {self.context_length} "
                                  "or less, or a model with a longer context")
        if not 0 < self.val_fraction < 1:
            raise PlaygroundError(f"val_fraction must be between 0 and 1 (got {self.val_fraction})")
        if not 0 <= self.dropout < 1:
            raise PlaygroundError(f"dropout must be in [0, 1) (got {self.dropout})")
        if not self.lr > 0 or (self.min_lr is not None and not 0 <= self.min_lr <= self.lr):
            raise PlaygroundError(f"need lr > 0 and 0 ≤ min_lr ≤ lr (got lr={self.lr}, min_lr={self.min_lr})")
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        if self.precision not in PRECISIONS:
            raise unknown_name("precision", self.precision, PRECISIONS)
        if self.device not in DEVICES:
            raise unknown_name("device", self.device, DEVICES)
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise PlaygroundError("weight_decay and grad_clip must be ≥ 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and 0 <= self.momentum < 1):
            raise PlaygroundError("beta1, beta2 and momentum must be in [0, 1)")
        require_output_folder("out", self.out)

    # --- derived -----------------------------------------------------------------------------
    @property
    def final_lr(self) -> float:
        """The learning rate at the end of the cosine decay."""
        return self.lr / 10 if self.min_lr is None else self.min_lr

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or self.eval_every

    def model_config(self, vocab_size: int) -> TransformerConfig:
        """The TransformerConfig this run trains: the model preset with our sizes and vocabulary."""
        base = model_preset_config(self.model_preset)
        changes: dict[str, Any] = dict(
            name=f"{self.preset}" if self.preset else base.name, vocab_size=vocab_size,
            block_size=self.context_length or self.block_size, n_layer=self.n_layer, n_head=self.n_head,
            n_embd=self.n_embd, dropout=self.dropout, head_dim=None, intermediate_size=None)
        if base.n_kv_head != base.n_head:  # keep the preset's grouped-query ratio if it divides
            group = base.n_head // base.n_kv_head
            changes["n_kv_head"] = self.n_head // group if self.n_head % group == 0 else self.n_head
        else:
            changes["n_kv_head"] = None
        if base.mlp == "swiglu":  # Llama's 8/3 · C hidden width, rounded up to a multiple of 32
            changes["intermediate_size"] = 32 * -(-(8 * self.n_embd // 3) // 32)
        return TransformerConfig(**{**base.to_dict(), **changes})

    def tokens_per_step(self, world_size: int = 1) -> int:
        """Tokens that one optimizer step learns from, over all processes."""
        return self.batch_size * self.block_size * self.grad_accum * world_size

    # --- serialization -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise unknown_name("TrainConfig field", key, known)
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


# Presets: model shape + optimisation settings. Every field not named keeps TrainConfig's default.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # Character-level Shakespeare on 2 CPU cores in a few minutes (nanoGPT's "baby GPT" for CPUs).
    "cpu-tiny": dict(model_preset="cpu-tiny", n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=16,
                     max_steps=4000, lr=2e-3, warmup_steps=100, eval_every=500, dropout=0.0),
    # A laptop CPU for half an hour or so.
    "cpu-small": dict(model_preset="cpu-tiny", n_layer=4, n_head=6, n_embd=192, block_size=128, batch_size=32,
                      max_steps=3000, lr=1.5e-3, warmup_steps=100, eval_every=250, dropout=0.1),
    # A Llama-family tiny model (RoPE, RMSNorm, SwiGLU, grouped-query attention) at cpu-tiny's size.
    "cpu-tiny-llama": dict(model_preset="llama-tiny", n_layer=4, n_head=4, n_embd=128, block_size=64,
                           batch_size=16, max_steps=1500, lr=2e-3, warmup_steps=50, eval_every=250),
    # nanoGPT's config/train_shakespeare_char.py: ~10.7M parameters, one GPU, a few minutes.
    "gpu-small": dict(model_preset="cpu-tiny", n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64,
                      max_steps=5000, lr=1e-3, warmup_steps=100, eval_every=250, dropout=0.2, eval_batches=50),
    # GPT-2 124M with a BPE tokenizer (e.g. --tokenizer gpt2): 491,520 tokens/step with 8 GPUs.
    "gpu-gpt2": dict(model_preset="gpt2", n_layer=12, n_head=12, n_embd=768, block_size=1024, batch_size=12,
                     grad_accum=5, max_steps=20000, lr=6e-4, warmup_steps=700, beta2=0.95, eval_every=1000,
                     tokenizer="gpt2", eval_batches=50),
}


def list_train_presets() -> list[str]:
    """Names `train_config` accepts."""
    return list(TRAIN_PRESETS)


def train_config(preset: str = "cpu-tiny", **overrides: Any) -> TrainConfig:
    """The named preset with `overrides` applied (None values are ignored: "not given")."""
    if preset not in TRAIN_PRESETS:
        raise unknown_name("training preset", preset, TRAIN_PRESETS)
    values = {**TRAIN_PRESETS[preset], "preset": preset}
    values.update({key: value for key, value in overrides.items() if value is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in values:
        if key not in known:
            raise unknown_name("TrainConfig field", key, known)
    return TrainConfig(**values)
