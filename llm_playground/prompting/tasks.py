"""Task sets with exact answers, how to read an answer out of a model's text, and how to score it.

Three ship with the package (data/*.jsonl, written by the project; see make_tasks.py):

    arithmetic   72 word problems with computed whole-number answers (the seeds' train problem included)
    sentiment    165 hand-labelled sentences, positive / negative / neutral
    extraction   66 sentences about synthetic people → {"name", "age", "city"} (the seeds' Alice Smith first)

A task file of your own is JSONL with one {"input": …, "answer": …} per line ("split": "example" marks
the few-shot pool); the kind follows from the answers: numbers, labels (strings) or records (objects).
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from llm_playground.errors import PlaygroundError, unknown_name
from llm_playground.structured import Constraint

TaskKind = Literal["number", "label", "record"]
BUILTIN = ("arithmetic", "sentiment", "extraction")

INSTRUCTIONS = {
    "number": "Solve the problem. Give the final answer as a number.",
    "label": "Classify the sentiment of the text as {labels}.",
    "record": "Extract the person's {fields} from the text as a JSON object with the keys {fields}.",
}
SYSTEMS = {
    "number": "You are a careful math tutor.",
    "label": "You are a sentiment classifier. Answer with one word.",
    "record": "You are a JSON API. Respond with valid JSON only.",
}
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
ANSWER_MARKER = re.compile(r"answer\s*(?:is|:)", re.IGNORECASE)


@dataclass
class TaskItem:
    id: str
    input: str
    answer: Any
    split: str = "test"
    """"test" items are scored; "example" items form the few-shot pool."""


@dataclass
class TaskSet:
    """A named set of items of one kind, with its instruction, system prompt and answer reading."""

    name: str
    kind: TaskKind
    items: list[TaskItem]
    """The scored items."""
    examples: list[TaskItem] = field(default_factory=list)
    """The few-shot pool (never scored)."""
    labels: list[str] = field(default_factory=list)
    """label tasks: the classes, in a fixed order."""
    fields: list[str] = field(default_factory=list)
    """record tasks: the keys of each record, in order."""

    @property
    def instruction(self) -> str:
        return INSTRUCTIONS[self.kind].format(labels=", ".join(self.labels), fields=", ".join(self.fields))

    @property
    def system(self) -> str:
        return SYSTEMS[self.kind]

    def sample(self, limit: int | None, seed: int = 0) -> list[TaskItem]:
        """`limit` scored items, the same ones for the same seed (all when limit is None or larger).
        The shuffle mixes classes, so a small limit still sees every label; the first item of a
        built-in set (the seeds' problem or sentence) always stays in."""
        if limit is None or limit >= len(self.items):
            return list(self.items)
        first, rest = self.items[0], list(self.items[1:])
        random.Random(seed).shuffle(rest)
        return [first, *rest[: limit - 1]]

    def constraint(self) -> Constraint:
        """What a correct answer looks like, as a constraint: a number, one label, or the record's schema."""
        if self.kind == "number":
            return Constraint("regex", r"-?[0-9]{1,9}(\.[0-9]{1,6})?")
        if self.kind == "label":
            return Constraint("choices", list(self.labels))
        return Constraint("json_schema", self.record_schema())

    def record_schema(self) -> dict:
        sample = self.items[0].answer
        types = {name: "integer" if isinstance(value, int) else "number" if isinstance(value, float) else "string"
                 for name, value in sample.items()}
        return {"type": "object", "properties": {name: {"type": types[name]} for name in self.fields},
                "required": list(self.fields), "additionalProperties": False}

    def format_answer(self, answer: Any) -> str:
        """An answer written as the model should write it (few-shot examples)."""
        return json.dumps(answer, ensure_ascii=False) if self.kind == "record" else str(answer)

    def extract(self, text: str, *, reasoning: bool = False) -> Any:
        """The answer a model's text gives, or None. With `reasoning` (chain of thought) the answer is
        read after the last "answer is" / "Answer:" if there is one, else the last candidate."""
        if self.kind == "record":
            return _first_json_object(text)
        tail = text
        markers = list(ANSWER_MARKER.finditer(text))
        if reasoning and markers:
            tail = text[markers[-1].end():]
        if self.kind == "number":
            found = [m.group(0).replace(",", "") for m in NUMBER.finditer(tail)]
            if not found:
                return None
            value = float(found[0] if (markers and reasoning) or not reasoning else found[-1])
            return int(value) if value.is_integer() else value
        lowered = tail.lower()
        positions = [(m.start(), label) for label in self.labels for m in re.finditer(rf"\b{re.escape(label)}\b", lowered)]
        if not positions:
            return None
        positions.sort()
        return positions[0][1] if (markers and reasoning) or not reasoning else positions[-1][1]

    def is_valid(self, predicted: Any) -> bool:
        """Whether an answer of the right shape was found (for records: JSON valid under the schema)."""
        if predicted is None:
            return False
        if self.kind != "record":
            return True
        from llm_playground.structured import validation_error

        return validation_error(Constraint("json_schema", self.record_schema()),
                                json.dumps(predicted, ensure_ascii=False)) is None

    def is_correct(self, predicted: Any, item: TaskItem) -> bool:
        if predicted is None:
            return False
        if self.kind == "number":
            return isinstance(predicted, (int, float)) and abs(float(predicted) - float(item.answer)) < 1e-6
        if self.kind == "label":
            return predicted == item.answer
        if not isinstance(predicted, dict):
            return False
        for name, expected in item.answer.items():
            value = predicted.get(name)
            if isinstance(expected, str):
                if not isinstance(value, str) or value.strip() != expected:
                    return False
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != float(expected):
                return False
        return True


def _first_json_object(text: str) -> Any:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _kind_of(answers: list[Any], source: str) -> TaskKind:
    if all(isinstance(a, dict) for a in answers):
        return "record"
    if all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in answers):
        return "number"
    if all(isinstance(a, str) for a in answers):
        return "label"
    raise PlaygroundError(f"{source}: the answers mix kinds; use all numbers, all labels (strings) or all "
                          "records (JSON objects)")


