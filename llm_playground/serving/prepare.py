"""Requests → what the library runs: the served model, the exact prompt ids, one `GenerationConfig`
per choice (its constraint from response_format or tools), and the context-window check.

Nothing here decides about tokens: the chat template, the constraint engine and the generator do.
This module only translates OpenAI's and Anthropic's names into ours, and checks what needs the model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation.api import choose_backend
from llm_playground.generation.cancel import StopSignal
from llm_playground.generation.chat import Message, PreparedPrompt, prepare_prompt
from llm_playground.generation.config import GenerationConfig
from llm_playground.serving import schemas
from llm_playground.serving.engine import EngineRequest
from llm_playground.serving.errors import ApiError, from_library
from llm_playground.serving.tools import FunctionTool, ToolPlan, check_parameters
from llm_playground.structured import Constraint

DEFAULT_MAX_TOKENS = 1024
"""New tokens when a request does not say (never more than the context window leaves)."""


@dataclass
class ServedModels:
    """The models this server answers for: the id clients send → the resolved spec."""

    specs: dict[str, zoo.ModelSpec]
    backend: str = "auto"
    """The engine generation uses (auto: the fast engine for Llama models)."""

    @classmethod
    def from_names(cls, names: list[str], backend: str = "auto") -> "ServedModels":
        """`names`: zoo names, local model names or folders, each optionally `id=name-or-folder`."""
        specs = {}
        for entry in names:
            served, _, target = entry.partition("=")
            served, target = (served.strip(), target.strip()) if target else (entry.strip(), entry.strip())
            if not served:
                raise PlaygroundError(f"models: {entry!r} has no name; write NAME or ID=NAME-OR-FOLDER")
            specs[served] = zoo.resolve(target)
        if not specs:
            raise PlaygroundError("models: give at least one model to serve")
        if backend != "auto":
            from llm_playground.generation.backends import BACKENDS

            if backend not in BACKENDS:
                raise PlaygroundError(f"unknown backend {backend!r}; choose auto, {', '.join(BACKENDS)}")
        return cls(specs, backend)

    def get(self, name: str, *, purpose: str) -> zoo.ModelSpec:
        """The spec for a request's model: 404 for one not served (listing the served ones), 400 for
        one that cannot do `purpose` ("generate" or "embed")."""
        spec = self.specs.get(name)
        if spec is None:
            raise ApiError(404, f"The model {name!r} does not exist on this server; the models served are: "
                                f"{', '.join(self.specs)}", param="model", code="model_not_found")
        if purpose == "generate" and not spec.generates:
            raise ApiError(400, f"{name} is an encoder: it makes embeddings (/v1/embeddings), it does not generate "
                                f"text; generating models here: {', '.join(self.generating())}", param="model")
        if purpose == "embed" and spec.kind != "encoder":
            raise ApiError(400, f"{name} generates text; embeddings come from an encoder: "
                                f"{', '.join(n for n, s in self.specs.items() if s.kind == 'encoder') or 'none served'}",
                           param="model")
        return spec

    def generating(self) -> list[str]:
        return [name for name, spec in self.specs.items() if spec.generates]


@dataclass
class Plan:
    """One prompt of a request, ready to generate its choices."""

    model: str
    """The id the client asked for (echoed in responses)."""
    spec: zoo.ModelSpec
    backend: str
    prompt: PreparedPrompt
    configs: list[GenerationConfig]
    """One per choice (n)."""
    eos_ids: set[int]
    tools: ToolPlan | None = None
    logprobs: int | None = None
    """None: not asked for; else how many alternatives per token."""
    time_limit: float | None = None
    signals: list[StopSignal] = field(default_factory=list)

    def requests(self) -> list[EngineRequest]:
        """One engine request per choice, each with its own stop signal."""
        self.signals = [StopSignal(time_limit=self.time_limit) for _ in self.configs]
        return [EngineRequest(self.spec, self.backend, list(self.prompt.ids), config, self.eos_ids, signal)
                for config, signal in zip(self.configs, self.signals)]

    def stop(self, reason: str) -> None:
        for signal in self.signals:
            signal.stop(reason)


# --- shared translation -------------------------------------------------------------------------

def _stop_list(stop: str | list[str] | None, param: str = "stop") -> list[str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if any(not s for s in stops):
        raise ApiError(400, f"{param} strings must not be empty", param=param)
    if len(stops) > schemas.MAX_STOP:
        raise ApiError(400, f"{param}: at most {schemas.MAX_STOP} stop strings (got {len(stops)})", param=param)
    return stops


def _max_new_tokens(spec: zoo.ModelSpec, prompt_tokens: int, asked: int | None, what: str, param: str) -> int:
    """The tokens to generate, or OpenAI's context_length_exceeded with the numbers."""
    room = spec.context_length - prompt_tokens
    if asked is None:
        if room < 1:
            raise ApiError(400, f"This model's maximum context length is {spec.context_length} tokens. However, "
                                f"your {what} resulted in {prompt_tokens} tokens. Please reduce the length of the "
                                f"{what}.", param=what, code="context_length_exceeded")
        return min(room, DEFAULT_MAX_TOKENS)
    if asked > room:
        raise ApiError(400, f"This model's maximum context length is {spec.context_length} tokens. However, you "
                            f"requested {prompt_tokens + asked} tokens ({prompt_tokens} in the {what}, {asked} in the "
                            f"completion). Please reduce the length of the {what} or completion.",
                       param=param if prompt_tokens < spec.context_length else what, code="context_length_exceeded")
    return asked


