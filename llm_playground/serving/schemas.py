"""The request and response bodies of the API, as pydantic models (FastAPI writes the OpenAPI schema
from them, and schemathesis fuzzes the server against it).

Request models check types and documented ranges (a bad value is a 400 naming the parameter); what
needs the model (context length, whether a schema compiles) is checked when the request is prepared.
Unknown extra fields are accepted and ignored, as OpenAI's own clients send a few (`user`, `store`…).
Response models document what the server returns; the server builds the JSON itself.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

MAX_N = 16
"""Most choices one request may ask for (each is one more generation)."""
MAX_TOP_LOGPROBS = 20
"""OpenAI's own limit, and the most alternatives a generation step records."""
MAX_STOP = 16
"""Most stop strings (generation.config.MAX_STOP_STRINGS)."""


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- shared pieces ------------------------------------------------------------------------------

class ErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str] = None
    code: Optional[str] = None


class ErrorBody(BaseModel):
    """OpenAI's error body."""
    error: ErrorDetail


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicErrorBody(BaseModel):
    """Anthropic's error body (on /v1/messages)."""
    type: Literal["error"]
    error: AnthropicErrorDetail


class FunctionDefinition(Lenient):
    name: str = Field(min_length=1, max_length=64)
    description: Optional[str] = None
    parameters: Optional[dict[str, Any]] = None
    strict: Optional[bool] = None


class Tool(Lenient):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(Lenient):
    name: str


class NamedToolChoice(Lenient):
    type: Literal["function"] = "function"
    function: NamedFunction


class JsonSchemaFormat(Lenient):
    name: str = "response"
    description: Optional[str] = None
    schema_: Optional[dict[str, Any]] = Field(default=None, alias="schema")
    strict: Optional[bool] = None


class ResponseFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: Optional[JsonSchemaFormat] = None


class StreamOptions(Lenient):
    include_usage: Optional[bool] = False


class SamplingFields(Lenient):
    """The decoding controls both OpenAI endpoints share (and vLLM's extras: top_k, min_p,
    repetition_penalty)."""

    temperature: Optional[float] = Field(default=None, ge=0, le=2)
    top_p: Optional[float] = Field(default=None, ge=0, le=1)
    top_k: Optional[int] = Field(default=None, ge=-1, description="0 or -1: off (vLLM's extension)")
    min_p: Optional[float] = Field(default=None, ge=0, le=1)
    frequency_penalty: Optional[float] = Field(default=None, ge=-2, le=2)
    presence_penalty: Optional[float] = Field(default=None, ge=-2, le=2)
    repetition_penalty: Optional[float] = Field(default=None, gt=0, le=10)
    stop: Optional[Union[str, list[str]]] = None
    seed: Optional[int] = None
    n: Optional[int] = Field(default=1, ge=1, le=MAX_N)
    stream: Optional[bool] = False
    stream_options: Optional[StreamOptions] = None


# --- /v1/chat/completions -----------------------------------------------------------------------

class ContentPart(Lenient):
    type: str
    text: Optional[str] = None


class ToolCallFunction(Lenient):
    name: str
    arguments: str


class ToolCall(Lenient):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Optional[Union[str, list[ContentPart]]] = None
    name: Optional[str] = None
    tool_calls: Optional[list[ToolCall]] = None
    tool_call_id: Optional[str] = None


class ChatCompletionRequest(SamplingFields):
    model: str
    messages: list[ChatMessage]
    max_tokens: Optional[int] = Field(default=None, ge=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    logprobs: Optional[bool] = False
    top_logprobs: Optional[int] = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: Optional[ResponseFormat] = None
    tools: Optional[list[Tool]] = None
    tool_choice: Optional[Union[Literal["none", "auto", "required"], NamedToolChoice]] = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: Optional[list[int]] = None


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    bytes: Optional[list[int]] = None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: Optional[list[TokenLogprob]] = None
    refusal: Optional[list[TokenLogprob]] = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: Optional[str] = None
    tool_calls: Optional[list[ToolCall]] = None
    refusal: Optional[str] = None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Optional[str] = None
    logprobs: Optional[ChoiceLogprobs] = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: Optional[str] = None


# --- /v1/completions ----------------------------------------------------------------------------

class CompletionRequest(SamplingFields):
    model: str
    prompt: Union[str, list[str], list[int], list[list[int]]]
    max_tokens: Optional[int] = Field(default=16, ge=1)
    logprobs: Optional[int] = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: Optional[bool] = False
    suffix: Optional[str] = None
    best_of: Optional[int] = Field(default=None, ge=1, le=MAX_N)
    response_format: Optional[ResponseFormat] = None


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[Optional[float]]
    top_logprobs: Optional[list[Optional[dict[str, float]]]] = None
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Optional[str] = None
    logprobs: Optional[CompletionLogprobs] = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    system_fingerprint: Optional[str] = None


# --- /v1/embeddings -----------------------------------------------------------------------------

class EmbeddingRequest(Lenient):
    model: str
    input: Union[str, list[str]]
    encoding_format: Optional[Literal["float", "base64"]] = "float"
    dimensions: Optional[int] = Field(default=None, ge=1)


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: Union[list[float], str]


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


# --- /v1/models ---------------------------------------------------------------------------------

class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


# --- /v1/messages (Anthropic) -------------------------------------------------------------------

class AnthropicBlock(Lenient):
    type: Literal["text", "tool_use", "tool_result", "image", "document", "thinking"]
    text: Optional[str] = None
    id: Optional[str] = None
    name: Optional[str] = None
    input: Optional[dict[str, Any]] = None
    tool_use_id: Optional[str] = None
    content: Optional[Union[str, list[dict[str, Any]]]] = None


class AnthropicMessage(Lenient):
    role: Literal["user", "assistant"]
    content: Union[str, list[AnthropicBlock]]


class AnthropicSystemBlock(Lenient):
    type: Literal["text"]
    text: str


class AnthropicTool(Lenient):
    name: str = Field(min_length=1, max_length=64)
    description: Optional[str] = None
    input_schema: dict[str, Any]


class AnthropicToolChoice(Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: Optional[str] = None


class MessagesRequest(Lenient):
    model: str
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage]
    system: Optional[Union[str, list[AnthropicSystemBlock]]] = None
    stop_sequences: Optional[list[str]] = None
    temperature: Optional[float] = Field(default=None, ge=0, le=1)
    top_p: Optional[float] = Field(default=None, ge=0, le=1)
    top_k: Optional[int] = Field(default=None, ge=0)
    stream: Optional[bool] = False
    tools: Optional[list[AnthropicTool]] = None
    tool_choice: Optional[AnthropicToolChoice] = None
    metadata: Optional[dict[str, Any]] = None


class AnthropicUsage(BaseModel):
    input_tokens: int
    output_tokens: int


class AnthropicContentBlock(BaseModel):
    type: Literal["text", "tool_use"]
    text: Optional[str] = None
    id: Optional[str] = None
    name: Optional[str] = None
    input: Optional[dict[str, Any]] = None


class AnthropicResponse(BaseModel):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[AnthropicContentBlock]
    stop_reason: Optional[str] = None
    stop_sequence: Optional[str] = None
    usage: AnthropicUsage


class Health(BaseModel):
    status: Literal["ok"]
    models: list[str]
    running: int
    waiting: int
