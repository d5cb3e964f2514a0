"""Prompting techniques, and running one item of a task set with one of them.

    zero-shot          the instruction and the input
    few-shot           + k solved examples from the task's example pool (the first k)
    few-shot-random    + k examples drawn with a seed
    few-shot-similar   + the k examples most similar to the input (MiniLM sentence embeddings, cosine)
    cot                chain of thought: "Let's think step by step", the answer read after "Answer:"
    self-consistency   n chains of thought sampled at temperature 0.7, the majority answer wins
    constrained        zero-shot with the output constrained to the answer's shape (a number, one of
                       the labels, the record's JSON schema): valid by construction

Chat models get the system prompt and their chat template; base models get the system prompt as
the first paragraph of plain text, and stop at the next "Input:".
"""
from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.prompting.tasks import TaskItem, TaskSet
from llm_playground.prompting.templates import PromptTemplate

DEFAULT_TEMPLATE = """{{ instruction }}
{% for example in examples %}

Input: {{ example.input }}
Answer: {{ example.answer }}
{% endfor %}

Input: {{ input }}
{% if reasoning %}Let's think step by step, then write the final answer after "Answer:".{% else %}Answer:{% endif %}"""
"""The prompt every technique fills (variables: instruction, examples, input, reasoning, labels)."""

SELF_CONSISTENCY_TEMPERATURE = 0.7


@dataclass(frozen=True)
class Technique:
    """How a prompt is built and read."""

    name: str
    shots: int = 0
    """Solved examples put before the input."""
    selection: Literal["first", "random", "similar"] = "first"
    reasoning: bool = False
    """Chain of thought: ask for steps, read the answer after "Answer:"."""
    samples: int = 1
    """> 1: self-consistency, a majority vote over this many sampled chains."""
    constrained: bool = False
    """Constrain the output to the shape of a correct answer."""


TECHNIQUES = ("zero-shot", "few-shot", "few-shot-random", "few-shot-similar", "cot", "self-consistency", "constrained")


def make_technique(name: str, *, shots: int = 3, samples: int = 5) -> Technique:
    """A technique by name; `shots` is k for the few-shot ones, `samples` n for self-consistency."""
    if name == "zero-shot":
        return Technique(name)
    if name in ("few-shot", "few-shot-random", "few-shot-similar"):
        selection = {"few-shot": "first", "few-shot-random": "random", "few-shot-similar": "similar"}[name]
        return Technique(name, shots=shots, selection=selection)
    if name == "cot":
        return Technique(name, reasoning=True)
    if name == "self-consistency":
        return Technique(name, reasoning=True, samples=samples)
    if name == "constrained":
        return Technique(name, constrained=True)
    from llm_playground.errors import unknown_name

    raise unknown_name("technique", name, TECHNIQUES)


# --- few-shot selection -------------------------------------------------------------------------


def select_examples(task: TaskSet, item: TaskItem, technique: Technique, seed: int = 0) -> list[TaskItem]:
    """The k examples for `item`: the first k, k drawn with a seed (per item), or the k most similar."""
    k = technique.shots
    if k == 0:
        return []
    if k > len(task.examples):
        raise PlaygroundError(f"few-shot k={k} is larger than the {len(task.examples)} examples of the task set "
                              f"{task.name}; choose k ≤ {len(task.examples)}")
    if technique.selection == "first":
        return task.examples[:k]
    if technique.selection == "random":
        return random.Random(f"{seed}:{item.id}").sample(task.examples, k)
    pool = embed([example.input for example in task.examples])  # (E, 384), unit length
    query = embed([item.input])[0]  # (384,)
    order = torch.argsort(pool @ query, descending=True)[:k]
    return [task.examples[int(i)] for i in order]


ENCODER = "minilm-l6"


def embed(texts: list[str]) -> torch.Tensor:
    """MiniLM sentence embeddings (mean of the token vectors, unit length): (len(texts), 384)."""
    model = zoo.load_hf_model(ENCODER)
    tokenizer = zoo.load_tokenizer(ENCODER)
    with torch.inference_mode():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(**batch).last_hidden_state  # (B, T, 384)
        weights = batch["attention_mask"][..., None].float()  # (B, T, 1): padding does not count
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(mean, dim=-1)


# --- running one item ---------------------------------------------------------------------------


