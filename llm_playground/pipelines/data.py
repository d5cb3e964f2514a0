"""The labelled sets the pipelines are trained and measured on, written by this project.

`sentiment.jsonl`: 180 hand-written English sentences (reviews and plain statements), 60 each
positive / negative / neutral, split 120 train / 60 test (every third sentence of each class is a
test sentence). The same topics appear in every class (a battery, a pizza, a hotel …), so a method
must read the opinion, not the topic. Labels were written with the sentences; a neutral sentence
states facts without an opinion ("The kettle holds one and a half litres.").

`summaries.jsonl`: six short news-style articles with a one-sentence reference summary each, and
the T5 documentation's sentence ("studies have shown that owning a dog is good for you").
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llm_playground.errors import PlaygroundError

SENTIMENT_LABELS = ("negative", "neutral", "positive")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: str
    split: str


@dataclass(frozen=True)
class SummaryItem:
    id: str
    article: str
    reference: str


def _data_file(name: str) -> Path:
    return Path(str(resources.files("llm_playground.pipelines") / "data" / name))


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise PlaygroundError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
    return rows


def sentiment_set(split: str | None = None) -> list[LabelledText]:
    """The labelled sentiment sentences (all, or one split)."""
    if split is not None and split not in SPLITS:
        raise PlaygroundError(f"split must be one of {', '.join(SPLITS)} (got {split!r})")
    rows = [LabelledText(**row) for row in _read_jsonl(_data_file("sentiment.jsonl"))]
    return [row for row in rows if split is None or row.split == split]


def summary_set(path: str | Path | None = None) -> list[SummaryItem]:
    """The project's summaries, or a JSONL file of your own with "article" and "reference" on each line."""
    source = Path(path) if path else _data_file("summaries.jsonl")
    if not source.is_file():
        raise PlaygroundError(f"{source} is not a file; give a JSONL file with one "
                              '{"article": …, "reference": …} per line')
    items = []
    for index, row in enumerate(_read_jsonl(source), 1):
        if not row.get("article") or not row.get("reference"):
            raise PlaygroundError(f"{source}, item {index}: needs a non-empty \"article\" and \"reference\"")
        items.append(SummaryItem(id=str(row.get("id", index)), article=row["article"], reference=row["reference"]))
    if not items:
        raise PlaygroundError(f"{source} holds no items")
    return items