def read_task_file(path: Path, name: str | None = None) -> TaskSet:
    """A task set from a JSONL file of {"input", "answer"[, "split", "id"]} lines."""
    if not path.is_file():
        raise PlaygroundError(f"task file {path} does not exist")
    items: list[TaskItem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise PlaygroundError(f"{path.name} line {number} is not JSON: {error.msg}") from None
        if not isinstance(row, dict) or "input" not in row or "answer" not in row:
            raise PlaygroundError(f"{path.name} line {number} needs the keys \"input\" and \"answer\"")
        items.append(TaskItem(id=str(row.get("id", f"{path.stem}-{number}")), input=str(row["input"]),
                              answer=row["answer"], split=row.get("split", "test")))
    tests = [item for item in items if item.split != "example"]
    if not tests:
        raise PlaygroundError(f"the task set {path.name} is empty: it has no items to score (lines with \"input\" "
                              "and \"answer\", not marked \"split\": \"example\")")
    kind = _kind_of([item.answer for item in items], path.name)
    labels = sorted({item.answer for item in items}) if kind == "label" else []
    fields = list(tests[0].answer) if kind == "record" else []
    return TaskSet(name=name or path.stem, kind=kind, items=tests,
                   examples=[item for item in items if item.split == "example"], labels=labels, fields=fields)


def load_task(name: str) -> TaskSet:
    """A built-in task set by name, or a JSONL task file by path."""
    if name in BUILTIN:
        with resources.as_file(resources.files("llm_playground.prompting") / "data" / f"{name}.jsonl") as path:
            task = read_task_file(path, name)
        if name == "sentiment":
            task.labels = ["positive", "negative", "neutral"]
        return task
    path = Path(name).expanduser()
    if path.suffix in (".jsonl", ".json") or path.exists():
        return read_task_file(path)
    raise unknown_name("task", name, BUILTIN)
