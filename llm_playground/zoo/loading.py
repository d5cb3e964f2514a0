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


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json")


def read_json_file(path: Path, what: str) -> dict:
    """A JSON object from `path`, or an AssetError saying which file is broken and where."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AssetError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                         f"the {what} may be truncated: copy it again") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AssetError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise AssetError(f"{path} holds a JSON {type(data).__name__}, but a {what} is a JSON object")
    return data


def _spec_for_folder(name: str, folder: Path) -> ModelSpec:
    """A spec for a local model folder, checked at once: config, weights and tokenizer files present."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise AssetError(f"{folder} has no config.json: a model folder needs config.json, weights "
                         "(model.safetensors) and tokenizer files")
    config = read_json_file(config_file, "model config")
    architecture = config.get("model_type")
    if not isinstance(architecture, str) or not architecture:
        raise AssetError(f"{config_file} has no \"model_type\" (such as \"llama\"); it is not a transformers model config")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if architecture not in CONFIG_MAPPING_NAMES:
        raise AssetError(f"{config_file} names model_type {architecture!r}, which this transformers version does not "
                         "know; the zoo models and Llama, Gemma-3, GPT-2 and BERT folders work")
    missing = []
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append("weights (model.safetensors)")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json)")
    if missing:
        raise AssetError(f"{folder} has a config.json but no {' and no '.join(missing)}; copy the whole model "
                         "folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)")
    tokenizer_config = folder / "tokenizer_config.json"
    has_template = (folder / "chat_template.jinja").is_file() or (
        tokenizer_config.is_file() and "chat_template" in read_json_file(tokenizer_config, "tokenizer config"))
    kind = "encoder" if architecture in ("bert", "roberta", "distilbert") else ("chat" if has_template else "base")
    context = config.get("max_position_embeddings") or config.get("n_positions") or 2048
    return ModelSpec(name=name, kind=kind, architecture=architecture, description=f"local model at {folder}",
                     parameters=0, context_length=int(context), licence="see the model's files", folder=str(folder),
                     kv_bytes_per_token=_kv_bytes_per_token(config))


def _kv_bytes_per_token(config: dict) -> int:
    """fp32 KV-cache bytes per token of one sequence, from a transformers config (0 if unknown)."""
    try:
        layers = config.get("num_hidden_layers") or config.get("n_layer")
        heads = config.get("num_attention_heads") or config.get("n_head")
        kv_heads = config.get("num_key_value_heads") or heads
        head_dim = config.get("head_dim") or (config.get("hidden_size") or config.get("n_embd")) // heads
        return int(layers) * 2 * int(kv_heads) * int(head_dim) * 4
    except (TypeError, ValueError, ZeroDivisionError):
        return 0


def resolve(name: str | ModelSpec) -> ModelSpec:
    """A zoo name, a local model's name (`llmpg finetune merge`), a model folder, or a hub id already
    in the local Hugging Face cache (a spec resolved earlier in the same request passes through unchanged)."""
    if isinstance(name, ModelSpec):
        return name
    if not isinstance(name, str) or not name.strip():
        raise PlaygroundError(f"no model given; choose one of: {', '.join(MODELS)} (or a local model folder)")
    if name in MODELS:
        return MODELS[name]
    from llm_playground.zoo import local, remote

    if remote.is_remote_name(name):
        return remote_spec(remote.parse_remote_name(name))

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


def remote_spec(target) -> ModelSpec:
    """The spec of a remote model: a chat model whose size, context window and tokenizer are the
    server's business (0 = unknown here)."""
    return ModelSpec(name=target.name, kind="chat", architecture="remote",
                     description=f"{target.model} at {target.base_url} ({target.api} API)", parameters=0,
                     context_length=0, licence="the provider's terms", remote=target)


def require_local(spec: ModelSpec, what: str) -> ModelSpec:
    """`spec`, or a PlaygroundError when it is a remote model, which has no local `what`."""
    if spec.remote is not None:
        raise PlaygroundError(f"{spec.name} is a remote model: it has no local tokenizer or weights here, so "
                              f"{what} is unavailable; use a zoo or local model (llmpg models) for that")
    return spec


def model_dir(name: str | ModelSpec) -> Path:
    """The HF-format folder of a model (zoo models are converted into the cache on first use)."""
    return _prepared_dir(require_local(resolve(name), "its model folder"))


def _gpt2_tokenizer():
    from transformers import GPT2TokenizerFast

    from llm_playground.assets.tiktoken_vocab import ENCODER_JSON_URL, VOCAB_BPE_URL, cache_path, ensure_tiktoken_vocabularies

    ensure_tiktoken_vocabularies()  # rebuilds GPT-2's encoder.json / vocab.bpe, checked by hash
    vocab = json.loads(cache_path(ENCODER_JSON_URL).read_text(encoding="utf-8"))
    merge_lines = cache_path(VOCAB_BPE_URL).read_text(encoding="utf-8").splitlines()[1:]  # skip "#version"
    return GPT2TokenizerFast(vocab=vocab, merges=[tuple(line.split(" ")) for line in merge_lines if line])


