"""`llmpg finetune …`: plan, sft, pairs, dpo, merge, compare, data. Thin: flags → library calls → text."""
from __future__ import annotations

import sys
from typing import Literal

from llm_playground.cli.render import print_json


def plan(*, config: str = "smollm2-135m-instruct", method: Literal["full", "lora", "qlora"] = "lora", r: int = 16,
         targets: str = "q,k,v,o", layers: str | None = None, batch_size: int = 4, seq_len: int = 256,
         measure: bool = True, json: bool = False) -> int:
    """Exact trainable/total parameters, memory per component and precision, and a speed estimate.

    The counts are PEFT's own (tested equal to print_trainable_parameters on a meta-device model);
    memory is weights + gradients + AdamW state + activations (counted on a meta-device forward);
    the speed comes from a LoRA step measured on this machine.

    Args:
        config: a sizing preset (llama2-7b, llama3-8b, smollm2-135m …), a zoo or local model, or a model folder
        method: full fine-tuning, lora, or qlora (base in 4-bit NF4)
        r: LoRA rank
        targets: layers to adapt: q,k,v,o,gate,up,down or full names (q_proj …)
        layers: blocks with adapters: all, last:N, or indices/ranges such as 20-29
        batch_size: sequences per step (sizes the activations)
        seq_len: tokens per sequence (sizes the activations)
        measure: time a probe LoRA step here for the tokens/s estimate (--no-measure to skip, ~2 s)
        json: print machine-readable JSON
    """
    from llm_playground.finetuning.plan import format_plan, make_plan

    result = make_plan(config, method=method, r=r, targets=targets, layers=layers, batch_size=batch_size,
                       seq_len=seq_len, measure=measure)
    if json:
        return print_json(result.to_dict())
    print(format_plan(result))
    return 0


def _config(**values):
    from llm_playground.finetuning.config import FinetuneConfig

    return FinetuneConfig(**{k: v for k, v in values.items() if v is not None})


def _run(kind: str, resume: bool, json: bool, values: dict) -> int:
    from llm_playground.finetuning.train import is_main_process, prepare, resume_config, run

    log = (lambda line: print(line, file=sys.stderr)) if json else print
    if resume:
        if not values.get("out"):
            from llm_playground.errors import PlaygroundError

            raise PlaygroundError("resume needs the run folder: give out (the folder of the run to continue)")
        config, kind = resume_config(values["out"], **{k: v for k, v in values.items() if k != "out"})
    else:
        config = _config(**values)
    result = run(prepare(config, kind), resume=resume, progress=not json, log=log)
    if is_main_process():
        if json:
            print_json(result.to_dict())
        else:
            print()
            print(result.report())
            print(f"wrote {result.out}/adapter, {result.out}/metrics.json, {result.out}/loss.png; next: "
                  f"llmpg finetune merge {result.out} --name NAME")
    return 0


def sft(*, model: str | None = None, task: str | None = None, data: str | None = None,
        out: str | None = None, resume: bool = False, method: Literal["lora", "qlora"] | None = None,
        lora_r: int | None = None, lora_alpha: float | None = None, lora_dropout: float | None = None,
        targets: str | None = None,
        layers: str | None = None, steps: int | None = None, batch_size: int | None = None,
        grad_accum: int | None = None, lr: float | None = None, warmup_steps: int | None = None,
        max_length: int | None = None, train_examples: int | None = None, eval_examples: int | None = None,
        save_every: int | None = None, seed: int | None = None, precision: Literal["fp32", "bf16"] | None = None,
        json: bool = False) -> int:
    """Supervised fine-tuning with LoRA (PEFT + TRL): loss on the completion only, checkpoints, exact resume.

    Data: a JSONL of chat messages or prompt/completion records (chat models get their template),
    or the built-in task `extract` (default). A plan is made first: a run that would not fit in
    memory stops before loading anything. Ctrl-C or a kill loses at most save_every steps: run the
    same command with --resume --out RUN to continue exactly. Under `torchrun --nproc_per_node=N`
    (or `accelerate launch`) it trains data-parallel (gloo on CPU).

    Args:
        model: base model: zoo model (default smollm2-135m-instruct), local model or model folder
        task: built-in task when no data is given (extract)
        data: training JSONL (messages, or prompt + completion)
        out: run folder (default runs/finetune)
        resume: continue the run in out from its last complete checkpoint
        method: lora, or qlora (base in 4-bit NF4, bitsandbytes)
        lora_r: LoRA rank r (default 8; named as in TRL's CLI, and so that torchrun does not take it for its own --r… options)
        lora_alpha: LoRA alpha (update scale alpha/r; default 16)
        lora_dropout: dropout on the adapter input (default 0)
        targets: layers to adapt (default q,k,v,o)
        layers: blocks with adapters: all, last:N, ranges (default last:10)
        steps: optimizer steps (default 30; with --resume: train on to this step)
        batch_size: sequences per micro-batch per process (default 8)
        grad_accum: micro-batches per step (default 1)
        lr: learning rate (default 2e-3)
        warmup_steps: linear warmup steps (default 0)
        max_length: longest tokenized example (default 256)
        train_examples: built-in task: training examples (default 400)
        eval_examples: built-in task: held-out examples (default 50)
        save_every: checkpoint every N steps (default 10)
        seed: seed for initialisation, data order, dropout (default 0)
        precision: fp32 (default) or bf16 autocast
        json: print the result as JSON
    """
    return _run("sft", resume, json, dict(model=model, task=task, data=data, out=out, method=method, r=lora_r,
                                          alpha=lora_alpha, dropout=lora_dropout, targets=targets, layers=layers, steps=steps,
                                          batch_size=batch_size, grad_accum=grad_accum, lr=lr,
                                          warmup_steps=warmup_steps, max_length=max_length,
                                          train_examples=train_examples, eval_examples=eval_examples,
                                          save_every=save_every, seed=seed, precision=precision))


