"""Declarative task files: a user adds a benchmark by writing YAML, not code.

A multiple-choice task (every field below but `name`, `data`, `prompt`, `choices` and `answer` is optional):

    name: quartz
    description: QuaRTz qualitative-relations questions, from OpenAI's evals
    kind: multiple_choice
    data:
      evals: quartz/samples.jsonl        # a data file inside the evals wheel; or
      # file: my_items.jsonl             # JSON lines next to this task file; or
      # items: [{q: ..., a: ...}, ...]   # the items themselves
    extract:                             # optional: regexes that pull fields out of a text
      from: "{{ input[-1].content }}"    # the text they search (a template over the record)
      fields:
        question: '(?s)^(.*?)\\n\\n A:'    # the first group (or the whole match) becomes `question`
        options: {findall: '(?m)^ [A-Z]: (.*)$'}   # every match becomes the list `options`
    prompt: "Question: {{ question }}\\nAnswer:"
    choices: "{{ options | tojson }}"    # a YAML list of templates, or one template rendering a JSON list
    answer: "{{ 'ABCDE'.index(ideal) }}" # the 0-based index of the right choice, or its text
    target_delimiter: " "                # put between prompt and choice (lm-eval's default)

Templates are Jinja2 (sandboxed, strict: an unknown name is an error) over the record's fields and
the extracted ones. Each choice is scored as the log-likelihood of `target_delimiter + choice`
after the prompt; `acc` and `acc_norm` follow lm-evaluation-harness (see `multiple_choice.py`).

A perplexity task names a text (`data: {corpus: shakespeare}` or `data: {file: some.txt}`) and its
`window`, `stride` and `max_tokens`. A HumanEval task is `kind: humaneval`.

Errors name the file, the line and the field.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_playground.errors import PlaygroundError, unknown_name

BUILTIN_DIR = Path(__file__).parent / "tasks"
KINDS = ("multiple_choice", "perplexity", "humaneval")
_TOP_FIELDS = {"name", "description", "kind", "licence", "data", "extract", "prompt", "choices", "answer",
               "target_delimiter", "window", "stride", "max_tokens", "samples", "temperature", "max_new_tokens",
               "timeout"}
_DATA_SOURCES = ("evals", "file", "items", "corpus", "human_eval")


class TaskFileError(PlaygroundError):
    """A task file that cannot be read: the message names the file, line and field."""


@dataclass
class _Where:
    """Line numbers of a YAML document's fields (1-based), for error messages."""

    file: str
    lines: dict[tuple, int]

    def line(self, *path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, message: str, *path) -> TaskFileError:
        line = self.line(*path)
        where = f"{self.file}, line {line}" if line else self.file
        field_name = ".".join(str(p) for p in path)
        return TaskFileError(f"{where}, field '{field_name}': {message}" if path else f"{where}: {message}")


def _node_lines(node, path: tuple, lines: dict) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            lines[child] = key.start_mark.line + 1
            _node_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            lines[path + (index,)] = value.start_mark.line + 1
            _node_lines(value, path + (index,), lines)


