"""`llmpg eval …`: perplexity, ROUGE/BLEU/chrF, multiple-choice suites, HumanEval, LLM-as-judge, reports."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

from llm_playground.cli.render import dim, print_json
from llm_playground.errors import PlaygroundError


def _bar(desc: str, total: int | None = None, quiet: bool = False):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=quiet, file=sys.stderr, dynamic_ncols=True)


def _follow(bar):
    """A progress(done, total) callback that moves `bar`."""
    def step(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return step


def _notice(references) -> None:
    from llm_playground import zoo

    for contestant in references:
        spec = getattr(contestant, "spec", None)
        notice = zoo.licence_notice(spec) if spec else None
        if notice:
            print(dim(notice), file=sys.stderr)


def perplexity(*, model: str = "smollm2-135m-instruct", file: str, window: int = 512, stride: int = 256,
               max_tokens: int | None = None, backend: str = "auto", json: bool = False) -> int:
    """Perplexity of a text file with a sliding window: token perplexity, bits per byte, word perplexity.

    Windows of WINDOW tokens start every STRIDE tokens; each token is scored once, from the tokens
    before it in its window (Hugging Face's strided method). The report states the count used.

    Args:
        model: a zoo model, a local model folder, or MODEL@BACKEND.
        file: a UTF-8 text file.
        window: tokens the model sees at once (at most its context).
        stride: tokens between window starts (≤ window; smaller = more context per token, slower).
        max_tokens: score only the first N tokens of the file.
        backend: auto, native, hf, fast, fast-bf16, fast-int8 or fast-int4 (ignored when MODEL@BACKEND is given).
        json: print JSON.
    """
    from llm_playground.evaluation import perplexity as compute, resolve_contestant

    path = Path(file).expanduser()
    if not path.is_file():
        raise PlaygroundError(f"file {path} does not exist")
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise PlaygroundError(f"{path} is empty; give a file with some text")
    if window < 2 or not 1 <= stride <= window:
        raise PlaygroundError(f"need window ≥ 2 and 1 ≤ stride ≤ window (got window {window}, stride {stride})")
    contestant = resolve_contestant(model if "@" in model else f"{model}@{backend}")
    _notice([contestant])
    with _bar(f"perplexity · {contestant.label}", quiet=json) as bar:
        result = compute(contestant, text, window=window, stride=stride, max_tokens=max_tokens, progress=_follow(bar))
    if json:
        print_json(result.to_dict())
        return 0
    print(f"{contestant.label} on {path.name}: token perplexity {result.token_perplexity:.4f}, "
          f"{result.bits_per_byte:.4f} bits per byte, word perplexity {result.word_perplexity:.3f}")
    print(dim(f"method: {result.method}"))
    print(dim(f"(Hugging Face's guide loop, which counts one token fewer per later window, would print "
              f"{result.guide_perplexity:.4f}; {result.seconds:.1f} s)"))
    return 0


def rouge(*, prediction: str, reference: str, stemmer: bool = False, json: bool = False) -> int:
    """ROUGE-1/2/L/Lsum (rouge-score), BLEU and chrF (sacrebleu) of a prediction against a reference, explained.

    Shows the tokens, the matched n-grams and the precision/recall/F arithmetic behind every number.

    Args:
        prediction: the generated text.
        reference: the reference text.
        stemmer: use rouge-score's Porter stemmer (off by default, as in rouge-score).
        json: print JSON.
    """
    from llm_playground.evaluation.overlap import format_report, overlap_report

    report = overlap_report(prediction, reference, use_stemmer=stemmer)
    if json:
        print_json(report.to_dict())
    else:
        print(format_report(report))
    return 0


def tasks(*, json: bool = False) -> int:
    """List the built-in tasks (name, kind, source); any task file (.yaml) can be passed by path too.

    Args:
        json: print JSON.
    """
    from llm_playground.evaluation.tasks import builtin_tasks, load_task

    rows = []
    for name, path in builtin_tasks().items():
        task = load_task(name)
        rows.append({"name": name, "kind": task.kind, "source": task.source_label, "description": task.description,
                     "file": str(path)})
    if json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']:<12} {row['kind']:<16} {row['description']}")
        print(dim(f"{'':<12} {row['source']}   ({row['file']})"))
    print(dim("\nwrite your own: copy one of these files, change data/prompt/choices/answer, pass its path to --tasks"))
    return 0


def run(*, models: str = "smollm2-135m-instruct", tasks: str = "arithmetic,quartz,perplexity", limit: int | None = 100,
        output: str | None = None, png: str | None = None, json: bool = False) -> int:
    """Run tasks on models, save the results as JSON and print the leaderboard (with a PNG chart).

    A model is NAME or NAME@BACKEND (a zoo model or a local folder; backends: auto, native, hf, fast,
    fast-bf16, fast-int8, fast-int4), so precisions compare side by side: smollm2-135m-instruct@fast,
    smollm2-135m-instruct@fast-int4. Tasks are built-in names (llmpg eval tasks) or .yaml task files.

    Args:
        models: comma-separated models.
        tasks: comma-separated task names or task files.
        limit: items per task (HumanEval: problems); 0 runs everything.
        output: where to write the JSON results (default: $LLMPG_HOME/evaluations/eval-DATE.json).
        png: where to write the leaderboard chart (default: next to the JSON).
        json: print the results JSON instead of the table.
    """
    from llm_playground.evaluation import load_tasks, resolve_contestants
    from llm_playground.evaluation.suite import default_results_path, leaderboard_text, run_suite, save_leaderboard_png

    if limit is not None and limit < 0:
        raise PlaygroundError(f"limit must be 0 (everything) or more (got {limit})")
    task_list = load_tasks(tasks)
    contestants = resolve_contestants(models)
    _notice(contestants)
    with _bar("eval", quiet=json) as bar:
        def progress(label, done, total):
            bar.total = total
            bar.set_description_str(label, refresh=False)
            bar.update(done - bar.n)
        results = run_suite(contestants, task_list, limit=limit or None, progress=progress)
    path = results.save(output or default_results_path())
    chart = save_leaderboard_png(results, png or path.with_suffix(".png"))
    if json:
        print_json(results.to_dict())
        return 0
    print(leaderboard_text(results))
    print(dim(f"\nresults: {path}\nchart:   {chart}"))
    return 0


def report(*, results: list[str] | None = None, png: str | None = None, json: bool = False) -> int:
    """Print the leaderboard of saved results (the latest run by default) and write its PNG chart.

    Args:
        results: a results JSON file (repeat to merge several runs); default: the latest in $LLMPG_HOME/evaluations.
        png: where to write the chart (default: next to the first results file).
        json: print the merged rows as JSON.
    """
    from llm_playground.evaluation.suite import SuiteResults, latest_results, leaderboard_text, save_leaderboard_png

    paths = [Path(p) for p in results] if results else [latest_results()]
    merged = SuiteResults.load(paths[0])
    for path in paths[1:]:
        merged = merged.merged(SuiteResults.load(path))
    if not merged.rows:
        raise PlaygroundError(f"{paths[0]} holds no results")
    if json:
        print_json([row.__dict__ for row in merged.rows])
        return 0
    print(leaderboard_text(merged))
    chart = save_leaderboard_png(merged, png or paths[0].with_suffix(".png"))
    print(dim(f"\nchart: {chart}"))
    return 0


def humaneval(*, model: str = "smollm2-135m-instruct", samples: int = 1, k: str = "1", limit: int | None = 10,
              temperature: float = 0.0, max_new_tokens: int = 256, timeout: float = 3.0, show: int = 3,
              json: bool = False) -> int:
    """HumanEval: complete Python functions, run them with their tests in the sandbox, report pass@k.

    Every completion runs in a separate process with CPU, memory, file-size and process limits, a
    private temporary directory, no network and a wall-clock timeout (`llmpg eval sandbox` shows the
    layers). pass@k uses the unbiased estimator 1 − C(n−c, k)/C(n, k).

    Args:
        model: NAME or NAME@BACKEND.
        samples: completions per problem (n).
        k: comma-separated k values for pass@k (each ≤ samples).
        limit: the first N of the 164 problems (0: all).
        temperature: 0 is greedy; use about 0.8 with several samples.
        max_new_tokens: longest completion.
        timeout: seconds each program may run.
        show: print this many completions with their outcome.
        json: print JSON.
    """
    from llm_playground.evaluation import resolve_contestant, run_humaneval

    try:
        ks = [int(x) for x in k.split(",") if x.strip()]
    except ValueError:
        raise PlaygroundError(f"k must be comma-separated whole numbers such as 1,10 (got {k!r})") from None
    contestant = resolve_contestant(model)
    _notice([contestant])
    with _bar(f"humaneval · {contestant.label}", quiet=json) as bar:
        result = run_humaneval(contestant, samples=samples, ks=ks, limit=limit or None, temperature=temperature,
                               max_new_tokens=max_new_tokens, timeout=timeout, progress=_follow(bar))
    if json:
        print_json(result.to_dict())
        return 0
    for sample in result.samples[:show]:
        print(dim(f"── {sample.task_id}: {sample.status} ({sample.reason})"))
        print(sample.completion.rstrip() or dim("(empty completion)"))
    scores = ", ".join(f"pass@{k} = {result.pass_at(k):.3f}" for k in ks)
    print(f"\n{contestant.label}: {scores} over {result.problems} problems × {samples} samples ({result.seconds:.1f} s)")
    return 0


def judge(*, models: str, judge: str = "smollm2-135m-instruct", prompts: str | None = None, limit: int | None = None,
          max_new_tokens: int = 96, json: bool = False) -> int:
    """LLM-as-judge: two models answer the same prompts; a judge compares the answers in both orders.

    Prints the judge's prompt, each verdict, wins/ties/losses and the score with a 95% confidence interval.

    Args:
        models: the two contestants, FIRST,SECOND (NAME or NAME@BACKEND).
        judge: the judge model (NAME or NAME@BACKEND).
        prompts: a .jsonl file with a "prompt" field per line, or a text file with one prompt per line (default: 12 built-in prompts).
        limit: use the first N prompts.
        max_new_tokens: longest answer of each contestant.
        json: print JSON.
    """
    from llm_playground.evaluation import judge_pair, read_prompts, resolve_contestant, resolve_contestants
    from llm_playground.evaluation.judge import format_judgement

    pair = resolve_contestants(models)
    if len(pair) != 2:
        raise PlaygroundError(f"judge compares exactly two models, FIRST,SECOND (got {len(pair)})")
    referee = resolve_contestant(judge)
    questions = read_prompts(prompts, limit)
    _notice([*pair, referee])
    with warnings.catch_warnings(record=True) as caught, _bar("judging", quiet=json) as bar:
        warnings.simplefilter("always")
        result = judge_pair(pair[0], pair[1], referee, questions, max_new_tokens=max_new_tokens,
                            progress=_follow(bar))
    for warning in caught:
        print(f"llmpg: warning: {warning.message}", file=sys.stderr)
    if json:
        print_json(result.to_dict())
    else:
        print(format_judgement(result))
    return 0


def sandbox(*, json: bool = False) -> int:
    """Show how the code sandbox contains programs on this machine, and prove it on a harmless and a hostile program.

    Args:
        json: print JSON.
    """
    from llm_playground.evaluation.sandbox import SandboxLimits, containment, run_sandboxed

    layers = containment()
    checks = {"print('hello')": "a harmless program", "import os\nwhile True:\n    os.fork()": "a fork bomb",
              "bytearray(10 * 1024 ** 3)": "a 10 GB allocation",
              "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)": "a network connection"}
    outcomes = {label: run_sandboxed(code, SandboxLimits(wall_seconds=3, cpu_seconds=3))
                for code, label in checks.items()}
    if json:
        print_json({"layers": layers, "checks": {k: v.to_dict() for k, v in outcomes.items()}})
        return 0
    for name, text in layers.items():
        print(f"{name:<11} {text}")
    print()
    for label, result in outcomes.items():
        print(f"{label:<22} {result.status:<8} {result.reason}")
    return 0


COMMANDS = {
    "eval": ("Evaluation lab: perplexity, ROUGE/BLEU, multiple choice, HumanEval, LLM-as-judge, leaderboards", {
        "perplexity": perplexity, "rouge": rouge, "tasks": tasks, "run": run, "report": report,
        "humaneval": humaneval, "judge": judge, "sandbox": sandbox}),
}
