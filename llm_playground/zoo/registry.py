"""The model zoo: names → what the model is, where its files come from, its licence (LitGPT-style)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llm_playground.assets.packaged import GEMMA3_PARTS, GEMMA3_TERMS, MINILM_WEIGHTS, SMOLLM2_GGUF, PackagedFile
from llm_playground.errors import unknown_name
from llm_playground.zoo.remote import RemoteTarget

Kind = Literal["chat", "base", "encoder", "architecture"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything the playground knows about a model before loading it."""

    name: str
    """The name users type (`--model`)."""
    kind: Kind
    """chat (instruction-tuned, has a chat template), base (completion), encoder, or architecture
    (random weights, for inspection only)."""
    architecture: str
    """transformers model_type: llama, gemma3_text, bert, gpt2."""
    description: str
    parameters: int
    """Exact parameter count (tied weights counted once)."""
    context_length: int
    """Longest input in tokens (max_position_embeddings)."""
    licence: str
    source: tuple[PackagedFile, ...] = ()
    """Packaged files the weights come from; empty for architecture-only models."""
    notice: PackagedFile | None = None
    """A licence text the user must be shown (Gemma Terms of Use)."""
    gguf_name: str = ""
    """File name of the GGUF (once assembled) for GGUF-shipped models."""
    gguf_sha256: str = ""
    folder: str = ""
    """For a model given as a local folder (or found in the Hugging Face cache): that folder."""
    kv_bytes_per_token: int = 0
    """fp32 KV-cache bytes one token of one sequence takes: layers × 2 × kv heads × head size × 4
    (0 when unknown). Bounds beam search before any model loads."""
    remote: "RemoteTarget | None" = None
    """For a remote model (`openai:…`, `openai@URL:…`, `anthropic:…`): where its API is. It has no
    local tokenizer or weights; `generation.remote` talks to it."""

    @property
    def generates(self) -> bool:
        """Decoder models that produce text (chat, base, and the random GPT-2 architecture)."""
        return self.kind != "encoder"

    @property
    def is_remote(self) -> bool:
        return self.remote is not None

    @property
    def pretrained(self) -> bool:
        return self.kind != "architecture"

    @property
    def label(self) -> str:
        if self.remote is not None:
            return f"remote, {self.remote.api} API"
        return "architecture only, no pretrained weights" if self.kind == "architecture" else self.kind


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec(
        name="smollm2-135m-instruct", kind="chat", architecture="llama",
        description="SmolLM2-135M-Instruct (HuggingFaceTB), 30 layers, GQA 9/3 heads, Q4_1 GGUF dequantized to fp32",
        parameters=134_515_008, context_length=8192, licence="Apache-2.0",
        source=(SMOLLM2_GGUF,), gguf_name=SMOLLM2_GGUF.relative_path, gguf_sha256=SMOLLM2_GGUF.sha256 or "",
        kv_bytes_per_token=30 * 2 * 3 * 64 * 4),
    ModelSpec(
        name="gemma3-270m", kind="base", architecture="gemma3_text",
        description="Gemma-3-270m base (Google), 18 layers, Q4_K_M GGUF dequantized to fp32",
        parameters=268_098_176, context_length=32768, licence="Gemma Terms of Use",
        source=GEMMA3_PARTS, notice=GEMMA3_TERMS, gguf_name="gemma-3-270m-q4_k_m.gguf",
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        kv_bytes_per_token=18 * 2 * 1 * 256 * 4),
    ModelSpec(
        name="minilm-l6", kind="encoder", architecture="bert",
        description="all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, hidden 384)",
        parameters=22_713_216, context_length=512, licence="Apache-2.0", source=(MINILM_WEIGHTS,)),
    ModelSpec(
        name="gpt2", kind="architecture", architecture="gpt2",
        description="GPT-2 124M architecture, randomly initialised (seed 0): architecture only, no pretrained weights",
        parameters=124_439_808, context_length=1024, licence="n/a (random weights)",
        kv_bytes_per_token=12 * 2 * 12 * 64 * 4),
)}


def get_spec(name: str) -> ModelSpec:
    """The spec of a zoo model; an unknown name raises an error listing the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise unknown_name("model", name, MODELS) from None


def list_models() -> list[ModelSpec]:
    return list(MODELS.values())


def licence_notice(spec: ModelSpec, *, with_path: bool = True) -> str | None:
    """The notice a user must see before using `spec` (Gemma Terms of Use), or None.

    `with_path` names the file on this machine (the CLI); without it, the package and file name
    (the web page, whose readers need not see this machine's folders).
    """
    if spec.notice is None:
        return None
    from llm_playground.assets.packaged import package_folder

    folder = package_folder(spec.notice.package)
    if with_path and folder:
        where = f"at {folder / spec.notice.relative_path}"
    else:
        where = f"as {spec.notice.relative_path.split('/')[-1]} in the Python package {spec.notice.package}"
    return (f"{spec.name} is provided under and subject to the {spec.licence} "
            f"(https://ai.google.dev/gemma/terms); the full text ships with it {where}")
