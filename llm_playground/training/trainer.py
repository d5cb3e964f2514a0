"""The training loop for our own transformer (nanoGPT's `train.py`, as a library).

    from llm_playground.training import train, train_config
    result = train(train_config("cpu-tiny", max_steps=500, out="runs/tiny"))
    print(result.report())

One optimizer step (`optimizer_step`):
    lr ← warmup then cosine decay (`lr_at`)
    for each of grad_accum micro-batches: loss = model(x, y) / grad_accum; loss.backward()
    clip the global gradient norm; optimizer.step(); zero the gradients (set to None)

Around it: a fixed set of evaluation batches (the same every time, so curves are smooth) for
train and val loss; a sample through the generation engine at every evaluation; metrics.json and
loss.png after every evaluation; a checkpoint every `checkpoint_every` steps (atomic; `--resume`
continues bit for bit); a tqdm bar with tokens/s and the ETA.

Several processes (`torchrun --nproc_per_node=N`): when `WORLD_SIZE` is set the model is wrapped
in DistributedDataParallel (gloo on CPU, nccl on GPU). Each process computes its slice of the
global batch and the gradients are averaged, so N processes with batch B give the same curve as
one process with batch N·B. Only rank 0 writes files or prints.

What makes it fast on a CPU (measured by `llmpg bench train` against a nanoGPT-style loop): bf16
autocast where the CPU has bf16 matrix units, *with* attention computed by PyTorch's plain "math"
kernel instead of its CPU flash-attention kernel, whose bf16 backward pass is slow (measured for
cpu-tiny: ~4.5 ms per layer backward against ~0.7 ms forward, 40 % of the whole step). Either
change alone gains little; together ≈1.6× the nanoGPT-style loop's tokens/s for cpu-tiny.
Smaller helps: a fused AdamW (one kernel for all parameters), batches gathered with one indexing
op from a pre-tokenized int64 tensor, no `.item()` per step (losses are collected as tensors and
read once per evaluation), `zero_grad(set_to_none=True)`. torch.compile (`--compile on`) adds
nothing measurable on top for these sizes and costs 30–70 s at start.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from llm_playground import runtime
from llm_playground.assets import atomic_write_text
from llm_playground.errors import PlaygroundError
from llm_playground.models import Transformer
from llm_playground.training.checkpoint import (Checkpoint, check_model_config, load_checkpoint,
                                                restore_rng_states, save_checkpoint)
from llm_playground.training.config import SHAPE_FIELDS, TrainConfig
from llm_playground.training.data import Batches, PreparedData, prepare_data
from llm_playground.training.sample import sample_text


# --- processes and devices ------------------------------------------------------------------------
@dataclass
class Distributed:
    """This process's place among `torchrun`'s processes (world_size 1 without torchrun)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Distributed":
        """Read torchrun's RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world,
                   int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean of `tensor` over all processes (itself with one process)."""
        if self.enabled:
            tensor = tensor.clone()
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
            tensor /= self.world_size
        return tensor


