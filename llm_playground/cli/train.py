"""`llmpg` training-lab commands: n-gram baselines, training our transformer, sampling from a checkpoint,
and the experiments (optimizers, overfitting)."""
from __future__ import annotations

import json as _json
import sys
from typing import Literal


def ngram(*, data: str | None = None, order: int = 3, smoothing: Literal["kneser-ney", "add-k"] = "kneser-ney",
          tokenizer: str = "char", k: float = 1.0, discount: float = 0.75, val_fraction: float = 0.1,
          prompt: str = "", sample_tokens: int = 300, seed: int = 0, json: bool = False) -> int:
    """n-gram baselines: train/val perplexity for orders 1 … N, and a sample from order N.

    The split is the neural trainer's: the first 90% of the tokens train, the last 10% validate.

    Args:
        data: a UTF-8 text file (default: the Shakespeare corpus)
        order: the highest n-gram order; orders 1 … order are all scored
        smoothing: kneser-ney (interpolated, discount 0.75) or add-k
        tokenizer: a tokenizer name from `llmpg tokenizer list` (char, gpt2, bpe-gpt2, …)
        k: the k of add-k smoothing (1 = Laplace)
        discount: the Kneser-Ney discount
        val_fraction: share of the tokens (at the end) held out for validation
        prompt: text to start the sample with (default: the corpus's first tokens)
        sample_tokens: how many tokens to sample
        seed: random seed for the sample
        json: print machine-readable JSON
    """
    from llm_playground import assets
    from llm_playground.tokenizers import get_tokenizer, read_text_file
    from llm_playground.training.ngram import ngram_report

    if data is None:
        text, source = assets.corpus_text("shakespeare"), "the Shakespeare corpus"
    else:
        text, warning = read_text_file(data)
        source = data
        if warning:
            print(f"llmpg: warning: {warning}", file=sys.stderr)
    encoder = get_tokenizer(tokenizer)
    report = ngram_report(text, encode=encoder.encode, decode=encoder.decode, vocab_size=encoder.vocab_size,
                          tokenizer_name=tokenizer, max_order=order, smoothing=smoothing, k=k, discount=discount,
                          val_fraction=val_fraction, prompt=prompt, sample_tokens=sample_tokens, seed=seed)
    if json:
        print(_json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"{source}: {report.train_tokens:,} train / {report.val_tokens:,} val tokens, "
          f"tokenizer {tokenizer} (V = {report.vocab_size:,})")
    print(report.table())
    print()
    print(report.explanation().text())
    print()
    print(f"Sample from the order-{order} model (seed {seed}):")
    print(report.sample)
    return 0


