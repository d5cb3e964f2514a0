"""The task names `llmpg pipeline` knows, as transformers spells them, with their methods."""
from __future__ import annotations

from dataclasses import dataclass

from llm_playground.errors import PlaygroundError, unknown_name


@dataclass(frozen=True)
class TaskSpec:
    """One task: its name, the methods that can run it, and what transformers would use."""

    name: str
    """transformers' task name."""
    methods: tuple[str, ...]
    """Methods in order of preference; the first is the default."""
    description: str
    transformers_default: str
    """The model transformers' pipeline would download for it (not installable offline)."""
    aliases: tuple[str, ...] = ()

    @property
    def default_method(self) -> str:
        return self.methods[0]

    def check_method(self, method: str | None) -> str:
        """The method to use (the default when None); an unknown one lists the task's methods."""
        if method is None or method == "":
            return self.default_method
        if method not in self.methods:
            raise PlaygroundError(f"{self.name} has no method {method!r}; its methods: {', '.join(self.methods)}")
        return method


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec("text-classification", ("embeddings-logreg", "embeddings-zero-shot", "llm-few-shot"),
             "sentiment of a text: positive, negative or neutral",
             "distilbert-base-uncased-finetuned-sst-2-english (two labels)", aliases=("sentiment-analysis",)),
    TaskSpec("zero-shot-classification", ("embeddings", "llm"),
             "pick one of the labels you give (--labels a,b,c)", "facebook/bart-large-mnli"),
    TaskSpec("summarization", ("llm",), "a short summary, scored with ROUGE against a reference when given",
             "sshleifer/distilbart-cnn-12-6 (or t5-small)"),
    TaskSpec("feature-extraction", ("tokens", "sentence"),
             "embedding vectors: one per token, or one per text", "distilbert-base-cased"),
    TaskSpec("text-generation", ("llm",), "continue or answer a prompt", "openai-community/gpt2"),
)}

ALIASES = {alias: spec.name for spec in TASKS.values() for alias in spec.aliases}


def known_task_names() -> list[str]:
    """Every name `get_task` accepts (tasks and aliases)."""
    return sorted([*TASKS, *ALIASES])


def get_task(name: str) -> TaskSpec:
    """The task called `name` (or an alias of it); an unknown name lists the known ones."""
    name = (name or "").strip()
    if name in ALIASES:
        name = ALIASES[name]
    if name not in TASKS:
        raise unknown_name("task", name, known_task_names())
    return TASKS[name]
