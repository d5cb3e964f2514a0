"""Summarization by the instruct model, with a length limit, scored with ROUGE.

No summarization model (BART, T5, Pegasus) installs offline, so the instruct model does it:
SmolLM2-Instruct gets "Summarize the following text in one sentence of at most N words." and the
text, and decodes greedily. The length limit is held two ways: the instruction asks for at most N
words, and generation stops at ⌈1.5·N⌉ + 8 tokens (a word is about 1.3 tokens of English); the
output says when the cap cut a summary.

ROUGE (Lin, 2004) counts overlap with a reference summary: ROUGE-1 unigrams, ROUGE-2 bigrams,
ROUGE-L the longest common subsequence, each as an F-measure of precision and recall. We use
`rouge-score` (Google's reference implementation) with its Porter stemmer.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

from llm_playground.errors import PlaygroundError

DEFAULT_MODEL = "smollm2-135m-instruct"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
PROMPT = "Summarize the following text in one sentence of at most {max_words} words.\n\nText: {text}"


@dataclass
class Summary:
    """One summary, how it was made, and its ROUGE scores when a reference was given."""

    text: str
    summary: str
    model: str
    max_words: int
    words: int
    new_tokens: int
    hit_token_cap: bool
    """True when generation stopped at the token cap instead of ending by itself."""
    seconds: float
    reference: str | None = None
    rouge: dict[str, dict[str, float]] = field(default_factory=dict)
    """{"rouge1": {"precision", "recall", "f"}, …} against the reference."""

    def to_dict(self) -> dict:
        return asdict(self)


def rouge(prediction: str, reference: str) -> dict[str, dict[str, float]]:
    """ROUGE-1, ROUGE-2 and ROUGE-L (precision, recall, F-measure) of a prediction against a reference."""
    from rouge_score import rouge_scorer

    if not reference or not reference.strip():
        raise PlaygroundError("the reference summary is empty; give the summary to compare with")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    scores = scorer.score(reference, prediction)
    return {name: {"precision": s.precision, "recall": s.recall, "f": s.fmeasure} for name, s in scores.items()}


def token_cap(max_words: int) -> int:
    """New tokens allowed for a summary of at most `max_words` words."""
    return math.ceil(1.5 * max_words) + 8


def summarize(text: str, *, model: str = DEFAULT_MODEL, max_words: int = 30, reference: str | None = None) -> Summary:
    """A one-sentence summary of `text` by a chat model (greedy), scored against `reference` if given."""
    from llm_playground import zoo
    from llm_playground.generation import GenerationConfig
    from llm_playground.generation import generate as generate_text

    if not text or not text.strip():
        raise PlaygroundError("the text to summarize is empty")
    if not isinstance(max_words, int) or not 3 <= max_words <= 200:
        raise PlaygroundError(f"max_words must be between 3 and 200 (got {max_words})")
    if reference is not None and not reference.strip():
        raise PlaygroundError("the reference summary is empty; give the summary to compare with, or leave it out")
    spec = zoo.resolve(model)
    if spec.kind != "chat":
        raise PlaygroundError(f"summarization needs an instruction-following chat model (smollm2-135m-instruct); "
                              f"{spec.name} is {spec.label}")
    config = GenerationConfig(max_new_tokens=token_cap(max_words), strategy="greedy")
    started = time.perf_counter()
    completion = generate_text(model, PROMPT.format(max_words=max_words, text=text.strip()), config)
    summary = completion.text.strip()
    result = Summary(text=text, summary=summary, model=spec.name, max_words=max_words, words=len(summary.split()),
                     new_tokens=len(completion.steps), hit_token_cap=completion.finish_reason == "length",
                     seconds=time.perf_counter() - started, reference=reference)
    if reference:
        result.rouge = rouge(summary, reference)
    return result


@dataclass
class SummaryBench:
    """Summaries of a set of articles and their mean ROUGE F-measures."""

    model: str
    max_words: int
    summaries: list[Summary]
    mean_f: dict[str, float]
    items_per_second: float
    seconds: float
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


def summarization_bench(*, model: str = DEFAULT_MODEL, max_words: int = 30, data: str | None = None,
                        limit: int | None = None, progress: bool = True) -> SummaryBench:
    """Summarize every article of the project's set (or a JSONL file) and average ROUGE."""
    from tqdm.auto import tqdm

    from llm_playground.pipelines.data import summary_set

    items = summary_set(data)[:limit] if limit else summary_set(data)
    started = time.perf_counter()
    summaries = [summarize(item.article, model=model, max_words=max_words, reference=item.reference)
                 for item in tqdm(items, desc="summarizing", unit="article", disable=not progress)]
    seconds = time.perf_counter() - started
    mean_f = {name: sum(s.rouge[name]["f"] for s in summaries) / len(summaries) for name in ROUGE_TYPES}
    return SummaryBench(model=summaries[0].model, max_words=max_words, summaries=summaries, mean_f=mean_f,
                        items_per_second=len(summaries) / seconds, seconds=seconds,
                        source=data or "the project's summaries.jsonl")