@dataclass
class PromptSettings:
    """What a lab run shares across items: the template, the system prompt, the extra variables."""

    template: PromptTemplate = field(default_factory=lambda: PromptTemplate(DEFAULT_TEMPLATE))
    system: str | None = None
    """None: the task's own system prompt; "" for none."""
    variables: dict[str, str] = field(default_factory=dict)
    backend: str = "auto"
    seed: int = 0

    def values(self, task: TaskSet, item: TaskItem, technique: Technique, examples: list[TaskItem]) -> dict:
        return {"instruction": task.instruction, "input": item.input, "reasoning": technique.reasoning,
                "labels": ", ".join(task.labels),
                "examples": [{"input": e.input, "answer": task.format_answer(e.answer)} for e in examples],
                **self.variables}

    def check(self, task: TaskSet) -> None:
        """Raise now (before any model work) when the template leaves a variable unfilled."""
        probe = TaskItem(id="probe", input="", answer=None)
        values = self.values(task, probe, Technique("zero-shot"), [])
        if self.template.missing(values):
            self.template.render(**values)  # raises the error that names them


@dataclass
class ItemResult:
    """One item answered by one model with one technique."""

    model: str
    technique: str
    item_id: str
    answer: Any
    predicted: Any
    correct: bool
    valid: bool
    """An answer of the right shape was found (records: JSON valid under the task's schema)."""
    outputs: list[str]
    tokens: int
    """Tokens generated for this item (all samples together)."""
    seconds: float
    masked_mass: float | None = None
    """constrained: the mean probability mass the constraint removed per token."""
    incomplete: bool = False


def build_prompt(chat: bool, task: TaskSet, item: TaskItem, technique: Technique, settings: PromptSettings):
    """(prompt, system prompt). A chat model sees few-shot examples as earlier turns of the conversation
    (the user asks, the assistant answers), as chat models were tuned on; a base model sees them in
    its text, with the system prompt as the first paragraph."""
    from llm_playground.generation import Message

    examples = select_examples(task, item, technique, settings.seed)
    system = task.system if settings.system is None else settings.system
    if not chat:
        text = settings.template.render(**settings.values(task, item, technique, examples))
        return (f"{system}\n\n{text}" if system else text), None
    turns = []
    for example in examples:
        turns.append(Message("user", settings.template.render(**settings.values(task, example, technique, []))))
        turns.append(Message("assistant", task.format_answer(example.answer)))
    turns.append(Message("user", settings.template.render(**settings.values(task, item, technique, []))))
    return (turns if examples else turns[0].content), (system or None)


def max_new_tokens(task: TaskSet, technique: Technique) -> int:
    if technique.reasoning:
        return 192
    return 64 if task.kind == "record" else 16


def run_item(model: str, task: TaskSet, item: TaskItem, technique: Technique, settings: PromptSettings) -> ItemResult:
    """Build the prompt, generate (n times for self-consistency), read and score the answer."""
    from llm_playground.generation import GenerationConfig, Message, collect, start_generation

    spec = zoo.resolve(model)
    prompt, system = build_prompt(spec.kind == "chat", task, item, technique, settings)
    chat = spec.kind == "chat"
    config = GenerationConfig(max_new_tokens=max_new_tokens(task, technique), stop=["\nInput:"],
                              constraint=task.constraint() if technique.constrained else None)
    outputs, answers, tokens, seconds, masked, incomplete = [], [], 0, 0.0, [], False
    for sample in range(technique.samples):
        if technique.samples > 1:
            config = config.replace(strategy="sample", temperature=SELF_CONSISTENCY_TEMPERATURE,
                                    seed=settings.seed * 1000 + sample)
        started = time.perf_counter()
        if chat and isinstance(prompt, list) and system:
            messages, system_arg = [Message("system", system), *prompt], None
        else:
            messages, system_arg = prompt, system
        completion = collect(start_generation(model, messages, config, system=system_arg, raw=not chat,
                                              backend=settings.backend))
        seconds += time.perf_counter() - started
        outputs.append(completion.text)
        tokens += len(completion.steps)
        masked += completion.masked_mass
        incomplete = incomplete or completion.incomplete
        answers.append(task.extract(completion.text, reasoning=technique.reasoning))
    predicted = majority(answers)
    return ItemResult(model=spec.name, technique=technique.name, item_id=item.id, answer=item.answer,
                      predicted=predicted, correct=task.is_correct(predicted, item), valid=task.is_valid(predicted),
                      outputs=outputs, tokens=tokens, seconds=seconds,
                      masked_mass=sum(masked) / len(masked) if masked else None, incomplete=incomplete)


def majority(answers: list[Any]) -> Any:
    """The most frequent answer that is not None (ties: the one seen first); None if none was found."""
    found = [a for a in answers if a is not None]
    if not found:
        return None
    counts = Counter(_hashable(a) for a in found)
    best = max(counts.values())
    return next(a for a in found if counts[_hashable(a)] == best)


def _hashable(value: Any):
    import json

    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