def dpo(*, model: str | None = None, data: str | None = None, eval_data: str | None = None, out: str | None = None,
        resume: bool = False, lora_r: int | None = None, lora_alpha: float | None = None, targets: str | None = None,
        layers: str | None = None, steps: int | None = None, batch_size: int | None = None,
        lr: float | None = None, beta: float | None = None, max_length: int | None = None,
        save_every: int | None = None, seed: int | None = None, json: bool = False) -> int:
    """DPO with LoRA on preference pairs (TRL): the reference is the same model with the adapter off.

    Pairs are JSONL prompt/chosen/rejected records; `llmpg finetune pairs` builds them from a model's
    own samples. Reports loss, rewards, margins and reward accuracy on the held-out pairs before and
    after.

    Args:
        model: the model to tune (default smollm2-135m-instruct)
        data: training pairs JSONL (prompt, chosen, rejected)
        eval_data: held-out pairs JSONL
        out: run folder (default runs/finetune)
        resume: continue the run in out from its last complete checkpoint
        lora_r: LoRA rank r (default 8)
        lora_alpha: LoRA alpha (default 16)
        targets: layers to adapt (default q,k,v,o)
        layers: blocks with adapters (default last:10)
        steps: optimizer steps (default 30)
        batch_size: pairs per step per process (default 8)
        lr: learning rate (default 2e-3; DPO usually wants less, e.g. 5e-4)
        beta: DPO beta (default 0.1)
        max_length: longest tokenized prompt + answer (default 256)
        save_every: checkpoint every N steps (default 10)
        seed: seed (default 0)
        json: print the result as JSON
    """
    if not data and not resume:
        from llm_playground.errors import PlaygroundError

        raise PlaygroundError("data is missing: DPO trains on preference pairs (JSONL prompt/chosen/rejected); "
                              "build some with: llmpg finetune pairs --out pairs.jsonl")
    return _run("dpo", resume, json, dict(model=model, data=data, eval_data=eval_data, out=out, r=lora_r, alpha=lora_alpha,
                                          targets=targets, layers=layers, steps=steps, batch_size=batch_size, lr=lr,
                                          beta=beta, max_length=max_length, save_every=save_every, seed=seed))


def pairs(*, model: str = "smollm2-135m-instruct", task: str = "extract", out: str = "pairs.jsonl",
          prompts: int = 60, eval_prompts: int = 30, samples: int = 4, seed: int = 0, json: bool = False) -> int:
    """Build DPO pairs from a model's own sampled answers, ranked by the task's checkable rule.

    Writes OUT (train pairs) and OUT with .eval.jsonl (held-out pairs, people never seen in training).

    Args:
        model: the model whose answers are sampled
        task: built-in task (extract: exact JSON > valid JSON > more right fields)
        out: where to write the training pairs
        prompts: training prompts to sample
        eval_prompts: held-out prompts to sample
        samples: answers sampled per prompt (temperature 1)
        seed: sampling seed
        json: print a JSON summary
    """
    from pathlib import Path

    from llm_playground.finetuning.data import write_jsonl
    from llm_playground.finetuning.pairs import build_pairs

    result = build_pairs(model, task=task, prompts=prompts, eval_prompts=eval_prompts, samples=samples, seed=seed,
                         progress=not json)
    train_path = Path(out)
    eval_path = train_path.with_name(train_path.name.removesuffix(".jsonl") + ".eval.jsonl")
    write_jsonl(train_path, result.to_records("train"))
    write_jsonl(eval_path, result.to_records("eval"))
    summary = {"model": model, "task": task, "sampled_answers": result.sampled_answers, "train_pairs": len(result.train),
               "eval_pairs": len(result.eval), "train": str(train_path), "eval": str(eval_path)}
    if json:
        return print_json(summary)
    print(f"{result.sampled_answers} answers sampled from {model}: {len(result.train)} training pairs → {train_path}, "
          f"{len(result.eval)} held-out pairs → {eval_path}")
    return 0