def pick_device(name: str, dist: Distributed) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise PlaygroundError("--device cuda asked for, but this torch has no CUDA GPU; use --device cpu")
        return torch.device("cuda", dist.local_rank)
    return torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """AVX512-BF16 or AMX: the CPU multiplies bf16 matrices in hardware."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """"bf16" or "fp32" for `precision` ("auto" asks the hardware)."""
    if precision != "auto":
        if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise PlaygroundError("this GPU has no bf16; use --precision fp32")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    """bf16 autocast (matmuls in bf16, reductions and the loss in fp32), or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def training_context(device: torch.device, precision: str) -> contextlib.ExitStack:
    """The context every training and evaluation forward pass runs in.

    bf16 on a CPU also selects the "math" attention kernel (softmax(q kᵀ) v as batched matmuls):
    PyTorch's CPU flash-attention kernel is fast forward but its bf16 backward is several times
    slower than the math kernel's (see the module docstring; `llmpg bench train` shows both).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    stack = contextlib.ExitStack()
    stack.enter_context(autocast(device, precision))
    if precision == "bf16" and device.type == "cpu":
        stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
    return stack


# --- optimisation ---------------------------------------------------------------------------------
def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then cosine decay to final_lr."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_steps = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / decay_steps)
    return config.final_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (config.lr - config.final_lr)


def fused_supported(device: torch.device) -> bool:
    """torch ≥ 2.4 has fused Adam/AdamW kernels for CPU and CUDA."""
    return device.type in ("cpu", "cuda")


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer `config.optimizer` names. Weight decay applies to matrices only (nanoGPT):
    decaying biases and norm gains pulls them toward 0, which only hurts."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2),
                                 fused=fused_supported(device))
    if config.optimizer == "adam":  # plain Adam: no decoupled decay (its weight_decay would be L2 in the gradient)
        for group in groups:
            group["weight_decay"] = 0.0
        return torch.optim.Adam(groups, lr=config.lr, betas=(config.beta1, config.beta2),
                                fused=fused_supported(device))
    momentum = config.momentum if config.optimizer == "sgd-momentum" else 0.0
    for group in groups:
        group["weight_decay"] = 0.0
    return torch.optim.SGD(groups, lr=config.lr, momentum=momentum)


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's "can't allocate memory"."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def out_of_memory_error(config: TrainConfig, device: torch.device) -> PlaygroundError:
    smaller = max(1, config.batch_size // 2)
    return PlaygroundError(
        f"a batch of {config.batch_size} sequences × {config.block_size} tokens does not fit in "
        f"{'GPU' if device.type == 'cuda' else 'memory'}; try --batch-size {smaller} --grad-accum "
        f"{config.grad_accum * config.batch_size // smaller} (the same tokens per step in smaller pieces), "
        "or a smaller model / --block-size")


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: Batches, *, lr: float,
                   grad_accum: int, grad_clip: float, context: Callable[[], Any],
                   no_sync: Callable[[], Any] | None = None) -> torch.Tensor:
    """One optimizer step over `grad_accum` micro-batches; returns the mean loss as a 0-d tensor
    (not a Python float: reading it would wait for the device on a GPU)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    total = torch.zeros(())
    for micro in range(grad_accum):
        x, y = batches.next()
        x, y = x.to(next(model.parameters()).device, non_blocking=True), y.to(next(model.parameters()).device,
                                                                               non_blocking=True)
        last = micro == grad_accum - 1
        sync = contextlib.nullcontext() if last or no_sync is None else no_sync()
        with sync:  # DDP: average gradients across processes only after the last micro-batch
            with context():
                _, loss = model(x, y)
            (loss / grad_accum).backward()
        total = total + loss.detach().float().cpu() / grad_accum
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total


# --- evaluation and samples -----------------------------------------------------------------------
@torch.no_grad()
def estimate_loss(model: Transformer, batches: list[tuple[torch.Tensor, torch.Tensor]], *, device: torch.device,
                  context: Callable[[], Any], dist: Distributed) -> float:
    """Mean loss over fixed batches (this process's slices; averaged over processes)."""
    was_training = model.training
    model.eval()
    losses = torch.zeros(len(batches))
    for i, (x, y) in enumerate(batches):
        with context():
            _, loss = model(x.to(device), y.to(device))
        losses[i] = loss.float().cpu()
    model.train(was_training)
    return float(dist.mean(losses.mean()))


# --- results --------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """One evaluation during training."""

    step: int
    train_loss: float
    """Mean loss on the fixed training evaluation batches (nats/token)."""
    val_loss: float
    """Mean loss on the fixed validation batches (nats/token)."""
    lr: float
    tokens_per_second: float
    """Training throughput since the previous evaluation (all processes together)."""
    elapsed: float
    """Seconds of training so far (evaluations excluded)."""
    sample: str = ""

    @property
    def train_perplexity(self) -> float:
        return math.exp(self.train_loss)

    @property
    def val_perplexity(self) -> float:
        return math.exp(self.val_loss)


