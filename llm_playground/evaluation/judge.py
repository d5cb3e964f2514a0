"""LLM-as-judge: a judge model compares two contestants' answers, in both orders, on a set of prompts.

For every prompt each contestant answers (greedy, its chat template). The judge then sees the
question and the two answers as "Assistant A" and "Assistant B" twice, once in each order, and gives
a verdict each time. Position bias (preferring whichever answer comes first) cancels this way:
- the first contestant wins a prompt when it is preferred in both orders, loses when the other is,
  and ties otherwise (a tie verdict, or a judge that changes its mind with the order);
- score = (wins + ties / 2) / prompts, with a 95% confidence interval from the normal approximation
  to the mean of the per-prompt scores (1, ½, 0), clipped to [0, 1].

How the judge decides: a judge that can score log-likelihoods (every local model) is asked for its
verdict as the next token after `Verdict: [[`, and picks the most likely of `A`, `B`, `C` (always a
valid verdict, even from a small model). A judge that can only generate (a remote API without
logprobs) writes its answer, and the first `[[A]]`, `[[B]]` or `[[C]]` in it counts (none: a tie).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from llm_playground.errors import PlaygroundError

JUDGE_TEMPLATE = """You are a fair judge. Read the user's question and the two answers below, then decide which \
answer is more helpful, correct and clear. Ignore the order in which the answers appear and their length.
Reply with [[A]] if Assistant A's answer is better, [[B]] if Assistant B's answer is better, or [[C]] for a tie.

[Question]
{question}

[Assistant A]
{answer_a}

[Assistant B]
{answer_b}

