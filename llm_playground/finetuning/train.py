"""SFT and DPO runs: PEFT adapters trained by TRL's trainers, with exact resume and a live loss curve.

    run folder (config.out)
      run.json                 the FinetuneConfig, the kind (sft | dpo) and the base model's fingerprint
      checkpoints/checkpoint-N transformers' Trainer checkpoint (adapter, optimizer, scheduler, RNG states,
                               trainer state) + manifest.json written last: a checkpoint without it
                               is incomplete (killed mid-write) and is never resumed from
      adapter/                 the final adapter (PEFT format) + llmpg-adapter.json, written whole
      metrics.json, loss.png   losses per step, tokens/s, evaluations

Resuming goes through `Trainer.train(resume_from_checkpoint=…)`: the optimizer, the scheduler, every
RNG and the data order continue where they stopped, so the loss curve continues exactly. Those files
are torch pickles that transformers loads with `weights_only=True` (tensors and plain values only).

Under `torchrun`/`accelerate launch` (WORLD_SIZE > 1) the same run is data-parallel (gloo on CPU):
each process takes `batch_size` sequences, so the global batch is batch_size × processes.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from llm_playground.assets.files import atomic_directory, atomic_write_text, verify_manifest, write_manifest
from llm_playground.errors import PlaygroundError
from llm_playground.finetuning.config import FinetuneConfig
from llm_playground.finetuning.data import Example, check_for_model, read_jsonl, to_trl, write_jsonl

ADAPTER_INFO = "llmpg-adapter.json"
RUN_FILE = "run.json"
Log = Callable[[str], None]


# --- everything checked before a model is loaded ----------------------------------------------------
@dataclass
class PreparedRun:
    """A run whose inputs were all checked: the data, the model's files, the targets, the memory plan."""

    config: FinetuneConfig
    kind: str
    """"sft" or "dpo"."""
    spec: object
    folder: Path
    """The base model's HF folder."""
    chat: bool
    train: list[Example]
    eval: list[Example]
    system: str | None
    fingerprint: str
    """sha256 of the base model's config.json: an adapter is only merged into the model it was trained on."""
    plan: object = None


def model_fingerprint(folder: Path) -> str:
    return hashlib.sha256((Path(folder) / "config.json").read_bytes()).hexdigest()[:16]


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def prepare(config: FinetuneConfig, kind: str = "sft", *, pairs: list[Example] | None = None,
            check_memory: bool = True) -> PreparedRun:
    """Check the data (line and field), the model (exists, template, architecture), the targets and
    layers (against the model's config), and the memory plan. Nothing heavy is loaded."""
    from llm_playground import zoo
    from llm_playground.finetuning import plan as plans
    from llm_playground.finetuning.tasks import get_task

    spec = zoo.resolve(config.model)
    if not spec.generates or spec.kind == "architecture":
        raise PlaygroundError(f"{spec.name} is {spec.label}: fine-tune a pretrained chat or base model (llmpg models)")
    if spec.architecture not in plans.LORA_FAMILIES:
        raise PlaygroundError(f"{spec.name} is a {spec.architecture} model; fine-tuning covers "
                              f"{', '.join(plans.LORA_FAMILIES)}")
    plans.normalise_targets(config.targets)
    system = None
    if kind == "dpo" and pairs is not None:
        train, held_out = pairs, []
        if config.eval_data:
            held_out = read_jsonl(config.eval_data, "preference")
    elif config.data:
        train = read_jsonl(config.data, "preference" if kind == "dpo" else "sft")
        held_out = read_jsonl(config.eval_data, "preference" if kind == "dpo" else "sft") if config.eval_data else []
    else:
        if kind == "dpo":
            raise PlaygroundError("DPO needs preference pairs: give data (prompt/chosen/rejected JSONL) or build "
                                  "them with `llmpg finetune pairs`")
        task = get_task(config.task)
        train, held_out = task.make(config.train_examples, config.eval_examples)
        system = task.system
        if spec.kind != "chat":  # a base model gets the task as plain text
            train = [_as_text(e) for e in train]
            held_out = [_as_text(e) for e in held_out]
    check_for_model(train + held_out, spec.kind, spec.name)
    folder = zoo.model_dir(config.model)
    prepared = PreparedRun(config=config, kind=kind, spec=spec, folder=folder, chat=spec.kind == "chat",
                           train=train, eval=held_out, system=system, fingerprint=model_fingerprint(folder))
    world = _world_size()
    if world > 1 and len(train) < config.batch_size * world:
        raise PlaygroundError(f"{len(train)} examples cannot fill one step of {world} processes × batch_size "
                              f"{config.batch_size}")
    if check_memory:
        plan = plans.make_plan(config.model, method=config.method, r=config.r, targets=config.targets,
                               layers=config.layers, batch_size=config.batch_size * (2 if kind == "dpo" else 1),
                               seq_len=config.max_length)
        plans.check_fits(plan, config.precision)
        prepared.plan = plan
    else:
        from llm_playground.finetuning.plan import model_source, parse_layers

        parse_layers(config.layers, model_source(config.model).dims.n_layer)
    return prepared


