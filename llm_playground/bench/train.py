"""`llmpg bench train`: our training loop vs a plain nanoGPT-style loop, same sizes, one run.

The reference is written here, minimal and faithful to nanoGPT's `model.py` + `train.py` as they
run on a CPU: one fused q|k|v projection, `scaled_dot_product_attention(is_causal=True)` (nanoGPT
uses flash/SDPA when torch has it), fp32 (nanoGPT's autocast context is a nullcontext on CPU),
AdamW with weight-decay groups, fused only on CUDA (`use_fused = fused_available and
device_type == 'cuda'`), batches built with `torch.stack` of per-row slices of a numpy array,
gradient clipping at 1.0, `zero_grad(set_to_none=True)`, `loss.item()` only every log interval.

Ours is the real thing: `Transformer` + `make_optimizer` + `Batches` + `optimizer_step` inside
`training_context` (bf16 autocast + the math attention kernel where the trainer picks bf16).
Rows are timed in alternation (ours, reference, ours, …) so that a busy machine slows them
alike; each row reports its best round. The other rows separate the causes: ours in fp32, ours in
bf16 with PyTorch's default (flash) attention kernel, and with `--compile on` both loops compiled.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# --- the reference: nanoGPT's model, minimal ------------------------------------------------------
class NanoAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)   # q, k, v in one matmul
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head = n_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class NanoBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = NanoAttention(n_embd, n_head)
        self.c_fc, self.c_proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(NanoBlock(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        self.apply(lambda m: nn.init.normal_(m.weight, std=0.02) if isinstance(m, (nn.Linear, nn.Embedding)) else None)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def nanogpt_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.1) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))  # fused only on CUDA in nanoGPT


class NanoLoop:
    """nanoGPT's inner loop (train.py) on a CPU."""

    def __init__(self, data: np.ndarray, sizes: dict, batch_size: int, seed: int, compile_model: bool = False) -> None:
        torch.manual_seed(seed)
        self.data, self.block, self.batch = data, sizes["block_size"], batch_size
        self.model = NanoGPT(**sizes)
        self.optimizer = nanogpt_optimizer(self.model, lr=1e-3)
        self.forward_model = torch.compile(self.model) if compile_model else self.model  # train.py: compile = True
        self.iter = 0
        self.loss = float("nan")

    def get_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(self.data) - self.block, (self.batch,))
        x = torch.stack([torch.from_numpy(self.data[i:i + self.block].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(self.data[i + 1:i + 1 + self.block].astype(np.int64)) for i in ix])
        return x, y

    def step(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = 1e-3
        x, y = self.get_batch()
        _, loss = self.forward_model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.iter % 10 == 0:
            self.loss = loss.item()
        self.iter += 1


class OurLoop:
    """Our trainer's step: Transformer, make_optimizer, Batches, optimizer_step."""

    def __init__(self, ids: torch.Tensor, config, precision: str, compile_model: bool = False,
                 default_attention: bool = False) -> None:
        from llm_playground.models import Transformer
        from llm_playground.training.data import Batches
        from llm_playground.training.trainer import autocast, make_optimizer, training_context

        torch.manual_seed(config.seed)
        device = torch.device("cpu")
        self.config = config
        self.model = Transformer(config.model_config(int(ids.max()) + 1))
        self.optimizer = make_optimizer(self.model, config, device)
        self.batches = Batches(ids, block_size=config.block_size, batch_size=config.batch_size, seed=config.seed)
        self.forward_model = torch.compile(self.model) if compile_model else self.model
        # the trainer's context, or (to measure what the kernel choice is worth) bare autocast
        self.context = ((lambda: autocast(device, precision)) if default_attention
                        else (lambda: training_context(device, precision)))
        self.losses: list[torch.Tensor] = []

    def step(self) -> None:
        from llm_playground.training.trainer import optimizer_step

        self.losses.append(optimizer_step(self.forward_model, self.optimizer, self.batches, lr=1e-3, grad_accum=1,
                                          grad_clip=1.0, context=self.context))

    @property
    def loss(self) -> float:
        return float(self.losses[-1]) if self.losses else float("nan")


# --- the benchmark --------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    tokens_per_second: float
    """Best round: sequences × block size × steps ÷ seconds."""
    ms_per_step: float
    loss: float
    """Loss after all of this row's steps (both start near ln V; a sanity check that both learn)."""
    ratio: float = 1.0
    """tokens/s ÷ the nanoGPT-style loop's."""


@dataclass
class TrainBenchmark:
    threads: int
    preset: str
    params: int
    tokens_per_step: int
    precision: str
    default_row: str = ""
    """The row that is what `llmpg train` runs with this preset."""
    rows: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def run_benchmark(*, preset: str = "cpu-tiny", steps: int = 20, rounds: int = 3, warmup: int = 5,
                  threads: int | None = None, compile_model: bool | None = None, batch_size: int | None = None,
                  progress: bool = True) -> TrainBenchmark:
    """Time the nanoGPT-style loop and ours on the same model sizes, batch, sequence length and threads.

    `compile_model` (default: what the preset does) adds torch.compile rows for both loops (nanoGPT's
    train.py compiles by default on GPUs).
    """
    from tqdm import tqdm

    from llm_playground.checks import require_range

    require_range("steps", steps, 1, 10_000)
    require_range("rounds", rounds, 1, 100)
    require_range("warmup", warmup, 0, 10_000)
    if threads is not None:
        require_range("threads", threads, 1, 1024)
    if batch_size is not None:
        require_range("batch_size", batch_size, 1, 4096)

    from llm_playground import assets, runtime
    from llm_playground.training.config import train_config
    from llm_playground.training.tokenizing import build_tokenizer
    from llm_playground.training.trainer import resolve_precision

    threads = threads or runtime.thread_count()
    torch.set_num_threads(threads)
    config = train_config(preset, batch_size=batch_size, precision="auto")
    text = assets.corpus_text("shakespeare")[:1_000_000]
    tokenizer = build_tokenizer("char", text)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.int64)
    data = ids.numpy().astype(np.uint16)  # nanoGPT keeps its data as uint16 on disk (np.memmap)
    sizes = dict(vocab_size=tokenizer.vocab_size, block_size=config.block_size, n_layer=config.n_layer,
                 n_head=config.n_head, n_embd=config.n_embd)
    precision = resolve_precision("auto", torch.device("cpu"))
    if compile_model is None:
        compile_model = config.compile
    loops = {"nanoGPT-style loop (fp32)": NanoLoop(data, sizes, config.batch_size, config.seed),
             "ours, fp32": OurLoop(ids, config, "fp32")}
    if precision != "fp32":
        loops[f"ours, {precision}, default (flash) attention"] = OurLoop(ids, config, precision, default_attention=True)
        loops[f"ours, {precision}, math attention"] = OurLoop(ids, config, precision)
    default_row = list(loops)[-1]
    if compile_model:
        loops["nanoGPT-style loop (fp32) + torch.compile"] = NanoLoop(data, sizes, config.batch_size, config.seed,
                                                                       compile_model=True)
        loops["ours, as llmpg train + torch.compile"] = OurLoop(ids, config, precision, compile_model=True)
        if config.compile:
            default_row = list(loops)[-1]
    best = {name: math.inf for name in loops}
    bar = tqdm(total=len(loops) * (warmup + rounds * steps), unit="step", disable=not progress)
    for loop in loops.values():
        for _ in range(warmup):
            loop.step()
            bar.update(1)
    for _ in range(rounds):  # alternate, so that load from elsewhere hits every row alike
        for name, loop in loops.items():
            start = time.perf_counter()
            for _ in range(steps):
                loop.step()
            best[name] = min(best[name], (time.perf_counter() - start) / steps)
            bar.update(steps)
    bar.close()
    tokens_per_step = config.batch_size * config.block_size
    result = TrainBenchmark(threads, preset, loops["ours, fp32"].model.num_params(), tokens_per_step, precision,
                            default_row=default_row)
    reference = tokens_per_step / best["nanoGPT-style loop (fp32)"]
    for name, loop in loops.items():
        speed = tokens_per_step / best[name]
        result.rows.append(Row(name, speed, best[name] * 1000, loop.loss, speed / reference))
    return result


def format_benchmark(result: TrainBenchmark) -> str:
    lines = [f"Training step, preset {result.preset}: {result.params:,} parameters, {result.tokens_per_step:,} tokens "
             f"per step, {result.threads} thread(s), best of the alternated rounds",
             f"{'loop':<48} {'tokens/s':>10} {'ms/step':>8} {'loss':>7} {'ratio':>7}"]
    for row in result.rows:
        marker = "  ← llmpg train's default" if row.name == result.default_row else ""
        lines.append(f"{row.name:<48} {row.tokens_per_second:>10,.0f} {row.ms_per_step:>8.1f} {row.loss:>7.3f} "
                     f"{row.ratio:>6.2f}×{marker}")
    rows = {row.name: row for row in result.rows}
    compiled_reference = rows.get("nanoGPT-style loop (fp32) + torch.compile")
    if compiled_reference and result.default_row in rows:
        lines.append(f"ours (default) vs nanoGPT-style + torch.compile: "
                     f"{rows[result.default_row].tokens_per_second / compiled_reference.tokens_per_second:.2f}×")
    return "\n".join(lines)
