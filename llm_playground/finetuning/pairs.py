"""Preference pairs built from a model's own sampled answers, ranked by a rule anyone can check,
and the preference accuracy of a model on held-out pairs.

For each prompt of a built-in task the model samples `samples` answers (temperature 1, no top-k or
top-p). They are sampled in batches by transformers' `generate` on the model store's transformers
model (`num_return_sequences`, prompts left-padded): one at a time through the streaming generator,
a few hundred answers take most of an hour on a busy 2-core CPU, in batches a few minutes. Nothing
here shows a probability; the texts are the dataset. Each answer is scored by the task's rule — for `extract`: exact JSON match, then valid
JSON, then how many fields are right — and the best becomes `chosen`, the worst `rejected`, when the
rule really separates them (a tie makes no pair). Train pairs come from training prompts, held-out
pairs from people never seen in training.

Preference accuracy of a model: the share of pairs whose chosen answer it gives a higher summed
log-probability than the rejected one (teacher-forced, after the chat template). For a DPO-tuned
model this is the quantity DPO pushes up; TRL's `rewards/accuracies` measures the same ordering
relative to the reference model.
"""
from __future__ import annotations

from dataclasses import dataclass

from llm_playground.errors import PlaygroundError
from llm_playground.finetuning.data import Example
from llm_playground.finetuning.tasks import get_task


@dataclass
class PairSet:
    train: list[Example]
    eval: list[Example]
    prompts: int
    samples: int
    sampled_answers: int

    def to_records(self, which: str) -> list[dict]:
        return [e.to_record() for e in (self.train if which == "train" else self.eval)]


PROMPTS_PER_BATCH = 8


def sample_answers(model: str, prompts: list[list[dict]], samples: int, *, seed: int, max_new_tokens: int,
                   temperature: float = 1.0) -> list[list[str]]:
    """`samples` sampled answers for each chat prompt (a list per prompt), reproducible from `seed`."""
    import torch

    from llm_playground import zoo

    hf_model, tokenizer = zoo.load_hf_model(model), zoo.load_tokenizer(model)
    eos = sorted(zoo.eos_token_ids(model))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    encoded = [tokenizer.encode(tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True),
                                add_special_tokens=False) for p in prompts]
    width = max(len(ids) for ids in encoded)
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded])  # left-padded (B, T)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        out = hf_model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True, temperature=temperature,
                                top_k=0, top_p=1.0, max_new_tokens=max_new_tokens, num_return_sequences=samples,
                                eos_token_id=eos, pad_token_id=pad)
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)  # (B · samples) answers
    return [texts[i * samples:(i + 1) * samples] for i in range(len(prompts))]


def _pairs_for(model: str, examples: list[Example], score, samples: int, seed: int, max_new_tokens: int,
               bar) -> list[Example]:
    pairs = []
    for start in range(0, len(examples), PROMPTS_PER_BATCH):
        batch = examples[start:start + PROMPTS_PER_BATCH]
        answers = sample_answers(model, [e.prompt for e in batch], samples, seed=seed * 1_000_003 + start,
                                 max_new_tokens=max_new_tokens)
        for example, replies in zip(batch, answers):
            ranked = [(score(reply, example.completion).rank(), reply.strip()) for reply in replies]
            best, worst = max(ranked, key=lambda a: a[0]), min(ranked, key=lambda a: a[0])
            if best[0] > worst[0] and best[1] != worst[1]:
                pairs.append(Example(prompt=example.prompt, chosen=best[1], rejected=worst[1]))
        bar.update(len(batch) * samples)
    return pairs


def build_pairs(model: str, *, task: str = "extract", prompts: int = 60, eval_prompts: int = 30,
                samples: int = 4, seed: int = 0, max_new_tokens: int = 48, progress: bool = True) -> PairSet:
    """Sample `samples` answers per prompt from `model` and keep the pairs the task's rule separates."""
    from tqdm.auto import tqdm

    from llm_playground import zoo

    if samples < 2:
        raise PlaygroundError(f"samples must be at least 2 to rank answers against each other (got {samples})")
    spec = zoo.resolve(model)
    if spec.kind != "chat":
        raise PlaygroundError(f"{spec.name} has no chat template; the built-in pairs are chat prompts")
    definition = get_task(task)
    train, held_out = definition.make(max(prompts, 400), eval_prompts)  # the SFT task's own training people
    train = train[:prompts]
    with tqdm(total=(len(train) + len(held_out)) * samples, desc=f"sampling {spec.name}", unit="answer",
              disable=not progress) as bar:
        train_pairs = _pairs_for(model, train, definition.score, samples, seed, max_new_tokens, bar)
        eval_pairs = _pairs_for(model, held_out, definition.score, samples, seed + 1, max_new_tokens, bar)
    if not train_pairs:
        raise PlaygroundError(f"none of {len(train)} prompts gave two answers the rule tells apart; sample more "
                              "answers per prompt (samples) or use a model that sometimes gets the task right")
    return PairSet(train=train_pairs, eval=eval_pairs, prompts=len(train) + len(held_out), samples=samples,
                   sampled_answers=(len(train) + len(held_out)) * samples)


def completion_logprob(model, tokenizer, prompt: list[dict] | str, completion: str) -> float:
    """Σ log p(completion tokens | prompt) under `model` (a transformers causal LM), chat template applied."""
    import torch

    if isinstance(prompt, list):
        prefix = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        text = tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": completion}], tokenize=False)
    else:
        prefix, text = prompt, prompt + completion
    prefix_ids = tokenizer.encode(prefix, add_special_tokens=False)
    ids = tokenizer.encode(text, add_special_tokens=False)
    if ids[:len(prefix_ids)] != prefix_ids:
        raise PlaygroundError("the chat template does not extend the prompt with the answer; cannot score it")
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()  # (T, V)
    logprobs = torch.log_softmax(logits[:-1], dim=-1)  # position t predicts token t + 1
    targets = torch.tensor(ids[1:])
    scored = logprobs[torch.arange(len(ids) - 1), targets][len(prefix_ids) - 1:]
    return float(scored.sum())


def preference_accuracy(model_name: str, pairs: list[Example], progress: bool = True) -> dict:
    """Share of pairs where `model_name` gives chosen a higher log-probability than rejected, with its
    Wilson 95 % interval and the mean log-probability margin."""
    from tqdm.auto import tqdm

    from llm_playground import zoo
    from llm_playground.finetuning.compare import wilson_interval

    if not pairs:
        raise PlaygroundError("no held-out pairs to score")
    model, tokenizer = zoo.load_hf_model(model_name), zoo.load_tokenizer(model_name)
    wins, margins = 0, []
    for pair in tqdm(pairs, desc=f"scoring pairs with {model_name}", unit="pair", disable=not progress):
        margin = (completion_logprob(model, tokenizer, pair.prompt, pair.chosen)
                  - completion_logprob(model, tokenizer, pair.prompt, pair.rejected))
        margins.append(margin)
        wins += margin > 0
    low, high = wilson_interval(wins, len(pairs))
    return {"model": model_name, "pairs": len(pairs), "accuracy": wins / len(pairs), "ci95": [low, high],
            "mean_margin": sum(margins) / len(margins), "wins": [int(m > 0) for m in margins]}