@dataclass
class TrainResult:
    """What a run produced; `report()` words it."""

    config: TrainConfig
    model_config: dict
    params: int
    world_size: int
    precision: str
    device: str
    start_step: int
    step: int
    evaluations: list[Evaluation]
    step_losses: list[list[float]]
    """[step, loss] for every optimizer step (the loss of that step's batch)."""
    baselines: dict[str, float] = field(default_factory=dict)
    """n-gram val losses on the same split, by name."""
    seconds: float = 0.0
    stopped_early: bool = False
    out: str = ""
    source: str = ""
    vocab_size: int = 0
    val_tokens: int = 0
    """Tokens each val-loss estimate averages over (eval_batches × batch × block × processes)."""
    ms_per_step: float | None = None

    @property
    def best(self) -> Evaluation | None:
        return min(self.evaluations, key=lambda e: e.val_loss) if self.evaluations else None

    @property
    def final(self) -> Evaluation | None:
        return self.evaluations[-1] if self.evaluations else None

    def to_dict(self) -> dict:
        evaluations = [{**asdict(e), "train_perplexity": e.train_perplexity, "val_perplexity": e.val_perplexity}
                       for e in self.evaluations]
        return {**{k: v for k, v in asdict(self).items() if k not in ("config", "evaluations")},
                "config": self.config.to_dict(), "evaluations": evaluations}

    def report(self) -> str:
        """Final losses next to the n-gram baselines, the loss explained, and the last sample."""
        from llm_playground.training.metrics import explain_loss

        final = self.final
        if final is None:
            return "no evaluation ran"
        lines = [f"trained {self.step - self.start_step} steps (to step {self.step}) in {self.seconds:.0f} s"
                 + (" — stopped early: val loss stopped improving" if self.stopped_early else ""),
                 f"{'model':<26} {'val loss':>9} {'val ppl':>8}",
                 f"{'ours (final)':<26} {final.val_loss:>9.4f} {final.val_perplexity:>8.2f}"]
        best = self.best
        if best is not final:
            lines.append(f"{'ours (best, step %d)' % best.step:<26} {best.val_loss:>9.4f} {best.val_perplexity:>8.2f}")
        for name, loss in self.baselines.items():
            lines.append(f"{name:<26} {loss:>9.4f} {math.exp(loss):>8.2f}")
        lines.append("")
        lines.append(explain_loss(final.val_loss, vocab_size=self.vocab_size, tokens=self.val_tokens or None,
                                  baselines=self.baselines).text())
        if final.sample:
            lines += ["", f"sample at step {final.step}:", final.sample]
        return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------------
def resume_config(checkpoint: Checkpoint, overrides: dict[str, Any]) -> TrainConfig:
    """The checkpoint's config with `overrides` (e.g. a larger max_steps); model and data fields must match."""
    saved = checkpoint.train_config
    overrides = {k: v for k, v in overrides.items() if v is not None}
    clashes = [f"--{name.replace('_', '-')} {overrides[name]!r} (checkpoint: {getattr(saved, name)!r})"
               for name in (*SHAPE_FIELDS, "block_size") if name in overrides and overrides[name] != getattr(saved, name)]
    if clashes:
        raise PlaygroundError(f"the checkpoint in {checkpoint.folder} was trained with another configuration: "
                              + ", ".join(clashes) + "; resume without these flags, or train a new model "
                              "with a different --out")
    overrides.setdefault("out", str(checkpoint.folder.parent))
    return saved.replace(**overrides)


def ngram_baselines(data: PreparedData, orders=(1, 2, 3)) -> dict[str, float]:
    """Val losses of Kneser-Ney n-gram models fitted on the same training split."""
    from llm_playground.training.ngram import evaluate_orders

    names = {1: "unigram", 2: "bigram", 3: "trigram"}
    evaluations, _ = evaluate_orders(data.train.numpy(), data.val.numpy(), data.vocab_size, orders=orders)
    return {f"{names.get(e.order, f'{e.order}-gram')} (Kneser-Ney)": e.val_loss for e in evaluations}