def _configs(*, n: int, max_new_tokens: int, temperature: float | None, top_p: float | None, top_k: int | None,
             min_p: float | None, frequency_penalty: float | None, presence_penalty: float | None,
             repetition_penalty: float | None, stop: list[str], seed: int | None, top_alternatives: int,
             constraint: Constraint | None) -> list[GenerationConfig]:
    """One GenerationConfig per choice. temperature 0 is greedy (top_p / top_k / min_p cannot change
    the most likely token, so they are left out); choice i samples with seed + i."""
    temperature = 1.0 if temperature is None else float(temperature)
    greedy = temperature == 0
    common = dict(max_new_tokens=max_new_tokens, stop=stop, frequency_penalty=frequency_penalty or 0.0,
                  presence_penalty=presence_penalty or 0.0, repetition_penalty=repetition_penalty or 1.0,
                  top_alternatives=top_alternatives, constraint=constraint)
    if not greedy:
        common.update(strategy="sample", temperature=temperature, top_p=1.0 if top_p is None else top_p,
                      top_k=max(top_k or 0, 0), min_p=min_p or 0.0)
    configs = []
    for index in range(n):
        choice_seed = None if greedy or seed is None else (seed + index) % (2 ** 63)
        try:
            configs.append(GenerationConfig(**common, seed=choice_seed))
        except PlaygroundError as error:
            raise from_library(error) from None
    return configs


def _response_constraint(response_format: schemas.ResponseFormat | None) -> Constraint | None:
    if response_format is None or response_format.type == "text":
        return None
    try:
        if response_format.type == "json_object":
            return Constraint("json_object")
        if response_format.json_schema is None or response_format.json_schema.schema_ is None:
            raise ApiError(400, "response_format.json_schema.schema is required for type json_schema",
                           param="response_format.json_schema.schema")
        return Constraint("json_schema", response_format.json_schema.schema_)
    except PlaygroundError as error:
        raise ApiError(400, f"response_format: {error}", param="response_format") from None


def _tokenizer(spec: zoo.ModelSpec):
    return zoo.load_tokenizer(spec)


