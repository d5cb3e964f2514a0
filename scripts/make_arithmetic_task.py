"""Write llm_playground/evaluation/tasks/arithmetic.jsonl: 300 two-number sums, differences and
products with computed answers and three near-miss wrong choices (deterministic: seed 0)."""
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "llm_playground" / "evaluation" / "tasks" / "arithmetic.jsonl"


def main() -> None:
    rng = random.Random(0)
    lines = []
    for _ in range(300):
        op = rng.choice("+-*")
        a, b = (rng.randint(2, 99), rng.randint(2, 99)) if op != "*" else (rng.randint(2, 19), rng.randint(2, 19))
        right = a + b if op == "+" else a - b if op == "-" else a * b
        wrong = set()
        while len(wrong) < 3:
            candidate = right + rng.choice([-10, -2, -1, 1, 2, 10, b - a])
            if candidate != right:
                wrong.add(candidate)
        choices = [right, *sorted(wrong)]
        rng.shuffle(choices)
        lines.append(json.dumps({"a": a, "op": op, "b": b, "choices": [str(c) for c in choices],
                                 "label": choices.index(right)}))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
