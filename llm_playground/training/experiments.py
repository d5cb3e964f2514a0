"""Training experiments you can run on a laptop CPU, each a handful of short runs of the real trainer.

- `optimizer_experiment`: the same tiny model with SGD, SGD + momentum, Adam and AdamW, each at a
  learning rate that suits it (SGD needs a far larger one: its step is lr × gradient, and the
  gradients of a transformer are small; Adam divides by the gradient's running RMS, so lr is
  close to the step size itself). One plot of all loss curves.
- `overfit_experiment`: a model far too large for a small corpus. Without regularisation train
  loss keeps falling while val loss turns up; dropout narrows the gap; early stopping keeps the
  best val loss and stops.
- `scaling_sweep`: tiny models of growing size, each trained for the compute budget its size
  calls for (C = 6·N·D with D = tokens_per_param·N), and a power law L(C) fitted to the losses.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llm_playground.training.config import TrainConfig, train_config
from llm_playground.training.data import PreparedData, prepare_data
from llm_playground.training.plots import plot_curves
from llm_playground.training.trainer import Trainer, TrainResult


def run_quietly(config: TrainConfig, data: PreparedData, *, progress: bool = False) -> TrainResult:
    """One run of the real trainer: no files, no baselines, nothing printed."""
    return Trainer(config, progress=progress, log=lambda line: None, baselines=False, write_files=False,
                   data=data).run()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --- optimizers -----------------------------------------------------------------------------------
OPTIMIZER_RUNS = (  # (label, optimizer, learning rate)
    ("SGD", "sgd", 0.5),
    ("SGD + momentum 0.9", "sgd-momentum", 0.1),
    ("Adam", "adam", 3e-3),
    ("AdamW (weight decay 0.1)", "adamw", 3e-3),
)


@dataclass
class OptimizerRun:
    label: str
    optimizer: str
    lr: float
    first_loss: float
    """Mean training loss of the first 10 steps."""
    last_loss: float
    """Mean training loss of the last 10 steps."""
    val_loss: float
    step_losses: list[list[float]] = field(repr=False, default_factory=list)

    @property
    def falls(self) -> bool:
        return self.last_loss < self.first_loss - 0.1


@dataclass
class OptimizerExperiment:
    runs: list[OptimizerRun]
    plot: str
    steps: int

    def to_dict(self) -> dict:
        return {"steps": self.steps, "plot": self.plot,
                "runs": [{**asdict(r), "falls": r.falls} for r in self.runs]}

    def summary(self) -> str:
        lines = [f"Same model, same batches, {self.steps} steps each (loss in nats/token):",
                 f"{'optimizer':<26} {'lr':>7} {'first 10':>9} {'last 10':>8} {'val':>7}  falls"]
        for r in self.runs:
            lines.append(f"{r.label:<26} {r.lr:>7.3g} {r.first_loss:>9.3f} {r.last_loss:>8.3f} {r.val_loss:>7.3f}  "
                         f"{'yes' if r.falls else 'NO'}")
        lines.append(f"plot: {self.plot}")
        return "\n".join(lines)


def optimizer_experiment(*, data: str | None = None, steps: int = 300, out: str | Path = "runs/experiment-optimizers",
                         progress: bool = True, runs=OPTIMIZER_RUNS, **changes) -> OptimizerExperiment:
    """Train one tiny model per optimizer (same init, same batches) and plot every loss curve."""
    from tqdm import tqdm

    out = Path(out)
    base = train_config("cpu-tiny", **{**dict(data=data, n_layer=2, n_embd=64, n_head=4, block_size=64, batch_size=16,
                                              max_steps=steps, eval_every=steps, eval_batches=5, sample_tokens=0,
                                              warmup_steps=max(1, steps // 20), out=str(out), compile=False), **changes})
    prepared = prepare_data(base, out / "data")
    results = []
    for label, optimizer, lr in tqdm(runs, desc="optimizers", disable=not progress):
        result = run_quietly(base.replace(optimizer=optimizer, lr=lr), prepared)
        losses = [loss for _, loss in result.step_losses]
        results.append(OptimizerRun(label, optimizer, lr, _mean(losses[:10]), _mean(losses[-10:]),
                                    result.final.val_loss, result.step_losses))
    plot = plot_curves({f"{r.label}, lr {r.lr:g}": r.step_losses for r in results}, out / "optimizers.png",
                       title=f"The same tiny transformer, four optimizers ({steps} steps)",
                       smooth=max(1, steps // 30))
    experiment = OptimizerExperiment(results, str(plot), steps)
    _write_json(out / "optimizers.json", experiment.to_dict())
    return experiment


# --- overfitting ----------------------------------------------------------------------------------
@dataclass
class OverfitRun:
    label: str
    dropout: float
    early_stopping: int
    best_step: int
    best_val_loss: float
    final_train_loss: float
    final_val_loss: float
    steps_run: int
    evaluations: list[dict] = field(repr=False, default_factory=list)

    @property
    def gap(self) -> float:
        """Final val loss − final train loss: how much the model memorised instead of learning."""
        return self.final_val_loss - self.final_train_loss


@dataclass
class OverfitExperiment:
    runs: list[OverfitRun]
    params: int
    train_tokens: int
    plot: str

    def to_dict(self) -> dict:
        return {"params": self.params, "train_tokens": self.train_tokens, "plot": self.plot,
                "runs": [{**asdict(r), "gap": r.gap} for r in self.runs]}

    def summary(self) -> str:
        lines = [f"{self.params:,} parameters on {self.train_tokens:,} training tokens "
                 f"({self.params / self.train_tokens:.0f} parameters per token: far too many)",
                 f"{'variant':<28} {'steps':>6} {'best val (step)':>17} {'final train':>12} {'final val':>10} {'gap':>6}"]
        for r in self.runs:
            lines.append(f"{r.label:<28} {r.steps_run:>6} {r.best_val_loss:>10.3f} ({r.best_step:>4}) "
                         f"{r.final_train_loss:>12.3f} {r.final_val_loss:>10.3f} {r.gap:>6.2f}")
        lines.append(f"plot: {self.plot}")
        return "\n".join(lines)


def overfit_experiment(*, data: str | None = None, chars: int = 10_000, steps: int = 1000,
                       out: str | Path = "runs/experiment-overfit", progress: bool = True,
                       **changes) -> OverfitExperiment:
    """Train a 4-layer model on the first `chars` characters: plain, with dropout, with early stopping.

    The learning rate stays at its peak after warmup (no decay), which makes memorising faster.
    """
    from tqdm import tqdm

    from llm_playground.assets import atomic_write_text
    from llm_playground.training.data import read_corpus

    out = Path(out)
    text = read_corpus(data).text[:chars]
    small = atomic_write_text(out / "small-corpus.txt", text)
    base = train_config("cpu-tiny", **{**dict(data=str(small), n_layer=4, n_embd=128, n_head=4, block_size=64,
                                              batch_size=16, max_steps=steps, eval_every=max(1, steps // 25),
                                              eval_batches=4, sample_tokens=0, warmup_steps=max(1, steps // 20),
                                              lr=3e-3, min_lr=3e-3, weight_decay=0.0, out=str(out),
                                              compile=False),
                                           **changes})
    prepared = prepare_data(base, out / "data")
    variants = (("no regularisation", 0.0, 0), ("dropout 0.2", 0.2, 0), ("early stopping (patience 4)", 0.0, 4))
    runs = []
    params = 0
    for label, dropout, patience in tqdm(variants, desc="variants", disable=not progress):
        result = run_quietly(base.replace(dropout=dropout, early_stopping=patience), prepared)
        params = result.params
        best = result.best
        runs.append(OverfitRun(label, dropout, patience, best.step, best.val_loss, result.final.train_loss,
                               result.final.val_loss, result.step,
                               [{"step": e.step, "train_loss": e.train_loss, "val_loss": e.val_loss}
                                for e in result.evaluations]))
    curves, styles, colors = {}, {}, {}
    for run, color in zip(runs, ("tab:red", "tab:blue", "tab:green")):
        curves[f"{run.label}: train"] = [[e["step"], e["train_loss"]] for e in run.evaluations]
        curves[f"{run.label}: val"] = [[e["step"], e["val_loss"]] for e in run.evaluations]
        styles[f"{run.label}: train"] = "--"
        colors[f"{run.label}: train"] = colors[f"{run.label}: val"] = color
    plot = plot_curves(curves, out / "overfit.png", styles=styles, colors=colors,
                       title=f"{params:,} parameters, {prepared.train.numel():,} training tokens: train vs val")
    experiment = OverfitExperiment(runs, params, int(prepared.train.numel()), str(plot))
    _write_json(out / "overfit.json", experiment.to_dict())
    return experiment


# --- scaling --------------------------------------------------------------------------------------
DEFAULT_SIZES = ((2, 16), (2, 24), (2, 32), (2, 48), (2, 64))  # (n_layer, n_embd)


@dataclass
class SweepPoint:
    n_layer: int
    n_embd: int
    params: int
    tokens: int
    flops: float
    """C = 6·N·D."""
    steps: int
    val_loss: float
    seconds: float


@dataclass
class ScalingSweep:
    points: list[SweepPoint]
    fit: dict
    formula: str
    plot: str
    tokens_per_param: float

    def to_dict(self) -> dict:
        return {**asdict(self)}

    def summary(self) -> str:
        from llm_playground.scaling import format_count, format_flops

        lines = [f"Each model trained on {self.tokens_per_param:g} tokens per parameter (C = 6·N·D):",
                 f"{'layers×width':>12} {'params':>8} {'tokens':>8} {'FLOPs':>9} {'steps':>6} {'val loss':>9} {'s':>5}"]
        for p in self.points:
            lines.append(f"{p.n_layer:>5} × {p.n_embd:<4} {format_count(p.params):>8} {format_count(p.tokens):>8} "
                         f"{format_flops(p.flops):>9} {p.steps:>6} {p.val_loss:>9.4f} {p.seconds:>5.0f}")
        lines.append(f"fit: {self.formula}  (rmse of log L {self.fit['rmse_log']:.3g})")
        lines.append(f"plot: {self.plot}")
        return "\n".join(lines)


def scaling_sweep(*, data: str | None = None, sizes=DEFAULT_SIZES, tokens_per_param: float = 10.0,
                  block_size: int = 64, batch_size: int = 16, lr: float = 3e-3, tokenizer: str = "char",
                  out: str | Path = "runs/scaling-fit", progress: bool = True, **changes) -> ScalingSweep:
    """Train each (n_layer, n_embd) for D = tokens_per_param · N tokens, fit L(C) = E + A·C^−α, plot it."""
    import time

    from tqdm import tqdm

    from llm_playground.errors import PlaygroundError
    from llm_playground.models import Transformer
    from llm_playground.scaling import fit_power_law, plot_power_law_fit, training_flops

    if len(sizes) < 3:
        raise PlaygroundError("a power-law fit with an irreducible loss needs at least 3 model sizes")
    out = Path(out)
    base = train_config("cpu-tiny", **{**dict(data=data, tokenizer=tokenizer, block_size=block_size,
                                              batch_size=batch_size, lr=lr, sample_tokens=0, eval_batches=10,
                                              out=str(out), compile=False), **changes})
    prepared = prepare_data(base, out / "data")
    points = []
    for n_layer, n_embd in tqdm(sizes, desc="models", disable=not progress):
        n_head = max(1, n_embd // 16)
        config = base.replace(n_layer=n_layer, n_embd=n_embd, n_head=n_head)
        params = Transformer(config.model_config(prepared.vocab_size)).num_params()
        steps = max(10, math.ceil(tokens_per_param * params / config.tokens_per_step()))
        config = config.replace(max_steps=steps, eval_every=steps, warmup_steps=max(1, steps // 20))
        started = time.perf_counter()
        result = run_quietly(config, prepared)
        tokens = steps * config.tokens_per_step()
        points.append(SweepPoint(n_layer, n_embd, params, tokens, training_flops(params, tokens), steps,
                                 result.final.val_loss, time.perf_counter() - started))
    flops = [p.flops for p in points]
    losses = [p.val_loss for p in points]
    fit = fit_power_law(flops, losses)
    plot = plot_power_law_fit(flops, losses, fit, out / "scaling_fit.png",
                              title=f"Your models on {prepared.source}: val loss vs training compute",
                              point_labels=[f"{p.n_layer}×{p.n_embd}" for p in points])
    sweep = ScalingSweep(points, fit.to_dict(), fit.formula("C"), str(plot), tokens_per_param)
    _write_json(out / "scaling_fit.json", sweep.to_dict())
    return sweep


def _write_json(path: Path, document: dict) -> None:
    import json

    from llm_playground.assets import atomic_write_text

    atomic_write_text(path, json.dumps(document, indent=1, ensure_ascii=False))