def _parse_yaml(text: str, file: str) -> tuple[dict, _Where]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{file}, line {mark.line + 1}" if mark else file
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise TaskFileError(f"{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise TaskFileError(f"{file}: a task file is a YAML mapping (name: …, data: …, prompt: …)")
    lines: dict[tuple, int] = {}
    _node_lines(node, (), lines)
    return data, _Where(file, lines)


# --- templates ------------------------------------------------------------------------------
def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


@dataclass
class Template:
    """A compiled Jinja2 template and the field it came from."""

    source: str
    field: tuple
    compiled: Any

    def render(self, values: dict) -> str:
        return self.compiled.render(**values)


def _template(where: _Where, value: Any, *path) -> Template:
    from jinja2 import TemplateSyntaxError

    if not isinstance(value, (str, int, float)):
        raise where.error(f"must be a text template, got {type(value).__name__}", *path)
    try:
        return Template(str(value), path, _environment().from_string(str(value)))
    except TemplateSyntaxError as error:
        raise where.error(f"template syntax error: {error.message}", *path) from None


@dataclass
class Extractor:
    """Regexes over a rendered text; each named field becomes a string (search) or a list (findall)."""

    text: Template
    fields: dict[str, tuple[str, re.Pattern]]  # name → ("search" | "findall", pattern)

    def apply(self, record: dict) -> dict:
        text = self.text.render(record)
        values = {}
        for name, (mode, pattern) in self.fields.items():
            if mode == "findall":
                found = pattern.findall(text)
                if not found:
                    raise PlaygroundError(f"extract.fields.{name}: no match for {pattern.pattern!r} in {text[:160]!r}")
                values[name] = [m if isinstance(m, str) else m[0] for m in found]
            else:
                match = pattern.search(text)
                if match is None:
                    raise PlaygroundError(f"extract.fields.{name}: no match for {pattern.pattern!r} in {text[:160]!r}")
                values[name] = match.group(1) if pattern.groups else match.group(0)
        return values


@dataclass
class Item:
    """One multiple-choice item, rendered."""

    index: int
    prompt: str
    choices: list[str]
    answer: int
    """0-based index of the right choice."""


@dataclass
class Task:
    """A task read from a task file (validated; templates compiled)."""

    name: str
    kind: str
    description: str = ""
    licence: str = ""
    file: str = ""
    data: dict = field(default_factory=dict)
    extract: Extractor | None = None
    prompt: Template | None = None
    choices: list[Template] | Template | None = None
    answer: Template | None = None
    target_delimiter: str = " "
    window: int = 512
    stride: int = 256
    max_tokens: int = 4096
    samples: int = 1
    temperature: float = 0.8
    max_new_tokens: int = 384
    timeout: float = 3.0
    where: _Where | None = None

    @property
    def source_label(self) -> str:
        """Where the items come from, in words."""
        key = next((k for k in _DATA_SOURCES if k in self.data), "")
        value = self.data.get(key)
        if key == "items":
            return f"{len(value)} items written in {Path(self.file).name}"
        if key == "human_eval":
            return "human-eval package (164 problems)"
        return f"{key}: {value}"

    # --- reading the data -------------------------------------------------------------------
    def records(self) -> list[dict]:
        """The raw records (or, for perplexity, [{'text': …}])."""
        from llm_playground.evaluation import sources

        if "items" in self.data:
            return list(self.data["items"])
        if "evals" in self.data:
            return sources.read_evals_records(str(self.data["evals"]))
        if "human_eval" in self.data:
            return sources.humaneval_problems()
        if "corpus" in self.data:
            from llm_playground.assets.corpora import corpus_text

            return [{"text": corpus_text(str(self.data["corpus"]))}]
        path = Path(self.file).parent / str(self.data["file"])
        if not path.is_file():
            raise self.where.error(f"the data file {path} does not exist", "data", "file")
        text = path.read_text(encoding="utf-8")
        if self.kind == "perplexity":
            return [{"text": text}]
        return sources.parse_jsonl(text, str(path))

    def items(self, limit: int | None = None) -> list[Item]:
        """The first `limit` items rendered (all when None); a record that does not render raises
        an error naming the item and the field."""
        if self.kind != "multiple_choice":
            raise PlaygroundError(f"task {self.name} is a {self.kind} task, not multiple choice")
        records = self.records()
        if not records:
            raise PlaygroundError(f"task {self.name} has no items ({self.source_label}): the dataset is empty")
        return [self.render(index, record) for index, record in enumerate(records[:limit] if limit else records)]

    def render(self, index: int, record: dict) -> Item:
        from jinja2 import TemplateError

        if not isinstance(record, dict):
            raise PlaygroundError(f"task {self.name}, item {index + 1}: a record must be a JSON object, got {record!r:.80}")
        current = "extract"
        try:
            values = dict(record)
            if self.extract is not None:
                values.update(self.extract.apply(record))
            current = "prompt"
            prompt = self.prompt.render(values)
            current = "choices"
            if isinstance(self.choices, Template):
                rendered = self.choices.render(values)
                try:
                    choices = json.loads(rendered)
                except json.JSONDecodeError:
                    raise PlaygroundError(f"rendered {rendered[:80]!r}, which is not a JSON list (end the template "
                                          "with | tojson)") from None
                if not isinstance(choices, list):
                    raise PlaygroundError(f"rendered {rendered[:80]!r}, not a list")
                choices = [str(c) for c in choices]
            else:
                choices = [t.render(values) for t in self.choices]
            if len(choices) < 2:
                raise PlaygroundError(f"has {len(choices)} choice(s); a multiple-choice item needs at least 2")
            current = "answer"
            answer_text = self.answer.render(values).strip()
            answer = _answer_index(answer_text, choices)
        except (PlaygroundError, TemplateError, ValueError, TypeError, IndexError, KeyError) as error:
            message = getattr(error, "message", None) or str(error)
            line = self.where.line(current) if self.where else None
            at = f" ({Path(self.file).name}, line {line})" if line else ""
            raise PlaygroundError(f"task {self.name}, item {index + 1}, field '{current}'{at}: {message}") from None
        return Item(index=index, prompt=prompt, choices=choices, answer=answer)


def _answer_index(answer: str, choices: list[str]) -> int:
    if re.fullmatch(r"-?\d+", answer):
        index = int(answer)
        if not 0 <= index < len(choices):
            raise PlaygroundError(f"answer index {index} is outside the {len(choices)} choices (0-based)")
        return index
    if answer in choices:
        return choices.index(answer)
    stripped = [c.strip() for c in choices]
    if answer in stripped:
        return stripped.index(answer)
    raise PlaygroundError(f"answer {answer!r} is neither a 0-based index nor one of the choices {choices!r:.120}")


def _positive(where: _Where, data: dict, key: str, kind: type | tuple, default):
    value = data.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool) or value <= 0:
        what = "number" if isinstance(kind, tuple) else "whole number" if kind is int else kind.__name__
        raise where.error(f"must be a positive {what} (got {value!r})", key)
    return value