def _as_text(example: Example) -> Example:
    """A chat-shaped built-in example as plain text for a base model: "<system>\\n<user>\\n" → completion."""
    text = "\n".join(m["content"] for m in example.prompt) + "\n"
    return Example(prompt=text, completion=example.completion)


# --- checkpoints -----------------------------------------------------------------------------------
def checkpoints_dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def complete_checkpoints(out: Path) -> list[Path]:
    """Checkpoints whose manifest was written and whose files match it, oldest first."""
    folder = checkpoints_dir(out)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.split("-")[-1]
        if suffix.isdigit() and not verify_manifest(path):
            found.append((int(suffix), path))
    return [path for _, path in sorted(found)]


def read_run(out: Path) -> dict:
    path = Path(out) / RUN_FILE
    if not path.is_file():
        raise PlaygroundError(f"{out} is not a fine-tuning run folder (no {RUN_FILE}); start a run with that out")
    return json.loads(path.read_text())


def resume_config(out: str | Path, **changes) -> tuple[FinetuneConfig, str]:
    """The config and kind stored in a run folder, with the resumable fields (steps…) changed."""
    stored = read_run(Path(out))
    allowed = {k: v for k, v in changes.items() if v is not None}
    bad = [k for k in allowed if k not in FinetuneConfig.RESUMABLE_CHANGES and allowed[k] != stored["config"].get(k)]
    if bad:
        raise PlaygroundError(f"a resumed run keeps its settings; {', '.join(bad)} differ from the run in {out} "
                              f"(only {', '.join(FinetuneConfig.RESUMABLE_CHANGES)} may change)")
    return FinetuneConfig(**{**stored["config"], **allowed, "out": str(out)}), stored["kind"]


# --- the trainer -------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """What a finished (or resumed) run reports."""

    out: str
    kind: str
    model: str
    start_step: int
    step: int
    step_losses: list[tuple[int, float]]
    seconds: float
    tokens: int
    trainable_parameters: int
    total_parameters: int
    evaluations: list[dict] = field(default_factory=list)
    world_size: int = 1
    adapter: str = ""

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"out": self.out, "kind": self.kind, "model": self.model, "start_step": self.start_step,
                "step": self.step, "step_losses": self.step_losses, "seconds": round(self.seconds, 2),
                "tokens": self.tokens, "tokens_per_second": round(self.tokens_per_second, 1),
                "trainable_parameters": self.trainable_parameters, "total_parameters": self.total_parameters,
                "evaluations": self.evaluations, "world_size": self.world_size, "adapter": self.adapter}

    def report(self) -> str:
        first, last = self.step_losses[0][1], self.step_losses[-1][1]
        lines = [f"{self.kind} on {self.model}: steps {self.start_step + 1}–{self.step} in {self.seconds:.0f} s "
                 f"({self.tokens_per_second:.0f} tokens/s), loss {first:.4f} → {last:.4f}",
                 f"trainable {self.trainable_parameters:,} of {self.total_parameters:,} parameters"]
        for evaluation in self.evaluations:
            lines.append("eval " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in evaluation.items()))
        lines.append(f"adapter: {self.adapter}")
        return "\n".join(lines)


def _callbacks(total_steps: int, progress: bool, on_log: Callable[[dict], None] | None, history: list,
               out: Path, kind: str, stop=None):
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """tqdm bar with loss, tokens/s and ETA; records every step's loss; marks complete checkpoints."""

        def __init__(self) -> None:
            self.bar = None
            self.started = None
            self.tokens0 = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()
            self.step0 = state.global_step
            self.tokens0 = float(state.num_input_tokens_seen or 0)
            if progress and is_main_process():
                self.bar = tqdm(total=total_steps, initial=state.global_step, desc=f"{kind} steps", unit="step",
                                dynamic_ncols=True)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            if "loss" not in logs:
                if any(k.startswith("eval_") for k in logs):
                    history.append({"step": state.global_step, **logs, "kind": "eval"})
                return
            elapsed = time.perf_counter() - self.started
            tokens = float(logs.get("num_tokens", state.num_input_tokens_seen or 0)) - self.tokens0
            record = {"step": state.global_step, "loss": float(logs["loss"]), "elapsed": round(elapsed, 3),
                      "tokens_per_second": round(tokens / elapsed, 1) if elapsed > 0 and tokens > 0 else None,
                      **{k: v for k, v in logs.items() if k.startswith("rewards/")}}
            history.append(record)
            if self.bar is not None:
                self.bar.n = state.global_step
                self.bar.set_postfix(loss=f"{record['loss']:.4f}",
                                     tok_s=f"{record['tokens_per_second'] or 0:.0f}", refresh=True)
            if on_log is not None and is_main_process():
                on_log(record)

        def on_step_end(self, args, state, control, **kwargs):
            if stop is not None and stop.is_set():
                control.should_training_stop = True  # asked to stop (the web page's Stop button)

        def on_save(self, args, state, control, **kwargs):
            if is_main_process():
                # the curve so far first (a resumed run keeps the steps before its checkpoint), then the
                # manifest that marks the checkpoint complete
                atomic_write_text(out / "metrics.json", json.dumps({"history": history}, indent=2))
                folder = checkpoints_dir(out) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    write_manifest(folder, step=state.global_step, kind=kind)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return [Progress()]