Verdict: [["""

DEFAULT_PROMPTS = Path(__file__).parent / "tasks" / "judge_prompts.jsonl"


@dataclass
class Verdict:
    order: str
    """"AB" (first contestant shown as A) or "BA"."""
    choice: str
    """"A", "B" or "C" (tie) as the judge gave it."""
    logprobs: dict[str, float] = field(default_factory=dict)
    """ln p of each verdict letter (log-likelihood judges)."""
    text: str = ""
    """What a generating judge wrote."""


@dataclass
class JudgedPrompt:
    question: str
    answer_first: str
    answer_second: str
    verdicts: list[Verdict]
    outcome: str
    """"win", "tie" or "loss" for the first contestant."""


@dataclass
class JudgeResult:
    first: str
    second: str
    judge: str
    judge_prompt: str
    prompts: list[JudgedPrompt]
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {outcome: sum(p.outcome == outcome for p in self.prompts) for outcome in ("win", "tie", "loss")}

    @property
    def score(self) -> float:
        counts = self.counts()
        return (counts["win"] + counts["tie"] / 2) / len(self.prompts)

    @property
    def interval(self) -> tuple[float, float]:
        """95% confidence interval of the score (normal approximation over per-prompt scores)."""
        values = [{"win": 1.0, "tie": 0.5, "loss": 0.0}[p.outcome] for p in self.prompts]
        if len(values) < 2:
            return 0.0, 1.0
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        half = 1.96 * sd / math.sqrt(len(values))
        return max(0.0, mean - half), min(1.0, mean + half)

    @property
    def consistency(self) -> float:
        """Share of prompts where the judge named the same contestant in both orders."""
        same = 0
        for prompt in self.prompts:
            first, second = (v.choice for v in prompt.verdicts)
            same += {"A": "first", "B": "second", "C": "tie"}[first] == {"A": "second", "B": "first", "C": "tie"}[second]
        return same / len(self.prompts)

    def to_dict(self) -> dict:
        low, high = self.interval
        return {"first": self.first, "second": self.second, "judge": self.judge, "judge_prompt": self.judge_prompt,
                "counts": self.counts(), "score": self.score, "interval_95": [low, high],
                "consistency": self.consistency, "warnings": self.warnings,
                "prompts": [asdict(p) for p in self.prompts]}


def read_prompts(path: str | Path | None = None, limit: int | None = None) -> list[str]:
    """Questions from a JSON-lines file with a "prompt" (or "question") field, or plain lines of text."""
    from llm_playground.evaluation.sources import parse_jsonl

    path = Path(path) if path else DEFAULT_PROMPTS
    if not path.is_file():
        raise PlaygroundError(f"prompt file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".json"):
        prompts = []
        for number, record in enumerate(parse_jsonl(text, str(path)), start=1):
            value = record.get("prompt", record.get("question")) if isinstance(record, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise PlaygroundError(f"{path}, record {number}: needs a non-empty \"prompt\" field")
            prompts.append(value)
    else:
        prompts = [line for line in text.splitlines() if line.strip()]
    if not prompts:
        raise PlaygroundError(f"{path} has no prompts: the prompt set is empty")
    return prompts[:limit] if limit else prompts


def _verdict(judge, question: str, answer_a: str, answer_b: str, order: str) -> Verdict:
    from llm_playground.evaluation.scoring import encode_choices

    prompt = JUDGE_TEMPLATE.format(question=question, answer_a=answer_a.strip(), answer_b=answer_b.strip())
    if not judge.loglikelihood_unsupported:
        scorer = judge.scorer()
        context, continuations = encode_choices(scorer.tokenizer, prompt, ["A", "B", "C"])
        scores = scorer.score_choices(context, continuations)
        logprobs = {letter: s.logprob for letter, s in zip("ABC", scores)}
        return Verdict(order, max(logprobs, key=logprobs.get), logprobs)
    from llm_playground.generation import GenerationConfig

    text = judge.generate(prompt, GenerationConfig(max_new_tokens=32, strategy="greedy"))
    import re

    match = re.search(r"\[\[([ABC])\]\]", "[[" + text)
    return Verdict(order, match.group(1) if match else "C", text=text)


def judge_pair(first, second, judge, questions: list[str], *, max_new_tokens: int = 128,
               progress: Callable[[int, int], None] | None = None) -> JudgeResult:
    """Both contestants answer every question; the judge compares the answers in both orders."""
    from llm_playground.generation import GenerationConfig

    if not questions:
        raise PlaygroundError("the prompt set is empty; give at least one question")
    notes = []
    for contestant in (first, second):
        if getattr(judge, "model", None) == getattr(contestant, "model", None):
            notes.append(f"the judge {judge.label} is also a contestant ({contestant.label}): judges tend to prefer "
                         "their own answers (self-preference bias); prefer a third model as the judge")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    config = GenerationConfig(max_new_tokens=max_new_tokens, strategy="greedy")
    judged, total = [], len(questions) * 4
    for index, question in enumerate(questions):
        answer_first = first.chat(question, config)
        answer_second = second.chat(question, config)
        verdicts = [_verdict(judge, question, answer_first, answer_second, "AB"),
                    _verdict(judge, question, answer_second, answer_first, "BA")]
        first_wins = [verdicts[0].choice == "A", verdicts[1].choice == "B"]
        second_wins = [verdicts[0].choice == "B", verdicts[1].choice == "A"]
        outcome = "win" if all(first_wins) else "loss" if all(second_wins) else "tie"
        judged.append(JudgedPrompt(question, answer_first, answer_second, verdicts, outcome))
        if progress:
            progress((index + 1) * 4, total)
    return JudgeResult(first.label, second.label, judge.label, JUDGE_TEMPLATE, judged, notes)


def format_judgement(result: JudgeResult) -> str:
    counts = result.counts()
    low, high = result.interval
    lines = ["judge prompt (each question twice, the answers swapped the second time):", "",
             *("    " + line for line in result.judge_prompt.splitlines()), ""]
    for number, prompt in enumerate(result.prompts, start=1):
        shown = ", ".join(f"{v.order}→{v.choice}" for v in prompt.verdicts)
        lines.append(f"{number:>3}. {prompt.outcome:<4} ({shown})  {prompt.question[:70]}")
    lines += ["", f"{result.first} vs {result.second}, judged by {result.judge}: "
                  f"{counts['win']} wins, {counts['tie']} ties, {counts['loss']} losses over {len(result.prompts)} prompts",
              f"score (wins + ties/2) / n = {result.score:.3f}, 95% CI [{low:.3f}, {high:.3f}]; "
              f"judge consistent across orders on {result.consistency:.0%} of prompts"]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)