def parse_task(text: str, file: str = "<task>") -> Task:
    """A Task from the text of a task file; every problem raises TaskFileError with file, line and field."""
    import re as _re

    data, where = _parse_yaml(text, file)
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise where.error(f"unknown field; known fields: {', '.join(sorted(_TOP_FIELDS))}", unknown[0])
    name = data.get("name")
    if not isinstance(name, str) or not _re.fullmatch(r"[A-Za-z0-9][\w.-]*", name or ""):
        raise where.error(f"must be a name of letters, digits, '-', '_' or '.' (got {name!r})", "name")
    kind = data.get("kind", "multiple_choice")
    if kind not in KINDS:
        raise where.error(f"must be one of {', '.join(KINDS)} (got {kind!r})", "kind")
    source = data.get("data")
    if not isinstance(source, dict) or len([k for k in source if k in _DATA_SOURCES]) != 1:
        raise where.error(f"must name exactly one source: {', '.join(_DATA_SOURCES)}", "data")
    extra = sorted(set(source) - set(_DATA_SOURCES))
    if extra:
        raise where.error(f"unknown source; use one of {', '.join(_DATA_SOURCES)}", "data", extra[0])
    if "items" in source and (not isinstance(source["items"], list) or not source["items"]):
        raise where.error("must be a non-empty list of items (the dataset is empty)", "data", "items")
    task = Task(name=name, kind=kind, description=str(data.get("description", "")), licence=str(data.get("licence", "")),
                file=file, data=source, where=where)
    if kind == "perplexity":
        task.window = _positive(where, data, "window", int, 512)
        task.stride = _positive(where, data, "stride", int, task.window // 2)
        task.max_tokens = _positive(where, data, "max_tokens", int, 4096)
        if task.stride > task.window:
            raise where.error(f"must be at most the window ({task.window}); a larger stride skips tokens", "stride")
        return task
    if kind == "humaneval":
        task.samples = _positive(where, data, "samples", int, 1)
        task.temperature = data.get("temperature", 0.0)
        if not isinstance(task.temperature, (int, float)) or isinstance(task.temperature, bool) or task.temperature < 0:
            raise where.error(f"must be a number ≥ 0 (0 is greedy; got {task.temperature!r})", "temperature")
        task.max_new_tokens = _positive(where, data, "max_new_tokens", int, 384)
        task.timeout = float(_positive(where, data, "timeout", (int, float), 3.0))
        return task
    for required in ("prompt", "choices", "answer"):
        if required not in data:
            raise where.error(f"missing field '{required}' (a multiple-choice task needs prompt, choices and answer)")
    if "extract" in data:
        task.extract = _extractor(where, data["extract"])
    task.prompt = _template(where, data["prompt"], "prompt")
    choices = data["choices"]
    if isinstance(choices, list):
        if len(choices) < 2:
            raise where.error("needs at least 2 choices", "choices")
        task.choices = [_template(where, c, "choices", i) for i, c in enumerate(choices)]
    else:
        task.choices = _template(where, choices, "choices")
    task.answer = _template(where, data["answer"], "answer")
    delimiter = data.get("target_delimiter", " ")
    if not isinstance(delimiter, str):
        raise where.error(f"must be a string such as \" \" or \"\" (got {delimiter!r})", "target_delimiter")
    task.target_delimiter = delimiter
    return task


def _extractor(where: _Where, spec: Any) -> Extractor:
    if not isinstance(spec, dict) or "from" not in spec or not isinstance(spec.get("fields"), dict):
        raise where.error("must have 'from' (a template) and 'fields' (name: regex)", "extract")
    fields = {}
    for name, rule in spec["fields"].items():
        mode, pattern = ("findall", rule.get("findall")) if isinstance(rule, dict) else ("search", rule)
        if not isinstance(pattern, str):
            raise where.error("must be a regex, or {findall: regex}", "extract", "fields", name)
        try:
            fields[name] = (mode, re.compile(pattern))
        except re.error as error:
            raise where.error(f"not a valid regex ({error})", "extract", "fields", name) from None
    return Extractor(_template(where, spec["from"], "extract", "from"), fields)


# --- finding tasks --------------------------------------------------------------------------
def builtin_tasks() -> dict[str, Path]:
    """Task name → file, for the task files that ship with llm-playground."""
    tasks = {}
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        tasks[path.stem] = path
    return tasks


def load_task(name_or_path: str) -> Task:
    """A built-in task by name, or a task file by path."""
    path = Path(name_or_path).expanduser()
    if name_or_path.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise PlaygroundError(f"task file {path} does not exist")
        return parse_task(path.read_text(encoding="utf-8"), str(path))
    known = builtin_tasks()
    if name_or_path not in known:
        raise unknown_name("task", name_or_path, known)
    return parse_task(known[name_or_path].read_text(encoding="utf-8"), str(known[name_or_path]))


def load_tasks(names: str | list[str]) -> list[Task]:
    """Comma-separated names or paths → tasks (all checked before any model work)."""
    items = names.split(",") if isinstance(names, str) else list(names)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise PlaygroundError("no tasks given; `llmpg eval tasks` lists them")
    return [load_task(item) for item in items]