def train(*, data: str | None = None, tokenizer: str | None = None, preset: str | None = None,
          out: str | None = None, resume: str | None = None, model_preset: str | None = None,
          n_layer: int | None = None, n_head: int | None = None, n_embd: int | None = None,
          block_size: int | None = None, context_length: int | None = None, dropout: float | None = None,
          batch_size: int | None = None, grad_accum: int | None = None, max_steps: int | None = None,
          optimizer: Literal["adamw", "adam", "sgd", "sgd-momentum"] | None = None, lr: float | None = None,
          min_lr: float | None = None, warmup_steps: int | None = None, weight_decay: float | None = None,
          grad_clip: float | None = None, eval_every: int | None = None, eval_batches: int | None = None,
          checkpoint_every: int | None = None, early_stopping: int | None = None,
          sample_tokens: int | None = None, val_fraction: float | None = None, seed: int | None = None,
          precision: Literal["auto", "fp32", "bf16"] | None = None,
          device: Literal["auto", "cpu", "cuda"] | None = None, compile: Literal["on", "off"] | None = None,
          no_baselines: bool = False, json: bool = False) -> int:
    """Train our transformer on next-token prediction (AdamW, warmup + cosine, checkpoints, samples).

    Prints the parameter count, tokens per step, a measured ms/step and time estimate, and the
    Chinchilla-optimal token count first; evaluates train/val loss with a sample every
    --eval-every steps; writes OUT/checkpoint, OUT/metrics.json and OUT/loss.png. Under
    `torchrun --nproc_per_node=N` it trains with DistributedDataParallel (see docs/training.md).

    Args:
        data: a UTF-8 text file (default: the Shakespeare corpus)
        tokenizer: char, bpe:N (train an N-token BPE on the data), a tokenizer name, or a saved tokenizer folder
        preset: training preset: cpu-tiny, cpu-small, cpu-tiny-llama, gpu-small, gpu-gpt2 (default: cpu-tiny)
        out: output folder (default: runs/<preset>)
        resume: continue the run in this folder (or checkpoint folder) exactly where it stopped
        model_preset: the architecture's TransformerConfig preset (cpu-tiny = GPT-2 style, llama-tiny)
        n_layer: transformer blocks
        n_head: attention heads
        n_embd: width of the residual stream
        block_size: tokens per training sequence
        context_length: the model's context if longer than block_size
        dropout: dropout probability
        batch_size: sequences per micro-batch (per process)
        grad_accum: micro-batches per optimizer step
        max_steps: optimizer steps (with --resume: train on to this step)
        optimizer: the optimizer
        lr: peak learning rate
        min_lr: final learning rate of the cosine decay (default lr/10)
        warmup_steps: linear warmup steps
        weight_decay: weight decay on matrices
        grad_clip: clip the gradient norm (0 = off)
        eval_every: evaluate (and sample) every N steps
        eval_batches: batches per loss estimate
        checkpoint_every: checkpoint every N steps (default: at every evaluation)
        early_stopping: stop after N evaluations without a better val loss
        sample_tokens: tokens to sample at each evaluation
        val_fraction: share of the tokens held out for validation
        seed: random seed
        precision: auto (bf16 where the hardware is fast at it), fp32 or bf16
        device: auto, cpu or cuda
        compile: torch.compile the training step (slower start; see llmpg bench train --compile on)
        no_baselines: skip fitting the n-gram baselines
        json: print the result as JSON at the end
    """
    import json as json_module

    from llm_playground.training import train as run_training, train_config

    overrides = dict(data=data, tokenizer=tokenizer, out=out, model_preset=model_preset, n_layer=n_layer,
                     n_head=n_head, n_embd=n_embd, block_size=block_size, context_length=context_length,
                     dropout=dropout, batch_size=batch_size, grad_accum=grad_accum, max_steps=max_steps,
                     optimizer=optimizer, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps,
                     weight_decay=weight_decay, grad_clip=grad_clip, eval_every=eval_every,
                     eval_batches=eval_batches, checkpoint_every=checkpoint_every, early_stopping=early_stopping,
                     sample_tokens=sample_tokens, val_fraction=val_fraction, seed=seed, precision=precision,
                     device=device, compile=None if compile is None else compile == "on")
    log = (lambda line: print(line, file=sys.stderr)) if json else print  # keep stdout pure JSON
    if resume is not None:
        if preset is not None:
            overrides["preset"] = preset
        result = run_training(None, resume=resume, overrides=overrides, progress=not json, log=log,
                              baselines=not no_baselines)
    else:
        name = preset or "cpu-tiny"
        overrides["out"] = out or f"runs/{name}"
        result = run_training(train_config(name, **overrides), progress=not json, log=log,
                              baselines=not no_baselines)
    if _is_main_process():
        if json:
            print(json_module.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        else:
            print()
            print(result.report())
            print(f"\nwrote {result.out}/checkpoint, {result.out}/metrics.json, {result.out}/loss.png")
    return 0


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def sample(*, checkpoint: str, prompt: str = "", max_new_tokens: int = 300, temperature: float = 0.8,
           top_k: int = 0, top_p: float = 1.0, seed: int | None = 0, greedy: bool = False) -> int:
    """Generate text from a trained checkpoint with the generation engine (streams as it goes).

    Args:
        checkpoint: a training run's out folder (or its checkpoint folder)
        prompt: text to continue (default: a newline)
        max_new_tokens: tokens to generate (at most the model's context minus the prompt)
        temperature: sampling temperature
        top_k: keep the k most likely tokens (0 = off)
        top_p: nucleus sampling mass (1 = off)
        seed: sampling seed
        greedy: take the most likely token each step
    """
    from llm_playground.generation import GenerationConfig
    from llm_playground.training import stream_sample

    config = GenerationConfig(max_new_tokens=max_new_tokens, strategy="greedy" if greedy else "sample",
                              temperature=1.0 if greedy else temperature, top_k=0 if greedy else top_k,
                              top_p=1.0 if greedy else top_p, seed=None if greedy else seed,
                              stop_at_eos=False, top_alternatives=0)
    print(prompt, end="", flush=True)
    for text in stream_sample(checkpoint, prompt, config):
        print(text, end="", flush=True)
    print()
    return 0


def optimizers(*, data: str | None = None, steps: int = 300, out: str = "runs/experiment-optimizers",
               json: bool = False) -> int:
    """Train the same tiny model with SGD, SGD+momentum, Adam and AdamW; all loss curves on one plot.

    Args:
        data: a UTF-8 text file (default: the Shakespeare corpus)
        steps: optimizer steps per run
        out: folder for optimizers.png and optimizers.json
        json: print machine-readable JSON
    """
    import json as json_module

    from llm_playground.training.experiments import optimizer_experiment

    result = optimizer_experiment(data=data, steps=steps, out=out, progress=not json)
    print(json_module.dumps(result.to_dict(), indent=2) if json else result.summary())
    return 0


def overfit(*, data: str | None = None, chars: int = 10000, steps: int = 1000, out: str = "runs/experiment-overfit",
            json: bool = False) -> int:
    """A model too large for a small corpus: train vs val curves diverge; dropout and early stopping help.

    Args:
        data: a UTF-8 text file (default: the Shakespeare corpus)
        chars: use only the first this many characters (a small corpus is what makes it overfit)
        steps: optimizer steps per run
        out: folder for overfit.png and overfit.json
        json: print machine-readable JSON
    """
    import json as json_module

    from llm_playground.training.experiments import overfit_experiment

    result = overfit_experiment(data=data, chars=chars, steps=steps, out=out, progress=not json)
    print(json_module.dumps(result.to_dict(), indent=2) if json else result.summary())
    return 0


COMMANDS: dict = {
    "ngram": ngram,
    "train": train,
    "sample": sample,
    "experiment": ("Training experiments: optimizers compared, overfitting and its cures.",
                   {"optimizers": optimizers, "overfit": overfit}),
}
