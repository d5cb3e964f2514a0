"""Resolve a model name (zoo name, local folder or hub id) and load it, once per process."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_playground import runtime, store
from llm_playground.errors import AssetError, PlaygroundError, unknown_name
from llm_playground.zoo.prepare import model_dir as _prepared_dir
from llm_playground.zoo.registry import MODELS, ModelSpec

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoadedModel:
    """A transformers model (eval mode, fp32) with its tokenizer and spec."""

    spec: ModelSpec
    model: Any
    tokenizer: Any

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def _spec_for_folder(name: str, folder: Path) -> ModelSpec:
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise AssetError(f"{folder} has no config.json: a model folder needs config.json, weights "
                         "(model.safetensors) and tokenizer files")
    config = json.loads(config_file.read_text())
    architecture = config.get("model_type", "unknown")
    tokenizer_config = folder / "tokenizer_config.json"
    has_template = (folder / "chat_template.jinja").is_file() or (
        tokenizer_config.is_file() and "chat_template" in json.loads(tokenizer_config.read_text()))
    kind = "encoder" if architecture in ("bert", "roberta", "distilbert") else ("chat" if has_template else "base")
    context = config.get("max_position_embeddings") or config.get("n_positions") or 2048
    return ModelSpec(name=name, kind=kind, architecture=architecture, description=f"local model at {folder}",
                     parameters=0, context_length=int(context), licence="see the model's files", folder=str(folder))


def resolve(name: str) -> ModelSpec:
    """A zoo name, a local model's name (`llmpg finetune merge`), a model folder, or a hub id already
    in the local Hugging Face cache."""
    if name in MODELS:
        return MODELS[name]
    from llm_playground.zoo import local

    registered = local.get(name)
    if registered is not None:
        return registered
    path = Path(name).expanduser()
    if path.is_dir():
        return _spec_for_folder(name, path.resolve())
    if HUB_ID.match(name) and not path.exists():
        from huggingface_hub import snapshot_download
        try:
            folder = snapshot_download(name, local_files_only=not runtime.online())
        except Exception as error:  # huggingface_hub raises several types; all mean "not available"
            raise AssetError(
                f"model {name!r} is not in the local Hugging Face cache and the network is off "
                f"({type(error).__name__}); copy its folder here and pass the path, or set LLMPG_ONLINE=1 "
                f"on a machine with internet. Zoo models work offline: {', '.join(MODELS)}") from None
        return _spec_for_folder(name, Path(folder))
    raise unknown_name("model", name, [*MODELS, *local.records()])  # lists the known ones


def model_dir(name: str) -> Path:
    """The HF-format folder of a model (zoo models are converted into the cache on first use)."""
    return _prepared_dir(resolve(name))


def _gpt2_tokenizer():
    from transformers import GPT2TokenizerFast

    from llm_playground.assets.tiktoken_vocab import ENCODER_JSON_URL, VOCAB_BPE_URL, cache_path, ensure_tiktoken_vocabularies

    ensure_tiktoken_vocabularies()  # rebuilds GPT-2's encoder.json / vocab.bpe, checked by hash
    vocab = json.loads(cache_path(ENCODER_JSON_URL).read_text(encoding="utf-8"))
    merge_lines = cache_path(VOCAB_BPE_URL).read_text(encoding="utf-8").splitlines()[1:]  # skip "#version"
    return GPT2TokenizerFast(vocab=vocab, merges=[tuple(line.split(" ")) for line in merge_lines if line])


def _tokenizer_bytes(tokenizer) -> int:
    """A rough size for a tokenizer's tables (they are not torch tensors): ~200 bytes a vocabulary entry."""
    return 200 * len(tokenizer)


def load_tokenizer(name: str | ModelSpec):
    """The model's transformers tokenizer (fast, offline), held once by the model store."""
    spec = name if isinstance(name, ModelSpec) else resolve(name)

    def load():
        if spec.architecture == "gpt2" and spec.kind == "architecture":
            return _gpt2_tokenizer()
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(_prepared_dir(spec)))

    return store.models.get(spec.name, "tokenizer", "-", load, extra_bytes=_tokenizer_bytes)


def _load_weights(spec: ModelSpec):
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    if spec.kind == "architecture":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return GPT2LMHeadModel(GPT2Config())
    folder = _prepared_dir(spec)
    auto = AutoModel if spec.kind == "encoder" else AutoModelForCausalLM
    try:
        return auto.from_pretrained(str(folder), dtype=torch.float32)
    except (OSError, ValueError) as error:
        raise AssetError(f"could not load {spec.name} from {folder}: {error}") from None


def load_hf_model(name: str | ModelSpec):
    """The transformers model (eval mode, fp32), held once by the model store."""
    spec = name if isinstance(name, ModelSpec) else resolve(name)

    def load():
        model = _load_weights(spec).eval()
        model.requires_grad_(False)
        return model

    return store.models.get(spec.name, "transformers", "fp32", load)


def load_model(name: str | ModelSpec) -> LoadedModel:
    """The transformers model with its tokenizer and spec (both held by the model store)."""
    spec = name if isinstance(name, ModelSpec) else resolve(name)
    return LoadedModel(spec=spec, model=load_hf_model(spec), tokenizer=load_tokenizer(spec))


def is_loaded(name: str) -> bool:
    """Whether the model store holds this model's weights (for any engine)."""
    try:
        return store.models.holds(resolve(name).name)
    except PlaygroundError:
        return False


def check_prompt_fits(spec: ModelSpec, prompt_tokens: int, new_tokens: int = 0) -> None:
    """Raise a clear error when prompt (+ new tokens) does not fit the model's context window."""
    if prompt_tokens + new_tokens > spec.context_length:
        extra = f" plus {new_tokens} new tokens" if new_tokens else ""
        raise PlaygroundError(f"the prompt is {prompt_tokens} tokens{extra}, but {spec.name}'s context window is "
                              f"{spec.context_length} tokens; shorten the prompt"
                              + (" or ask for fewer new tokens" if new_tokens else ""))


def eos_token_ids(name: str) -> set[int]:
    """Every id that ends a sequence: the tokenizer's eos, and the model's config and generation
    config (SmolLM2's chat turns end with <|im_end|>), read from files, no model loaded."""
    ids: set[int] = set()
    tokenizer = load_tokenizer(name)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    spec = resolve(name)
    if spec.kind == "architecture":
        return ids
    folder = _prepared_dir(spec)
    for file_name in ("config.json", "generation_config.json"):
        path = folder / file_name
        if path.is_file():
            eos = json.loads(path.read_text()).get("eos_token_id")
            if eos is not None:
                ids.update([eos] if isinstance(eos, int) else eos)
    return ids