def merge(adapter: str, *, name: str, base: str | None = None, out: str | None = None, json: bool = False) -> int:
    """Fold a LoRA adapter into its base model and register it as a local model (llmpg models lists it).

    The merged folder is a plain transformers model (config.json, model.safetensors, tokenizer), so
    llmpg generate, the web page, the fast engine and the API server all load it by name. Its logits
    are checked equal to the adapter model's within 1e-4 before anything is registered.

    Args:
        adapter: a fine-tuning run folder, or an adapter folder
        name: the new model's name (lower-case, e.g. smollm2-extract)
        base: the base model (default: the one the adapter was trained on; another is refused)
        out: folder for the merged model (default $LLMPG_HOME/models/NAME)
        json: print machine-readable JSON
    """
    from llm_playground.finetuning.merge import merge as merge_adapter

    result = merge_adapter(adapter, name=name, base=base, out=out)
    if json:
        return print_json(result.to_dict())
    print(f"merged {adapter} into {result.base_model} → {result.name} ({result.parameters:,} parameters) at "
          f"{result.folder}; max |logit difference| vs the adapter model: {result.max_logit_difference:.2e}")
    print(f"try: llmpg generate --model {result.name} --prompt \"…\"")
    return 0


def compare(before: str, after: str, *, task: str | None = "extract", data: str | None = None,
            pairs: str | None = None, limit: int = 50, max_new_tokens: int = 48, samples: int = 4,
            json: bool = False) -> int:
    """Before/after: the same held-out prompts through two models, the metric with 95-percent intervals, samples.

    With a built-in task (extract) the metric is exact match of the JSON, with valid-JSON rate and
    field accuracy; with data (a JSONL of prompt/completion or messages) it is exact match of the
    completion; with pairs (prompt/chosen/rejected JSONL) it is preference accuracy (chosen more
    likely than rejected).

    Args:
        before: the model before fine-tuning (e.g. smollm2-135m-instruct)
        after: the model after (a merged local model, or a folder)
        task: built-in task whose held-out set to use (extract)
        data: held-out JSONL scored by exact match of the completion
        pairs: held-out preference pairs JSONL: compare preference accuracy instead
        limit: score at most this many prompts or pairs
        max_new_tokens: longest reply
        samples: side-by-side samples to show
        json: print machine-readable JSON
    """
    if pairs:
        from llm_playground.finetuning.compare import compare_preferences

        result = compare_preferences(before, after, pairs, limit=limit, progress=not json)
        if json:
            return print_json(result)
        print(result["report"])
        return 0
    from llm_playground.finetuning.compare import compare as compare_models

    result = compare_models(before, after, task=None if data else task, data=data, limit=limit,
                            max_new_tokens=max_new_tokens, samples=samples, progress=not json)
    if json:
        return print_json(result.to_dict())
    print(result.report())
    return 0


def data(*, task: str = "extract", out: str = "extract.jsonl", train_examples: int = 400, eval_examples: int = 50,
         json: bool = False) -> int:
    """Write a built-in task's data as JSONL (train to OUT, held-out to OUT with .eval.jsonl), to read or edit.

    Args:
        task: built-in task (extract)
        out: where to write the training records
        train_examples: training examples
        eval_examples: held-out examples
        json: print a JSON summary
    """
    from pathlib import Path

    from llm_playground.finetuning.data import write_jsonl
    from llm_playground.finetuning.tasks import get_task

    train, held_out = get_task(task).make(train_examples, eval_examples)
    train_path = Path(out)
    eval_path = train_path.with_name(train_path.name.removesuffix(".jsonl") + ".eval.jsonl")
    write_jsonl(train_path, [e.to_record() for e in train])
    write_jsonl(eval_path, [e.to_record() for e in held_out])
    summary = {"task": task, "train": str(train_path), "train_records": len(train), "eval": str(eval_path),
               "eval_records": len(held_out)}
    if json:
        return print_json(summary)
    print(f"{len(train)} training records → {train_path}; {len(held_out)} held-out records → {eval_path}")
    return 0


COMMANDS: dict = {
    "finetune": ("Fine-tuning lab: plan, LoRA/QLoRA SFT, DPO, merge, before/after (docs/finetuning.md).",
                 {"plan": plan, "sft": sft, "dpo": dpo, "pairs": pairs, "merge": merge, "compare": compare,
                  "data": data}),
}
