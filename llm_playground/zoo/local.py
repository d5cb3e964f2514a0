"""Local models: model folders made here (a merged fine-tune) registered by name next to the zoo.

A registration is one small JSON file, `$LLMPG_HOME/local-models/<name>.json`, that points at a plain
model folder (config.json, model.safetensors, tokenizer files) and says where it came from. Every
face resolves the name like a zoo name; the folder itself is an ordinary transformers folder, so
any tool (and the API server) can read it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from llm_playground import runtime
from llm_playground.assets.files import atomic_write_text
from llm_playground.errors import PlaygroundError
from llm_playground.zoo.registry import MODELS, ModelSpec

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def registry_dir() -> Path:
    return runtime.home() / "local-models"


def default_folder(name: str) -> Path:
    """Where a local model lives unless the user picks a folder: `$LLMPG_HOME/models/<name>`."""
    return runtime.home() / "models" / name


def check_name(name: str) -> str:
    """A valid, free-of-zoo name for a local model, or a PlaygroundError saying why not."""
    if not NAME.match(name or ""):
        raise PlaygroundError(f"name {name!r} is not a valid model name; use lower-case letters, digits, '.', '_' "
                              "or '-' (at most 64), starting with a letter or digit, e.g. smollm2-extract")
    if name in MODELS:
        raise PlaygroundError(f"name {name!r} is a zoo model; pick another name for the local model")
    return name


def register(name: str, folder: Path, **details) -> Path:
    """Record (atomically) that `name` is the model folder `folder`; details (base model, method…) are kept."""
    check_name(name)
    record = {"name": name, "folder": str(Path(folder).resolve()), **details}
    return atomic_write_text(registry_dir() / f"{name}.json", json.dumps(record, indent=2, sort_keys=True))


def unregister(name: str) -> None:
    (registry_dir() / f"{name}.json").unlink(missing_ok=True)


def records() -> dict[str, dict]:
    """name → registration record, for every well-formed registration file."""
    found: dict[str, dict] = {}
    folder = registry_dir()
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("name") == path.stem and isinstance(record.get("folder"), str):
            found[path.stem] = record
    return found


def spec_for(record: dict) -> ModelSpec:
    """The ModelSpec of a registered local model (read from its folder's files, no weights loaded)."""
    folder = Path(record["folder"])
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    tokenizer_config = folder / "tokenizer_config.json"
    has_template = (folder / "chat_template.jinja").is_file() or (
        tokenizer_config.is_file() and "chat_template" in json.loads(tokenizer_config.read_text()))
    base = record.get("base_model", "?")
    return ModelSpec(
        name=record["name"], kind="chat" if has_template else "base",
        architecture=config.get("model_type", "unknown"),
        description=record.get("description") or f"fine-tuned from {base} ({record.get('method', 'local')})",
        parameters=int(record.get("parameters", 0)),
        context_length=int(config.get("max_position_embeddings") or 2048),
        licence=record.get("licence", "see the base model's licence"), folder=str(folder))


def get(name: str) -> ModelSpec | None:
    """The spec of local model `name`, or None when no such model is registered."""
    path = registry_dir() / f"{name}.json"
    if not NAME.match(name) or not path.is_file():
        return None
    record = records().get(name)
    return spec_for(record) if record else None


def list_local() -> list[ModelSpec]:
    return [spec_for(record) for record in records().values()]


def state(spec: ModelSpec) -> str:
    folder = Path(spec.folder)
    if not (folder / "config.json").is_file():
        return f"missing: {folder} is gone (llmpg finetune merge again, or remove {registry_dir() / spec.name}.json)"
    return "local"
