"""Built-in fine-tuning tasks whose answers are exact, so their effect can be measured.

`extract`: a sentence about a (synthetic) person → one line of JSON with four fields:

    user:      "Lisbon-based nurse Maria Lopez is 34 years old."
    assistant: {"name": "Maria Lopez", "age": 34, "city": "Lisbon", "job": "nurse"}

SmolLM2-135M-Instruct, asked plainly, answers in prose, code fences or with other keys; a short
LoRA run teaches it the format and to copy the values. Train and held-out sets are drawn from one
seeded pool, and no person of the held-out set appears in training. The metric is exact match of
the parsed JSON object (all four fields, right types), with per-field accuracy and valid-JSON rate
beside it.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Callable

from llm_playground.errors import unknown_name
from llm_playground.finetuning.data import Example

FIRST = ("Maria", "John", "Aiko", "Lars", "Fatima", "Diego", "Mei", "Omar", "Anna", "Kofi", "Priya", "Tomas",
         "Sofia", "Yusuf", "Elena", "Kenji", "Amara", "Lucas", "Ingrid", "Rahul", "Chloe", "Mateo", "Hana", "Ivan")
LAST = ("Lopez", "Smith", "Tanaka", "Berg", "Haddad", "Silva", "Chen", "Farouk", "Novak", "Mensah", "Patel",
        "Kowalski", "Rossi", "Demir", "Ivanova", "Sato", "Okafor", "Martin", "Larsen", "Gupta", "Dubois", "Ruiz")
CITIES = ("Lisbon", "Oslo", "Osaka", "Cairo", "Lima", "Berlin", "Accra", "Dublin", "Madrid", "Seoul", "Nairobi",
          "Prague", "Toronto", "Mumbai", "Vienna", "Quito", "Hanoi", "Perth")
JOBS = ("nurse", "baker", "pilot", "teacher", "chef", "lawyer", "farmer", "dentist", "architect", "plumber",
        "librarian", "engineer", "painter", "pharmacist", "journalist", "electrician")
PHRASINGS = (
    "{name}, {age}, is a {job} in {city}.",
    "{city}-based {job} {name} is {age} years old.",
    "Born {age} years ago, {name} now works as a {job} in {city}.",
    "{name} ({age}) lives in {city} and works as a {job}.",
    "Meet {name}: a {age}-year-old {job} from {city}.",
    "In {city}, {name} has been a {job} since long before turning {age}.",
)
EXTRACT_SYSTEM = 'Extract the person as one line of JSON with keys "name", "age", "city", "job".'


@dataclass
class Score:
    """How one reply did against the expected answer."""

    exact: bool
    """The reply, stripped, parses as JSON equal to the expected object."""
    valid_json: bool
    """The reply, stripped, parses as a JSON object."""
    fields_correct: int
    """How many expected fields have exactly the expected value."""
    fields: int

    def rank(self) -> tuple:
        """Orders replies from worst to best (the rule DPO pairs are ranked by)."""
        return (self.exact, self.valid_json, self.fields_correct)


def score_extraction(reply: str, expected: dict) -> Score:
    try:
        value = json.loads(reply.strip())
    except ValueError:
        value = None
    valid = isinstance(value, dict)
    correct = sum(1 for key, want in expected.items() if valid and value.get(key) == want
                  and type(value.get(key)) is type(want))
    return Score(exact=valid and value == expected, valid_json=valid, fields_correct=correct, fields=len(expected))


def extraction_pool(size: int, seed: int = 0) -> list[tuple[str, dict]]:
    """`size` distinct (sentence, answer) pairs, each a distinct person (name + age + city + job)."""
    rng = random.Random(seed)
    seen: set[tuple] = set()
    pool = []
    while len(pool) < size:
        person = {"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "age": rng.randint(19, 79),
                  "city": rng.choice(CITIES), "job": rng.choice(JOBS)}
        key = (person["name"], person["age"])
        if key in seen:
            continue
        seen.add(key)
        sentence = rng.choice(PHRASINGS).format(**person)
        pool.append((sentence, person))
    return pool


@dataclass
class Task:
    """A built-in task: its data, and how a reply is scored."""

    name: str
    description: str
    system: str
    make: Callable[[int, int], tuple[list[Example], list[Example]]]
    """(n_train, n_eval) → (train examples, held-out examples), deterministic."""
    score: Callable[[str, str], Score]
    """(reply, expected completion) → Score."""


def _make_extract(n_train: int, n_eval: int, seed: int = 0) -> tuple[list[Example], list[Example]]:
    pool = extraction_pool(n_train + n_eval, seed)
    held_out_names = {p["name"] for _, p in pool[n_train:]}
    train = [(s, p) for s, p in pool[:n_train] if p["name"] not in held_out_names]
    examples = lambda items: [Example(prompt=[{"role": "system", "content": EXTRACT_SYSTEM},  # noqa: E731
                                              {"role": "user", "content": sentence}],
                                      completion=json.dumps(person)) for sentence, person in items]
    return examples(train), examples(pool[n_train:])


TASKS: dict[str, Task] = {
    "extract": Task(
        name="extract", description="sentence about a person → one line of JSON (name, age, city, job)",
        system=EXTRACT_SYSTEM, make=_make_extract,
        score=lambda reply, expected: score_extraction(reply, json.loads(expected))),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise unknown_name("task", name, TASKS)
    return TASKS[name]


def exact_match_score(reply: str, expected: str) -> Score:
    """The direct metric for user data: the reply equals the expected completion (whitespace-stripped)."""
    exact = reply.strip() == expected.strip()
    return Score(exact=exact, valid_json=False, fields_correct=int(exact), fields=1)