def _prepared_chat(spec: zoo.ModelSpec, messages: list[Message], param: str) -> PreparedPrompt:
    if spec.kind != "chat":
        raise ApiError(400, f"{spec.name} is a {spec.label} model without a chat template; send it text on "
                            "/v1/completions, or pick a chat model", param="model")
    try:
        return prepare_prompt(_tokenizer(spec), messages, chat=True)
    except PlaygroundError as error:
        raise ApiError(400, f"{param}: {error}", param=param) from None


def _with_tools(messages: list[Message], plan: ToolPlan | None) -> list[Message]:
    """The tools described at the end of the system message (one is added when there is none)."""
    if plan is None:
        return messages
    if messages and messages[0].role == "system":
        return [Message("system", f"{messages[0].content}\n\n{plan.prompt()}"), *messages[1:]]
    return [Message("system", plan.prompt()), *messages]


# --- /v1/chat/completions -----------------------------------------------------------------------

def _text_of(content, param: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for index, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise ApiError(400, f"{param}[{index}]: only text content is supported here (got {part.type!r})",
                           param=f"{param}[{index}].type")
        texts.append(part.text)
    return "".join(texts)


def chat_messages(body: schemas.ChatCompletionRequest) -> list[Message]:
    """OpenAI messages as ours: developer is system; an assistant's tool calls are written as the calls
    it generated; a tool's answer is a `tool` turn."""
    messages = []
    for index, message in enumerate(body.messages):
        text = _text_of(message.content, f"messages[{index}].content")
        role = "system" if message.role == "developer" else message.role
        if message.role == "assistant" and message.tool_calls:
            calls = []
            for call in message.tool_calls:
                try:
                    arguments = json.loads(call.function.arguments or "{}")
                except json.JSONDecodeError:
                    raise ApiError(400, f"messages[{index}].tool_calls: the arguments of {call.function.name!r} "
                                        "are not JSON", param=f"messages[{index}].tool_calls") from None
                calls.append(json.dumps({"name": call.function.name, "arguments": arguments}, ensure_ascii=False))
            text = "\n".join(([text] if text else []) + calls)
        messages.append(Message(role, text))
    if not messages:
        raise ApiError(400, "messages must hold at least one message", param="messages")
    return messages


def tool_plan(tools: list[FunctionTool], choice) -> ToolPlan | None:
    """The plan for OpenAI's tools + tool_choice (None: no tools, or tool_choice "none")."""
    if choice is None:
        choice = "auto" if tools else "none"
    if choice == "none":
        return None
    if not tools:
        raise ApiError(400, "tool_choice needs tools; give at least one function in tools", param="tool_choice")
    try:
        if isinstance(choice, str):
            return ToolPlan(tools, "required" if choice == "required" else "auto")
        return ToolPlan(tools, "named", name=choice.function.name)
    except PlaygroundError as error:
        raise ApiError(400, str(error), param="tool_choice" if "tool_choice" in str(error) else "tools") from None


def _functions(tools: list[schemas.Tool] | None) -> list[FunctionTool]:
    functions = []
    for index, tool in enumerate(tools or []):
        try:
            parameters = check_parameters(tool.function.name, tool.function.parameters)
        except PlaygroundError as error:
            raise ApiError(400, f"tools[{index}].function.parameters: {error}",
                           param=f"tools[{index}].function.parameters") from None
        functions.append(FunctionTool(tool.function.name, tool.function.description or "", parameters))
    return functions


def prepare_chat(models: ServedModels, body: schemas.ChatCompletionRequest, *,
                 time_limit: float | None = None) -> Plan:
    spec = models.get(body.model, purpose="generate")
    plan = tool_plan(_functions(body.tools), body.tool_choice)
    constraint = _response_constraint(body.response_format)
    if plan is not None:
        if constraint is not None:
            raise ApiError(400, "response_format and tools both constrain the output; give one of them",
                           param="response_format")
        try:
            constraint = plan.constraint()
        except PlaygroundError as error:
            raise ApiError(400, f"tools: {error}", param="tools") from None
    prompt = _prepared_chat(spec, _with_tools(chat_messages(body), plan), "messages")
    if body.max_tokens is not None and body.max_completion_tokens is not None \
            and body.max_tokens != body.max_completion_tokens:
        raise ApiError(400, "max_tokens and max_completion_tokens disagree; give one of them", param="max_tokens")
    asked = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    new_tokens = _max_new_tokens(spec, len(prompt.ids), asked, "messages",
                                 "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens")
    if body.top_logprobs and not body.logprobs:
        raise ApiError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
    top = (body.top_logprobs or 0) if body.logprobs else 0
    configs = _configs(n=body.n or 1, max_new_tokens=new_tokens, temperature=body.temperature, top_p=body.top_p,
                       top_k=body.top_k, min_p=body.min_p, frequency_penalty=body.frequency_penalty,
                       presence_penalty=body.presence_penalty, repetition_penalty=body.repetition_penalty,
                       stop=_stop_list(body.stop), seed=body.seed, top_alternatives=top, constraint=constraint)
    return Plan(body.model, spec, _backend(models, spec, configs[0]), prompt, configs, zoo.eos_token_ids(spec),
                tools=plan, logprobs=top if body.logprobs else None, time_limit=time_limit)


def _backend(models: ServedModels, spec: zoo.ModelSpec, config: GenerationConfig) -> str:
    try:
        return choose_backend(spec, models.backend, config.strategy)
    except PlaygroundError as error:
        raise from_library(error) from None


# --- /v1/completions ----------------------------------------------------------------------------

def completion_prompts(spec: zoo.ModelSpec, prompt) -> list[PreparedPrompt]:
    """Each prompt of a completions request (text, texts, token ids, or lists of token ids), as the
    model reads it: raw text, with what the tokenizer adds (Gemma's <bos>)."""
    tokenizer = _tokenizer(spec)
    if isinstance(prompt, str):
        prompts = [prompt]
    elif prompt and all(isinstance(p, int) for p in prompt):
        prompts = [list(prompt)]
    else:
        prompts = list(prompt)
    if not prompts:
        raise ApiError(400, "prompt must not be empty", param="prompt")
    prepared = []
    vocab = len(tokenizer)
    for index, item in enumerate(prompts):
        if isinstance(item, str):
            try:
                prepared.append(prepare_prompt(tokenizer, item, chat=False))
            except PlaygroundError as error:
                raise ApiError(400, f"prompt: {error}", param="prompt") from None
        else:
            bad = [t for t in item if not 0 <= t < vocab]
            if not item or bad:
                raise ApiError(400, f"prompt[{index}]: " + (f"token id {bad[0]} is out of range (0 … {vocab - 1})"
                                                            if bad else "no tokens"), param="prompt")
            prepared.append(PreparedPrompt(text=tokenizer.decode(item), ids=list(item), templated=False))
    return prepared


def prepare_completion(models: ServedModels, body: schemas.CompletionRequest, *,
                       time_limit: float | None = None) -> list[Plan]:
    spec = models.get(body.model, purpose="generate")
    if body.echo:
        raise ApiError(400, "echo is not supported; the prompt is in your request", param="echo")
    if body.suffix:
        raise ApiError(400, "suffix (fill-in-the-middle) is not supported by these models", param="suffix")
    if body.best_of is not None and body.best_of != (body.n or 1):
        raise ApiError(400, "best_of is not supported (it would generate choices that are never returned); use n",
                       param="best_of")
    constraint = _response_constraint(body.response_format)
    plans = []
    for prompt in completion_prompts(spec, body.prompt):
        new_tokens = _max_new_tokens(spec, len(prompt.ids), body.max_tokens, "prompt", "max_tokens")
        top = body.logprobs or 0
        configs = _configs(n=body.n or 1, max_new_tokens=new_tokens, temperature=body.temperature,
                           top_p=body.top_p, top_k=body.top_k, min_p=body.min_p,
                           frequency_penalty=body.frequency_penalty, presence_penalty=body.presence_penalty,
                           repetition_penalty=body.repetition_penalty, stop=_stop_list(body.stop), seed=body.seed,
                           top_alternatives=top, constraint=constraint)
        plans.append(Plan(body.model, spec, _backend(models, spec, configs[0]), prompt, configs,
                          zoo.eos_token_ids(spec), logprobs=body.logprobs, time_limit=time_limit))
    return plans


# --- /v1/messages (Anthropic) -------------------------------------------------------------------

def anthropic_messages(body: schemas.MessagesRequest) -> list[Message]:
    """Anthropic's system + messages as ours: text blocks joined, a tool_use block written as the call
    the model generated, a tool_result block as a `tool` turn."""
    messages = []
    if body.system:
        system = body.system if isinstance(body.system, str) else "".join(b.text for b in body.system)
        messages.append(Message("system", system))
    for index, message in enumerate(body.messages):
        if isinstance(message.content, str):
            messages.append(Message(message.role, message.content))
            continue
        texts = []
        for block_index, block in enumerate(message.content):
            where = f"messages.{index}.content.{block_index}"
            if block.type == "text":
                texts.append(block.text or "")
            elif block.type == "tool_use":
                texts.append(json.dumps({"name": block.name, "arguments": block.input or {}}, ensure_ascii=False))
            elif block.type == "tool_result":
                if texts:
                    messages.append(Message(message.role, "\n".join(texts)))
                    texts = []
                content = block.content
                if isinstance(content, list):
                    content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
                messages.append(Message("tool", content or ""))
            else:
                raise ApiError(400, f"{where}: only text, tool_use and tool_result blocks are supported "
                                    f"(got {block.type!r})", param=f"{where}.type")
        if texts:
            messages.append(Message(message.role, "\n".join(texts)))
    if not body.messages:
        raise ApiError(400, "messages: at least one message is required", param="messages")
    return messages


def prepare_messages(models: ServedModels, body: schemas.MessagesRequest, *, time_limit: float | None = None) -> Plan:
    spec = models.get(body.model, purpose="generate")
    functions = []
    for index, tool in enumerate(body.tools or []):
        try:
            functions.append(FunctionTool(tool.name, tool.description or "", check_parameters(tool.name,
                                                                                               tool.input_schema)))
        except PlaygroundError as error:
            raise ApiError(400, f"tools.{index}.input_schema: {error}", param=f"tools.{index}.input_schema") from None
    choice = body.tool_choice
    if choice is None or choice.type == "auto":
        plan = ToolPlan(functions, "auto") if functions else None
    elif choice.type == "none":
        plan = None
    elif not functions:
        raise ApiError(400, "tool_choice needs tools", param="tool_choice")
    else:
        try:
            plan = ToolPlan(functions, "required") if choice.type == "any" else ToolPlan(functions, "named",
                                                                                           name=choice.name)
        except PlaygroundError as error:
            raise ApiError(400, str(error), param="tool_choice") from None
    prompt = _prepared_chat(spec, _with_tools(anthropic_messages(body), plan), "messages")
    new_tokens = _max_new_tokens(spec, len(prompt.ids), body.max_tokens, "messages", "max_tokens")
    try:
        constraint = plan.constraint() if plan else None
    except PlaygroundError as error:
        raise ApiError(400, f"tools: {error}", param="tools") from None
    configs = _configs(n=1, max_new_tokens=new_tokens, temperature=body.temperature, top_p=body.top_p,
                       top_k=body.top_k, min_p=None, frequency_penalty=None, presence_penalty=None,
                       repetition_penalty=None, stop=_stop_list(body.stop_sequences, "stop_sequences"), seed=None,
                       top_alternatives=0, constraint=constraint)
    return Plan(body.model, spec, _backend(models, spec, configs[0]), prompt, configs, zoo.eos_token_ids(spec),
                tools=plan, time_limit=time_limit)