def _load_base(prepared: PreparedRun):
    """A fresh, trainable copy of the base model (never the store's shared one) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(prepared.folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if prepared.config.method == "qlora":
        from llm_playground.finetuning.qlora import load_4bit

        model = load_4bit(prepared.folder)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(prepared.folder), dtype=torch.float32)
    model.config.use_cache = False
    return model, tokenizer


def lora_config(config: FinetuneConfig, n_layer: int):
    from peft import LoraConfig

    from llm_playground.finetuning.plan import normalise_targets, parse_layers

    layers = parse_layers(config.layers, n_layer)
    return LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(normalise_targets(config.targets)),
                      layers_to_transform=list(layers) if layers is not None else None,
                      layers_pattern="layers" if layers is not None else None, task_type="CAUSAL_LM")


def _training_arguments(config: FinetuneConfig, kind: str, out: Path, n_eval: int):
    common = dict(output_dir=str(checkpoints_dir(out)), use_cpu=True, bf16=config.precision == "bf16",
                  gradient_checkpointing=False, per_device_train_batch_size=config.batch_size,
                  per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
                  max_steps=config.steps, learning_rate=config.lr, lr_scheduler_type="constant_with_warmup",
                  warmup_steps=config.warmup_steps, logging_steps=1, save_strategy="steps",
                  save_steps=config.save_every, save_total_limit=2, report_to=[], disable_tqdm=True,
                  seed=config.seed, data_seed=config.seed, max_length=config.max_length,
                  dataloader_num_workers=0, eval_strategy="no", include_num_input_tokens_seen=True,
                  ddp_backend="gloo" if _world_size() > 1 else None, save_only_model=False)
    if kind == "dpo":
        from trl import DPOConfig

        return DPOConfig(**common, beta=config.beta)
    from trl import SFTConfig

    return SFTConfig(**common, completion_only_loss=True, dataset_kwargs=None)


def run(prepared: PreparedRun, *, resume: bool = False, progress: bool = True, log: Log = print,
        on_log: Callable[[dict], None] | None = None, stop=None) -> RunResult:
    """Train (or resume) the prepared run; writes checkpoints, the adapter, metrics.json and loss.png.

    `on_log(record)` gets each step's {step, loss, tokens_per_second, …}; setting the threading.Event
    `stop` ends the run after the current step."""
    import torch
    from datasets import Dataset

    config, kind = prepared.config, prepared.kind
    out = Path(config.out)
    last = None
    if resume:
        done = complete_checkpoints(out)
        if not done:
            raise PlaygroundError(f"{out} has no complete checkpoint to resume from; start the run again without "
                                  "resume")
        last = done[-1]
        for partial in checkpoints_dir(out).glob("checkpoint-*"):
            if partial not in done:
                import shutil

                shutil.rmtree(partial, ignore_errors=True)  # killed mid-write: never read
    elif complete_checkpoints(out):
        raise PlaygroundError(f"{out} already holds a run; resume it (resume) or choose another out folder")
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / RUN_FILE, json.dumps({"kind": kind, "config": config.to_dict(),
                                                      "base_model": prepared.spec.name,
                                                      "base_fingerprint": prepared.fingerprint}, indent=2))
    torch.manual_seed(config.seed)  # the adapter's initialisation
    model, tokenizer = _load_base(prepared)
    peft_config = lora_config(config, model.config.num_hidden_layers)
    records = [to_trl(e, prepared.chat, prepared.system) for e in prepared.train]
    train_dataset = Dataset.from_list(records)
    eval_dataset = Dataset.from_list([to_trl(e, prepared.chat, prepared.system) for e in prepared.eval]) \
        if prepared.eval and kind == "dpo" else None
    args = _training_arguments(config, kind, out, len(prepared.eval))
    history: list[dict] = []
    if last is not None and (out / "metrics.json").is_file():
        earlier = json.loads((out / "metrics.json").read_text()).get("history", [])
        history.extend(h for h in earlier if h.get("step", 0) <= int(last.name.split("-")[-1]))
    callbacks = _callbacks(config.steps, progress, on_log, history, out, kind, stop)
    quiet = _quiet_datasets()
    if kind == "dpo":
        from trl import DPOTrainer

        trainer = DPOTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                             processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    else:
        from trl import SFTTrainer

        trainer = SFTTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tokenizer,
                             peft_config=peft_config, callbacks=callbacks)
    quiet()
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our progress bar shows the loss; no raw dicts on stdout
    trainable, total = trainer.model.get_nb_trainable_parameters()
    start_step = int(last.name.split("-")[-1]) if last is not None else 0
    if is_main_process():
        log(f"{kind}: {prepared.spec.name}, {config.method} r={config.r} on {config.targets} "
            f"(layers {config.layers or 'all'}): trainable params: {trainable:,} || all params: {total:,} || "
            f"trainable%: {100 * trainable / total:.4f}; {len(records)} examples, batch {config.batch_size}"
            f"×{config.grad_accum}×{_world_size()} process(es), steps {start_step + 1}–{config.steps}")
    evaluations = []
    if eval_dataset is not None and last is None:
        evaluations.append({"step": 0, **_eval_metrics(trainer)})
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(last) if last is not None else None)
    seconds = time.perf_counter() - started
    if eval_dataset is not None:
        evaluations.append({"step": trainer.state.global_step, **_eval_metrics(trainer)})
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    step_losses = [(h["step"], h["loss"]) for h in history if "loss" in h and h.get("kind") != "eval"]
    result = RunResult(out=str(out), kind=kind, model=prepared.spec.name, start_step=start_step,
                       step=trainer.state.global_step, step_losses=step_losses, seconds=seconds, tokens=tokens,
                       trainable_parameters=trainable, total_parameters=total, evaluations=evaluations,
                       world_size=_world_size())
    if is_main_process():
        result.adapter = str(save_adapter(trainer.model, tokenizer, out / "adapter", prepared))
        write_metrics(out, history, result)
    return result


def _eval_metrics(trainer) -> dict:
    metrics = trainer.evaluate()
    keep = ("eval_loss", "eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/margins",
            "eval_rewards/accuracies")
    return {k.removeprefix("eval_"): round(float(v), 4) for k, v in metrics.items() if k in keep}


def _quiet_datasets() -> Callable[[], None]:
    """datasets' per-map progress bars are noise in our output; returns a function that restores them."""
    import datasets

    datasets.disable_progress_bars()
    return lambda: None


