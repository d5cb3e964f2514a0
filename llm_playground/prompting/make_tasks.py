"""Write the computed task sets: arithmetic word problems and record extraction (seeded, exact answers).

    python -m llm_playground.prompting.make_tasks      # rewrites data/arithmetic.jsonl, data/extraction.jsonl

Every answer is computed from the numbers that went into the text, never typed by hand. The
sentiment set (data/sentiment.jsonl) is hand-labelled and not written here. Each file holds a few
"example" items (the few-shot pool) and "test" items (what the lab scores); the split is fixed so
that no example is ever scored.
"""
from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

DATA = Path(__file__).with_name("data")
SEED = 20261202


def _speed_problem(rng: random.Random) -> tuple[str, int]:
    """Two legs at two speeds; the answer is total distance over total time (a whole number)."""
    while True:
        v1, v2 = rng.choice([30, 40, 45, 50, 60, 75, 80, 90, 100, 120]), rng.choice([20, 30, 40, 50, 60, 80])
        t1, t2 = rng.choice([1, 2, 3]), rng.choice([1, 2, 3, 4])
        d1, d2 = v1 * t1, v2 * t2
        average = Fraction(d1 + d2, t1 + t2)
        if average.denominator == 1 and v1 != v2:
            break
    vehicle = rng.choice(["train", "car", "bus", "cyclist", "boat"])
    text = (f"A {vehicle} travels {d1} km at {v1} km/h, then {d2} km at {v2} km/h. "
            "What is its average speed for the whole journey, in km/h?")
    return text, int(average)


def _shopping_problem(rng: random.Random) -> tuple[str, int]:
    n1, p1, n2, p2 = rng.randint(2, 9), rng.randint(2, 15), rng.randint(2, 9), rng.randint(2, 15)
    paid = ((n1 * p1 + n2 * p2) // 10 + 1 + rng.randint(0, 3)) * 10
    item1, item2 = rng.sample(["notebooks", "pens", "apples", "mugs", "tickets", "plants", "candles"], 2)
    name = rng.choice(["Maria", "Tom", "Aisha", "Kenji", "Lena", "Omar"])
    text = (f"{name} buys {n1} {item1} at {p1} dollars each and {n2} {item2} at {p2} dollars each, "
            f"and pays with {paid} dollars. How much change does {name} get, in dollars?")
    return text, paid - n1 * p1 - n2 * p2


def _work_problem(rng: random.Random) -> tuple[str, int]:
    rate, workers, hours = rng.randint(3, 12), rng.randint(2, 6), rng.randint(2, 8)
    thing = rng.choice(["boxes", "chairs", "loaves of bread", "pages", "bicycles"])
    text = (f"One worker makes {rate} {thing} per hour. How many {thing} do {workers} workers make "
            f"in {hours} hours?")
    return text, rate * workers * hours


def _percent_problem(rng: random.Random) -> tuple[str, int]:
    price = rng.choice([40, 60, 80, 120, 150, 200, 250, 400])
    percent = rng.choice([10, 20, 25, 50, 75])
    text = f"A jacket costs {price} dollars and is sold at {percent}% off. What is the sale price, in dollars?"
    return text, price * (100 - percent) // 100


def _age_problem(rng: random.Random) -> tuple[str, int]:
    child, gap, years = rng.randint(3, 15), rng.randint(20, 40), rng.randint(2, 10)
    text = (f"A mother is {gap} years older than her son. The son is {child} years old. "
            f"How old will the mother be in {years} years?")
    return text, child + gap + years


def _sharing_problem(rng: random.Random) -> tuple[str, int]:
    friends, each, kept = rng.randint(2, 8), rng.randint(3, 12), rng.randint(0, 9)
    text = (f"Sam has {friends * each + kept} marbles. He keeps {kept} and shares the rest equally among "
            f"{friends} friends. How many marbles does each friend get?")
    return text, each


ARITHMETIC_KINDS = [_speed_problem, _shopping_problem, _work_problem, _percent_problem, _age_problem, _sharing_problem]

SEED_PROBLEM = ("A train travels 120 km at 60 km/h, then 80 km at 40 km/h. What is its average speed for the whole "
                "journey, in km/h?", 50)
"""The seeds' train problem: 200 km in 2 h + 2 h, so 50 km/h. (Its two legs take equal times, so the
naive mean of the speeds is right here by luck; the generated speed problems mostly have unequal times.)"""


def arithmetic_items(count: int = 72, examples: int = 6) -> list[dict]:
    rng = random.Random(SEED)
    problems = [SEED_PROBLEM]
    seen = {SEED_PROBLEM[0]}
    while len(problems) < count:
        text, answer = ARITHMETIC_KINDS[len(problems) % len(ARITHMETIC_KINDS)](rng)
        if text not in seen:
            seen.add(text)
            problems.append((text, answer))
    items = []
    for index, (text, answer) in enumerate(problems):
        split = "example" if 1 <= index <= examples else "test"  # the seeds' problem is always scored
        items.append({"id": f"arithmetic-{index:03d}", "split": split, "input": text, "answer": answer})
    return items


FIRST = ["Alice", "Bruno", "Chen", "Dara", "Emeka", "Farah", "Gustav", "Hana", "Ivan", "Jorge", "Kaia", "Liam",
         "Mei", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe"]
LAST = ["Smith", "Rossi", "Wang", "Okafor", "Haddad", "Larsen", "Tanaka", "Petrov", "Garcia", "Nguyen", "Kowalski",
        "Silva", "Murphy", "Dubois", "Fischer", "Sato", "Ahmed", "Costa", "Novak", "Berg"]
CITIES = ["London", "Paris", "Tokyo", "Lagos", "Lima", "Oslo", "Madrid", "Cairo", "Toronto", "Sydney", "Berlin",
          "Mumbai", "Nairobi", "Seoul", "Lisbon", "Dublin", "Vienna", "Quito", "Hanoi", "Prague"]
PHRASINGS = [
    "{name}, {age}, lives in {city}.",
    "{name} is {age} years old and lives in {city}.",
    "Meet {name}: {age} years old, based in {city}.",
    "Living in {city}, {name} turned {age} this year.",
    "{city} resident {name} ({age}) joined the club last week.",
    "Our new colleague {name} is {age} and moved here from {city}.",
]


def extraction_items(count: int = 66, examples: int = 6) -> list[dict]:
    rng = random.Random(SEED + 1)
    records = [{"name": "Alice Smith", "age": 29, "city": "London"}]  # the seeds' sentence comes first
    texts = ["Alice Smith, 29, lives in London."]
    while len(records) < count:
        record = {"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "age": rng.randint(18, 85),
                  "city": rng.choice(CITIES)}
        text = rng.choice(PHRASINGS).format(**record)
        if text not in texts:
            records.append(record)
            texts.append(text)
    return [{"id": f"extraction-{i:03d}", "split": "example" if 1 <= i <= examples else "test", "input": text,
             "answer": record} for i, (text, record) in enumerate(zip(texts, records))]


def write(path: Path, items: list[dict]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
    temporary.replace(path)


def main() -> None:
    write(DATA / "arithmetic.jsonl", arithmetic_items())
    write(DATA / "extraction.jsonl", extraction_items())
    print(f"wrote {DATA / 'arithmetic.jsonl'} and {DATA / 'extraction.jsonl'}")


if __name__ == "__main__":
    main()