def tokenizer_bytes(spec: ModelSpec) -> int:
    """An estimate of one loaded Hugging Face tokenizer's memory (Rust tables, not torch tensors):
    9 × its tokenizer.json (measured: Gemma-3's 33 MB file takes ~300 MB loaded), or 10 MB."""
    try:
        return 9 * (_prepared_dir(spec) / "tokenizer.json").stat().st_size
    except (OSError, PlaygroundError):
        return 10 * 1024 ** 2


def load_tokenizer(name: str | ModelSpec):
    """The model's transformers tokenizer (fast, offline), held once by the model store."""
    spec = require_local(name if isinstance(name, ModelSpec) else resolve(name), "its tokenizer")

    def load():
        if spec.architecture == "gpt2" and spec.kind == "architecture":
            tokenizer = _gpt2_tokenizer()
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(_prepared_dir(spec)))
        tokenizer.llmpg_model = spec.name  # which model's tokenizer this is (generation.chat's text encoding)
        return tokenizer

    return store.models.get(spec.name, "tokenizer", "-", load,
                            extra_bytes=lambda _: tokenizer_bytes(spec) if spec.kind != "architecture" else 10 * 2 ** 20)


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
    spec = require_local(name if isinstance(name, ModelSpec) else resolve(name), "its weights")

    def load():
        model = _load_weights(spec).eval()
        model.requires_grad_(False)
        return model

    return store.models.get(spec.name, "transformers", "fp32", load)


def meta_model(name: str | ModelSpec):
    """The model's transformers architecture on the meta device: every module and shape, no weights
    and no memory (for looking inside it: `llmpg inspect`)."""
    spec = require_local(name if isinstance(name, ModelSpec) else resolve(name), "its architecture")

    def load():
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, GPT2Config

        config = GPT2Config() if spec.kind == "architecture" else AutoConfig.from_pretrained(str(_prepared_dir(spec)))
        with torch.device("meta"):
            model = (AutoModel if spec.kind == "encoder" else AutoModelForCausalLM).from_config(config)
        return model.eval()

    return store.models.get(spec.name, "architecture", "meta", load)


def load_sentence_transformer(name: str | ModelSpec = "minilm-l6"):
    """A sentence-transformers `SentenceTransformer` for an encoder (minilm-l6: BERT + mean pooling +
    L2 normalisation, 384 dimensions), held once by the model store under
    (name, "sentence-transformers", "fp32") so every capability (embeddings lab, pipelines, RAG) shares one copy.

    Its `max_seq_length` is the model's own (256 word pieces for all-MiniLM-L6-v2, whose position
    table has 512): longer texts are cut there. Leave it as it is: the object is shared.
    """
    spec = require_local(name if isinstance(name, ModelSpec) else resolve(name), "sentence embeddings")
    if spec.kind != "encoder":
        raise PlaygroundError(f"{spec.name} is not an encoder (it is {spec.label}); sentence embeddings come from "
                              f"an encoder: {', '.join(s.name for s in MODELS.values() if s.kind == 'encoder')}")

    def load():
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(_prepared_dir(spec)), device="cpu")
        model.eval()
        return model

    return store.models.get(spec.name, "sentence-transformers", "fp32", load)


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
    """Raise a clear error when prompt (+ new tokens) does not fit the model's context window
    (a remote model's window is the server's to check)."""
    if spec.remote is not None:
        return
    if prompt_tokens + new_tokens > spec.context_length:
        extra = f" plus {new_tokens} new tokens" if new_tokens else ""
        raise PlaygroundError(f"the prompt is {prompt_tokens} tokens{extra}, but {spec.name}'s context window is "
                              f"{spec.context_length} tokens; shorten the prompt"
                              + (" or ask for fewer new tokens" if new_tokens else ""))


def eos_token_ids(name: str | ModelSpec) -> set[int]:
    """Every id that ends a sequence: the tokenizer's eos, and the model's config and generation
    config (SmolLM2's chat turns end with <|im_end|>), read from files, no model loaded."""
    spec = require_local(name if isinstance(name, ModelSpec) else resolve(name), "its end-of-sequence tokens")
    ids: set[int] = set()
    tokenizer = load_tokenizer(spec)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    if spec.kind == "architecture":
        return ids
    folder = _prepared_dir(spec)
    for file_name in ("config.json", "generation_config.json"):
        path = folder / file_name
        if path.is_file():
            eos = read_json_file(path, file_name).get("eos_token_id")
            if eos is not None:
                ids.update([eos] if isinstance(eos, int) else eos)
    return ids
