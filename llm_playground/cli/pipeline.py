"""`llmpg pipeline <task> …`: transformers' pipeline task names, run with the models we have offline."""
from __future__ import annotations

from llm_playground.cli.render import print_json


def pipeline(name: str, texts: list[str] | None = None, *, method: str | None = None, labels: str | None = None,
             model: str | None = None, max_words: int = 30, reference: str | None = None, max_new_tokens: int = 64,
             task: str | None = None, methods: str | None = None, data: str | None = None, limit: int | None = None,
             json: bool = False) -> int:
    """Run a task as transformers' pipeline() names it, and say which method ran it.

    Tasks: sentiment-analysis (= text-classification), zero-shot-classification, summarization,
    feature-extraction, text-generation; `llmpg pipeline list` lists them with their methods;
    `llmpg pipeline bench --task sentiment` measures every classification method on the labelled
    set (`--task summarization`: ROUGE of the summaries).
    Example: llmpg pipeline sentiment-analysis "I love this product! It's amazing!" --method llm-few-shot

    Args:
        name: a task name, "list", or "bench".
        texts: the texts to run the task on.
        method: how to run it (default: the task's first method; see llmpg pipeline list).
        labels: zero-shot-classification: the labels to choose from, comma-separated (at least two).
        model: summarization and text-generation: the chat model (default smollm2-135m-instruct).
        max_words: summarization: the longest summary asked for, in words.
        reference: summarization: a reference summary to score the summary against (ROUGE).
        max_new_tokens: text-generation: how many tokens to generate.
        task: bench only: sentiment or summarization.
        methods: bench --task sentiment: comma-separated methods (default: all three).
        data: bench --task summarization: a JSONL file of {"article", "reference"} (default: the project's set).
        limit: bench: use only the first N items.
        json: print the result as JSON.
    """
    from llm_playground.errors import PlaygroundError
    from llm_playground.pipelines.classification import parse_labels

    if name == "list":
        from llm_playground.pipelines.tasks import ALIASES, TASKS

        rows = [{"task": spec.name, "aliases": list(spec.aliases), "methods": list(spec.methods),
                 "description": spec.description, "transformers_default": spec.transformers_default}
                for spec in TASKS.values()]
        if json:
            print_json({"tasks": rows, "aliases": ALIASES})
            return 0
        for row in rows:
            alias = f" (alias: {', '.join(row['aliases'])})" if row["aliases"] else ""
            print(f"{row['task']}{alias}: {row['description']}\n  methods: {', '.join(row['methods'])} "
                  f"(default {row['methods'][0]}); transformers would download {row['transformers_default']}")
        return 0
    if name == "bench":
        if texts:
            raise PlaygroundError("bench runs on the project's labelled sets; give no texts")
        if task in ("sentiment", "sentiment-analysis", "text-classification"):
            from llm_playground.pipelines.bench import format_sentiment_bench, sentiment_bench

            result = sentiment_bench(parse_labels(methods), limit=limit, progress=not json)
            print_json(result.to_dict()) if json else print(format_sentiment_bench(result))
            return 0
        if task == "summarization":
            from llm_playground.pipelines.summarization import summarization_bench

            result = summarization_bench(model=model or "smollm2-135m-instruct", max_words=max_words, data=data,
                                         limit=limit, progress=not json)
            if json:
                print_json(result.to_dict())
                return 0
            for item in result.summaries:
                print(f"— {item.text[:70]}…\n  summary: {item.summary}\n  ROUGE-1/2/L F: "
                      + " / ".join(f"{item.rouge[n]['f']:.3f}" for n in ("rouge1", "rouge2", "rougeL")))
            print(f"\n{result.model}, {len(result.summaries)} articles ({result.source}): mean ROUGE-1 "
                  f"{result.mean_f['rouge1']:.3f}, ROUGE-2 {result.mean_f['rouge2']:.3f}, ROUGE-L "
                  f"{result.mean_f['rougeL']:.3f}; {result.items_per_second:.2f} articles/s")
            return 0
        raise PlaygroundError(f"bench needs a task: sentiment or summarization (got {task!r})")
    if task is not None or methods is not None or data is not None or limit is not None:
        raise PlaygroundError("task, methods, data and limit are options of `llmpg pipeline bench`")
    from llm_playground.pipelines.run import format_result, run_task

    result = run_task(name, texts, method=method, labels=parse_labels(labels), model=model, max_words=max_words,
                      reference=reference, max_new_tokens=max_new_tokens)
    if json:
        print_json(result.to_dict())
        return 0
    print(format_result(result))
    return 0


COMMANDS: dict = {"pipeline": pipeline}