def _write_metrics(out: Path, result: TrainResult) -> None:
    from llm_playground.training.plots import plot_training_curves

    atomic_write_text(out / "metrics.json", json.dumps(result.to_dict(), indent=1, ensure_ascii=False))
    plot_training_curves(result, out / "loss.png")


class Trainer:
    """Runs one training run (see the module docstring). `log` receives the lines to print."""

    def __init__(self, config: TrainConfig, *, checkpoint: Checkpoint | None = None, progress: bool = True,
                 log: Callable[[str], None] = print, baselines: bool = True, write_files: bool = True,
                 data: PreparedData | None = None) -> None:
        """`data`: already prepared data (experiments reuse one for several runs); `write_files`:
        False keeps checkpoints, metrics and plots off the disk."""
        self.config = config
        self.data = data
        self.checkpoint = checkpoint
        self.progress = progress
        self.log = log
        self.want_baselines = baselines
        self.write_files = write_files

    def run(self) -> TrainResult:
        dist = Distributed.from_env()
        if dist.enabled and not torch.distributed.is_initialized():
            backend = "nccl" if pick_device(self.config.device, dist).type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend=backend)
        try:
            return self._run(dist)
        finally:
            if dist.enabled and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()

    def _say(self, text: str, dist: Distributed) -> None:
        if not dist.is_main:
            return
        from tqdm import tqdm

        tqdm.write(text) if self.progress else self.log(text)

    def _run(self, dist: Distributed) -> TrainResult:
        config, checkpoint = self.config, self.checkpoint
        device = pick_device(config.device, dist)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        elif dist.enabled:  # N processes share the cores: one thread each per share, not N × all cores
            torch.set_num_threads(max(1, runtime.usable_cores() // dist.local_world_size))
        precision = resolve_precision(config.precision, device)
        out = Path(config.out)
        writes = self.write_files and dist.is_main
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        random.seed(config.seed)

        # Data: rank 0 tokenizes and caches; the others read the cache after it is written.
        tokenizer = checkpoint.tokenizer if checkpoint else None
        cache = out / "data" if self.write_files else None
        if self.data is not None:
            data = self.data
        elif dist.is_main:
            data = prepare_data(config, cache, tokenizer=tokenizer, progress=self.progress)
        dist.barrier()
        if self.data is None and not dist.is_main:
            data = prepare_data(config, cache, tokenizer=tokenizer, write_cache=False)

        model_config = config.model_config(data.vocab_size)
        if checkpoint:
            check_model_config(checkpoint.model_config, model_config, checkpoint.folder)
        model = Transformer(model_config)
        if checkpoint:
            checkpoint.load_model(model)
        model.to(device).train()
        optimizer = make_optimizer(model, config, device)
        if checkpoint:
            checkpoint.load_optimizer(optimizer)

        batches = Batches(data.train, block_size=config.block_size, batch_size=config.batch_size,
                          seed=config.seed, rank=dist.rank, world_size=dist.world_size)
        eval_sets = {name: Batches(ids, block_size=config.block_size, batch_size=config.batch_size,
                                   seed=config.seed + offset, rank=dist.rank,
                                   world_size=dist.world_size).fixed(config.eval_batches)
                     for offset, (name, ids) in enumerate((("train", data.train), ("val", data.val)), start=1)}
        history = checkpoint.history if checkpoint else {}
        start_step = checkpoint.step if checkpoint else 0
        if checkpoint:
            restore_rng_states(checkpoint.rng, batches.generator)

        training_model: torch.nn.Module = model
        no_sync = None
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            training_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
            no_sync = training_model.no_sync
        if config.compile:
            training_model = torch.compile(training_model)

        params = model.num_params()
        result = TrainResult(config=config, model_config=model_config.to_dict(), params=params,
                             world_size=dist.world_size, precision=precision, device=str(device),
                             start_step=start_step, step=start_step,
                             evaluations=[Evaluation(**e) for e in history.get("evaluations", [])],
                             step_losses=[list(s) for s in history.get("step_losses", [])],
                             out=str(out), source=data.source, vocab_size=data.vocab_size,
                             val_tokens=config.eval_batches * config.batch_size * config.block_size * dist.world_size)
        if dist.is_main and self.want_baselines:
            result.baselines = history.get("baselines") or ngram_baselines(data)
        self._preflight(result, data, dist)

        context = lambda: training_context(device, precision)  # noqa: E731
        tokens_per_step = config.tokens_per_step(dist.world_size)
        prompt_ids = data.val[:16].tolist()
        pending: list[torch.Tensor] = []      # per-step losses not yet read back
        pending_steps: list[int] = []
        best_val = min((e.val_loss for e in result.evaluations), default=float("inf"))
        since_best = 0
        train_seconds = result.evaluations[-1].elapsed if result.evaluations else 0.0
        window_start, window_steps = time.perf_counter(), 0

        from tqdm import tqdm

        bar = tqdm(total=config.max_steps, initial=start_step, unit="step", dynamic_ncols=True,
                   disable=not (self.progress and dist.is_main))
        step = start_step
        first_step_done = window_start
        try:
            while step < config.max_steps:
                lr = lr_at(step, config)
                try:
                    loss = optimizer_step(training_model, optimizer, batches, lr=lr, grad_accum=config.grad_accum,
                                          grad_clip=config.grad_clip, context=context, no_sync=no_sync)
                except (torch.OutOfMemoryError, RuntimeError) as error:
                    if is_out_of_memory(error):
                        raise out_of_memory_error(config, device) from None
                    raise
                step += 1
                window_steps += 1
                pending.append(loss)
                pending_steps.append(step)
                bar.update(1)
                now = time.perf_counter()
                if step - start_step == 1:
                    # The first step pays for allocations, warm-up and compilation: it counts in the
                    # elapsed time but not in tokens/s, and the estimate times the 5 steps after it.
                    train_seconds += now - window_start
                    first_step_done = window_start = now
                    window_steps = 0
                elif step - start_step == 6 and result.ms_per_step is None:
                    result.ms_per_step = self._estimate(now, first_step_done, 5, step, config, dist)
                if step % 10 == 0:
                    speed = window_steps * tokens_per_step / max(now - window_start, 1e-9)
                    bar.set_postfix(loss=f"{float(loss):.3f}", tok_s=f"{speed:,.0f}", refresh=False)
                evaluate = step % config.eval_every == 0 or step == config.max_steps
                save = step % config.checkpoint_interval == 0 or step == config.max_steps
                if not (evaluate or save):
                    continue
                # Read back the pending losses (one sync), averaged over processes.
                losses = dist.mean(torch.stack(pending)).tolist()
                result.step_losses += [[s, l] for s, l in zip(pending_steps, losses)]
                pending, pending_steps = [], []
                seconds = time.perf_counter() - window_start
                train_seconds += seconds
                if evaluate:
                    record = Evaluation(
                        step=step,
                        train_loss=estimate_loss(model, eval_sets["train"], device=device, context=context, dist=dist),
                        val_loss=estimate_loss(model, eval_sets["val"], device=device, context=context, dist=dist),
                        lr=lr, tokens_per_second=window_steps * tokens_per_step / max(seconds, 1e-9),
                        elapsed=train_seconds)
                    if dist.is_main and config.sample_tokens:
                        record.sample = sample_text(model, data.tokenizer, prompt_ids, config.sample_tokens,
                                                    seed=config.seed)
                    result.evaluations.append(record)
                    self._say(f"step {step:>6}: train loss {record.train_loss:.4f}, val loss {record.val_loss:.4f} "
                              f"(ppl {record.val_perplexity:.2f}), lr {lr:.2e}, {record.tokens_per_second:,.0f} tok/s"
                              + (f"\n{_indent(record.sample)}" if record.sample else ""), dist)
                    if record.val_loss < best_val - 1e-4:
                        best_val, since_best = record.val_loss, 0
                    else:
                        since_best += 1
                result.step = step
                result.seconds = train_seconds
                if writes:
                    history = {"evaluations": [asdict(e) for e in result.evaluations],
                               "step_losses": result.step_losses, "baselines": result.baselines}
                    if save:
                        save_checkpoint(out / "checkpoint", model=model, optimizer=optimizer, step=step,
                                        train_config=config, tokenizer=data.tokenizer,
                                        batch_generator=batches.generator, history=history)
                    _write_metrics(out, result)
                dist.barrier()
                if evaluate and config.early_stopping and since_best >= config.early_stopping:
                    result.stopped_early = True
                    self._say(f"early stopping at step {step}: val loss has not improved for "
                              f"{since_best} evaluations (best {best_val:.4f})", dist)
                    break
                window_start, window_steps = time.perf_counter(), 0
        finally:
            bar.close()
        result.step = step
        self.model = model
        self.tokenizer = data.tokenizer
        return result

    def _preflight(self, result: TrainResult, data: PreparedData, dist: Distributed) -> None:
        from llm_playground.scaling import format_count, optimal_allocation

        config = self.config
        tokens_per_step = config.tokens_per_step(dist.world_size)
        planned = tokens_per_step * config.max_steps
        chinchilla = optimal_allocation(params=result.params).tokens
        lines = [
            f"data: {data.source}, {data.text_chars:,} characters → {data.train.numel():,} train / "
            f"{data.val.numel():,} val tokens (tokenizer {config.tokenizer}, V = {data.vocab_size:,})",
            f"model: {result.params:,} parameters ({config.n_layer} layers × {config.n_embd}, {config.n_head} heads, "
            f"context {result.model_config['block_size']}), {result.precision} on {result.device}"
            + (f", {dist.world_size} processes (DDP)" if dist.enabled else f", {torch.get_num_threads()} threads"),
            f"tokens per step: {tokens_per_step:,} ({config.batch_size} × {config.block_size}"
            + (f" × {config.grad_accum} accumulated" if config.grad_accum > 1 else "")
            + (f" × {dist.world_size} processes" if dist.enabled else "") + ")",
            f"plan: {config.max_steps:,} steps = {format_count(planned)} tokens; Chinchilla-optimal for "
            f"{format_count(result.params)} parameters is {format_count(chinchilla)} tokens "
            f"(≈20 per parameter): this run is {planned / chinchilla:.2g}× that",
        ]
        if config.compile:
            lines.append("torch.compile is on: the first step compiles the model (about 30–70 s on a laptop CPU)")
        if result.precision == "bf16" and result.device == "cpu":
            lines.append("bf16 autocast with the math attention kernel (the fastest combination on this CPU)")
        if result.baselines:
            lines.append("baselines on the same validation split: " + ", ".join(
                f"{name} {loss:.4f}" for name, loss in result.baselines.items()))
        if result.start_step:
            lines.append(f"resuming from step {result.start_step} ({self.checkpoint.folder})")
        self._say("\n".join(lines), dist)

    def _estimate(self, now: float, start: float, steps: int, step: int, config: TrainConfig,
                  dist: Distributed) -> float:
        ms = (now - start) / steps * 1000
        remaining = (config.max_steps - step) * ms / 1000
        self._say(f"measured on the first steps: {ms:.0f} ms/step → about {_duration(remaining)} more "
                  "(evaluations and samples not included)", dist)
        return ms


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def train(config: TrainConfig | None, *, resume: str | Path | None = None, overrides: dict[str, Any] | None = None,
          progress: bool = True, log: Callable[[str], None] = print, baselines: bool = True) -> TrainResult:
    """Train (or, with `resume`, continue) a model; returns the result (see `TrainResult.report`).

    With `resume`, the checkpoint's config is used, with `overrides` applied (model-shaping fields
    must not change); `config` is then ignored.
    """
    checkpoint = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        config = resume_config(checkpoint, overrides or {})
    return Trainer(config, checkpoint=checkpoint, progress=progress, log=log, baselines=baselines).run()
