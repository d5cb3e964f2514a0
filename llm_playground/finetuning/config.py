"""`FinetuneConfig`: one dataclass for an SFT or DPO run (stored as JSON next to its checkpoints)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from llm_playground.errors import PlaygroundError

Method = Literal["lora", "qlora"]
Precision = Literal["fp32", "bf16"]


@dataclass
class FinetuneConfig:
    """What to fine-tune, on what, and how (LoRA over PEFT, training loop of TRL)."""

    model: str = "smollm2-135m-instruct"
    """The base model: a zoo model, a local model or a model folder (Llama family or Gemma 3)."""
    task: str | None = "extract"
    """A built-in task (extract) used when no data file is given."""
    data: str | None = None
    """A JSONL file: chat messages or prompt/completion records (SFT), prompt/chosen/rejected (DPO)."""
    eval_data: str | None = None
    """Held-out JSONL of the same shape (default: the task's held-out set, or none)."""
    out: str = "runs/finetune"
    """The run folder: checkpoints/, adapter/, metrics.json, loss.png."""
    method: Method = "lora"
    """lora (base weights in fp32) or qlora (base weights in 4-bit NF4 via bitsandbytes)."""
    r: int = 8
    """LoRA rank: each adapted d_in → d_out layer gains r·(d_in + d_out) parameters."""
    alpha: float = 16.0
    """LoRA scale numerator: the update is (alpha / r) · B A."""
    dropout: float = 0.0
    """Dropout on the adapter's input."""
    targets: str = "q,k,v,o"
    """Linear layers to adapt: q,k,v,o,gate,up,down (or the full names, q_proj …)."""
    layers: str | None = "last:10"
    """Blocks that get adapters: all, last:N, or indices/ranges (20-29). Backward stops at the lowest one."""
    steps: int = 30
    """Optimizer steps (with resume: train on to this step)."""
    batch_size: int = 8
    """Sequences per micro-batch (per process)."""
    grad_accum: int = 1
    """Micro-batches per optimizer step."""
    lr: float = 2e-3
    """Peak learning rate (constant after warmup)."""
    warmup_steps: int = 0
    """Linear warmup steps."""
    max_length: int = 256
    """Longest tokenized example; longer ones are cut."""
    train_examples: int = 400
    """Built-in task: how many training examples to draw."""
    eval_examples: int = 50
    """Built-in task: how many held-out examples (people never seen in training)."""
    save_every: int = 10
    """Write a checkpoint every N steps (and at the end); a killed run resumes from the last one."""
    seed: int = 0
    """Seed for the adapter's initialisation, the data order and dropout."""
    precision: Precision = "fp32"
    """fp32, or bf16 autocast (this CPU has AVX512-BF16; measure before choosing it)."""
    beta: float = 0.1
    """DPO only: strength of the pull towards the reference model."""

    def __post_init__(self) -> None:
        if not isinstance(self.r, int) or self.r <= 0:
            raise PlaygroundError(f"r (the LoRA rank) must be a positive integer (got {self.r}); typical: 8 to 64")
        for name in ("steps", "batch_size", "grad_accum", "max_length", "save_every", "train_examples",
                     "eval_examples"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise PlaygroundError(f"{name} must be a positive integer (got {value!r})")
        if self.warmup_steps < 0:
            raise PlaygroundError(f"warmup_steps must be ≥ 0 (got {self.warmup_steps})")
        if not self.lr > 0:
            raise PlaygroundError(f"lr must be positive (got {self.lr})")
        if self.alpha <= 0:
            raise PlaygroundError(f"alpha must be positive (got {self.alpha})")
        if not 0 <= self.dropout < 1:
            raise PlaygroundError(f"dropout must be in [0, 1) (got {self.dropout})")
        if self.beta <= 0:
            raise PlaygroundError(f"beta must be positive (got {self.beta})")
        if self.method not in ("lora", "qlora"):
            raise PlaygroundError(f"method must be lora or qlora (got {self.method!r})")
        if self.precision not in ("fp32", "bf16"):
            raise PlaygroundError(f"precision must be fp32 or bf16 (got {self.precision!r})")
        if not self.data and not self.task:
            raise PlaygroundError("give data (a JSONL file) or a built-in task (extract)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "FinetuneConfig":
        return dataclasses.replace(self, **changes)

    # Fields that may change when a run resumes (everything else must match the checkpoint's run).
    RESUMABLE_CHANGES = ("steps", "out", "save_every")
