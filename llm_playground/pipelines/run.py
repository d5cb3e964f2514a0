"""`run_task`: one entry for every task (what `llmpg pipeline <task>` calls), and text rendering."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_playground.errors import PlaygroundError
from llm_playground.pipelines.tasks import get_task

OFFLINE_NOTE = ("transformers' pipeline would download {default}; no such model installs offline, so this runs "
                "with {method}")


@dataclass
class PipelineResult:
    """What a task returns: its name, the method used, the output object, and notes for the user."""

    task: str
    method: str
    output: Any
    """ClassificationOutput, list[Summary], Features or list[Completion]."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        output = self.output
        if isinstance(output, list):
            data = [item.to_dict() for item in output]
        else:
            data = output.to_dict()
        return {"task": self.task, "method": self.method, "output": data, "notes": self.notes}


def run_task(task: str, texts: list[str] | None, *, method: str | None = None, labels: list[str] | None = None,
             model: str | None = None, max_words: int = 30, reference: str | None = None,
             max_new_tokens: int = 64) -> PipelineResult:
    """Run `task` (a transformers task name or alias) on `texts` with `method` (default: the task's first).

    Options apply to some tasks only: labels (zero-shot-classification), model (text-generation,
    summarization), max_words and reference (summarization), max_new_tokens (text-generation); one
    given to a task that does not use it is an error rather than silently ignored.
    """
    spec = get_task(task)
    method = spec.check_method(method)
    texts = list(texts or [])
    if not texts:
        raise PlaygroundError(f"give the text(s) for {spec.name}, e.g. llmpg pipeline {task} \"Some text.\"")
    if labels is not None and spec.name != "zero-shot-classification":
        raise PlaygroundError(f"labels are for zero-shot-classification; {spec.name} has its own "
                              + ("labels (positive, negative, neutral)" if spec.name == "text-classification" else "output"))
    if reference is not None and spec.name != "summarization":
        raise PlaygroundError("a reference summary is for the summarization task")
    if model is not None and spec.name not in ("summarization", "text-generation"):
        raise PlaygroundError(f"{spec.name} runs with the model of its method ({method}); choose a method instead of a model")
    notes = [OFFLINE_NOTE.format(default=spec.transformers_default, method=method)]
    if spec.name == "text-classification":
        from llm_playground.pipelines.classification import classify_sentiment

        output = classify_sentiment(texts, method)
        return PipelineResult(spec.name, method, output, notes + output.notes)
    if spec.name == "zero-shot-classification":
        from llm_playground.pipelines.classification import classify_zero_shot

        output = classify_zero_shot(texts, labels, method)
        return PipelineResult(spec.name, method, output, notes + output.notes)
    if spec.name == "summarization":
        from llm_playground.pipelines.summarization import DEFAULT_MODEL, summarize

        if reference is not None and len(texts) != 1:
            raise PlaygroundError("a reference summary goes with one text; give one text, or leave the reference out")
        summaries = [summarize(text, model=model or DEFAULT_MODEL, max_words=max_words, reference=reference)
                     for text in texts]
        return PipelineResult(spec.name, method, summaries, notes)
    if spec.name == "feature-extraction":
        from llm_playground.pipelines.features import extract_features

        output = extract_features(texts, method)
        return PipelineResult(spec.name, method, output, [OFFLINE_NOTE.format(
            default=spec.transformers_default, method=f"minilm-l6 ({method})")] + output.notes)
    from llm_playground.generation import GenerationConfig, generate

    config = GenerationConfig(max_new_tokens=max_new_tokens)
    completions = [generate(model or "smollm2-135m-instruct", text, config) for text in texts]
    return PipelineResult(spec.name, method, completions, [OFFLINE_NOTE.format(
        default=spec.transformers_default, method=completions[0].model)])


def format_result(result: PipelineResult) -> str:
    """A pipeline's result as text, led by the method it used."""
    lines = [f"{result.task} — method: {result.method}"]
    output = result.output
    if result.task in ("text-classification", "zero-shot-classification"):
        lines[0] += f" ({output.method_description})"
        for prediction in output.predictions:
            scores = ", ".join(f"{label} {score:.3f}" for label, score in
                               sorted(prediction.scores.items(), key=lambda item: -item[1]))
            lines.append(f"  {prediction.label:<10} {prediction.score:.3f}  {prediction.text!r}   [{scores}]")
    elif result.task == "summarization":
        for item in output:
            cap = ", stopped at the token cap" if item.hit_token_cap else ""
            lines.append(f"  summary ({item.words} words, limit {item.max_words}{cap}; {item.seconds:.1f} s): {item.summary}")
            if item.rouge:
                lines.append("  ROUGE F: " + ", ".join(f"{name} {score['f']:.3f}" for name, score in item.rouge.items())
                             + f"  (against: {item.reference})")
    elif result.task == "feature-extraction":
        for text, tokens, vector in zip(output.texts, output.tokens, output.vectors):
            head = ", ".join(f"{x:.4f}" for x in (vector[0] if vector.ndim == 2 else vector)[:5].tolist())
            lines.append(f"  {text!r}: shape {list(vector.shape)}"
                         + (f", tokens {tokens}" if tokens else f", norm {float(vector.norm()):.3f}")
                         + f"; first numbers [{head}, …]")
    else:
        for completion in output:
            lines.append(f"  generated_text: {completion.text!r}  ({len(completion.steps)} tokens, "
                         f"{completion.tokens_per_second:.1f} tokens/s)")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)