def save_adapter(model, tokenizer, folder: Path, prepared: PreparedRun) -> Path:
    """The trained adapter (PEFT's files) + tokenizer + our record of its base model, written whole."""
    config = prepared.config
    with atomic_directory(folder) as temporary:
        model.save_pretrained(str(temporary))
        tokenizer.save_pretrained(str(temporary))
        info = {"base_model": prepared.spec.name, "base_folder": str(prepared.folder),
                "base_fingerprint": prepared.fingerprint, "kind": prepared.kind, "method": config.method,
                "r": config.r, "alpha": config.alpha, "targets": config.targets, "layers": config.layers,
                "steps": config.steps, "task": None if config.data else config.task, "data": config.data,
                "system": prepared.system}
        atomic_write_text(temporary / ADAPTER_INFO, json.dumps(info, indent=2))
    return folder


def write_metrics(out: Path, history: list[dict], result: RunResult) -> None:
    atomic_write_text(out / "metrics.json", json.dumps({"history": history, "result": result.to_dict()}, indent=2))
    try:
        from llm_playground.finetuning.plots import loss_plot

        loss_plot(history, out / "loss.png", title=f"{result.kind} on {result.model}")
    except Exception as error:  # a plot must never lose a finished run
        print(f"llmpg: warning: could not draw the loss plot ({error})", file=sys.stderr)


def train_sft(config: FinetuneConfig, *, resume: bool = False, progress: bool = True, log: Log = print,
              on_log: Callable[[dict], None] | None = None) -> RunResult:
    """Check everything, then run supervised fine-tuning with LoRA (loss on the completion only)."""
    return run(prepare(config, "sft"), resume=resume, progress=progress, log=log, on_log=on_log)


def train_dpo(config: FinetuneConfig, *, resume: bool = False, progress: bool = True, log: Log = print,
              on_log: Callable[[dict], None] | None = None) -> RunResult:
    """Check everything, then run DPO with LoRA on preference pairs (the reference is the adapter-free model)."""
    return run(prepare(config, "dpo"), resume=resume, progress=progress, log=log, on_log=on_log)


__all__ = ["PreparedRun", "RunResult", "prepare", "run", "train_sft", "train_dpo", "resume_config",
           "complete_checkpoints", "save_adapter", "write_jsonl", "ADAPTER_INFO"]
