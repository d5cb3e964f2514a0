"""Checkpoints: everything needed to continue a run exactly, in safetensors and JSON.

A checkpoint is a folder, written whole to a temporary folder and renamed into place (a run
killed mid-write leaves the previous checkpoint intact):

    checkpoint/
      model.safetensors       the weights (a tied output head is stored once, as wte.weight)
      optimizer.safetensors   the optimizer's tensors: state.<param index>.<name> (exp_avg, …)
      state.json              format, step, TrainConfig, TransformerConfig, optimizer hyperparameters,
                              RNG states (torch, numpy, python, the batch generator), loss history
      tokenizer/              the tokenizer (see training.tokenizing)

Nothing is unpickled when loading: safetensors holds only tensors, JSON only plain values.
"""
from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from llm_playground.assets import atomic_directory
from llm_playground.errors import PlaygroundError
from llm_playground.models import Transformer, TransformerConfig
from llm_playground.training.config import TrainConfig
from llm_playground.training.tokenizing import TrainingTokenizer

FORMAT = "llm-playground-checkpoint"
VERSION = 1
STATE_FILE = "state.json"


# --- RNG states as JSON ---------------------------------------------------------------------------
def _bytes_tensor_to_text(state: torch.Tensor) -> str:
    return base64.b64encode(state.numpy().tobytes()).decode("ascii")


def _text_to_bytes_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def capture_rng_states(batch_generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state a training step reads: torch (dropout), CUDA, numpy, python, batches."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    python_version, python_state, python_gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": _bytes_tensor_to_text(torch.get_rng_state()),
        "numpy": {"kind": kind, "keys": keys.tolist(), "position": int(position), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": python_version, "state": list(python_state), "gauss": python_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = [_bytes_tensor_to_text(s) for s in torch.cuda.get_rng_state_all()]
    if batch_generator is not None:
        states["batches"] = _bytes_tensor_to_text(batch_generator.get_state())
    return states


def restore_rng_states(states: dict[str, Any], batch_generator: torch.Generator | None = None) -> None:
    """The inverse of `capture_rng_states`."""
    torch.set_rng_state(_text_to_bytes_tensor(states["torch"]))
    n = states["numpy"]
    np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["position"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_text_to_bytes_tensor(s) for s in states["cuda"]])
    if batch_generator is not None and "batches" in states:
        batch_generator.set_state(_text_to_bytes_tensor(states["batches"]))


# --- model and optimizer tensors ------------------------------------------------------------------
def model_tensors(model: Transformer) -> dict[str, torch.Tensor]:
    """The state dict without the duplicate of a tied head (safetensors refuses shared memory)."""
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("lm_head.weight", None)
    return state


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors named state.<index>.<key>, JSON-ready rest: param_groups and non-tensor state)."""
    state_dict = optimizer.state_dict()
    tensors, plain = {}, {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().contiguous().cpu()
            elif value is not None:
                plain.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "plain_state": plain}


def optimizer_state_dict(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    """Rebuild `optimizer.state_dict()` from `optimizer_tensors`' two parts."""
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = tensor
    for index, values in rest.get("plain_state", {}).items():
        state.setdefault(int(index), {}).update(values)
    # JSON has no tuples: give Adam its (beta1, beta2) pair back exactly as it was
    groups = [{**group, **({"betas": tuple(group["betas"])} if "betas" in group else {})}
              for group in rest["param_groups"]]
    return {"state": state, "param_groups": groups}


# --- save / load ----------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """What `load_checkpoint` returns."""

    folder: Path
    step: int
    train_config: TrainConfig
    model_config: TransformerConfig
    tokenizer: TrainingTokenizer
    model_state: dict[str, torch.Tensor]
    optimizer_tensors: dict[str, torch.Tensor]
    optimizer_rest: dict[str, Any]
    rng: dict[str, Any]
    history: dict[str, Any] = field(default_factory=dict)
    """Loss history so far (per-step losses and evaluations), so metrics continue after a resume."""

    def load_model(self, model: Transformer) -> Transformer:
        """Copy the weights into `model`, which must have this checkpoint's config."""
        check_model_config(self.model_config, model.config, self.folder)
        missing, unexpected = model.load_state_dict(self.model_state, strict=False)
        allowed_missing = {"lm_head.weight"} if model.config.tie_embeddings else set()
        if set(missing) - allowed_missing or unexpected:
            raise PlaygroundError(f"the checkpoint in {self.folder} does not match the model: missing "
                                  f"{sorted(set(missing) - allowed_missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
        model.tie_weights()
        return model

    def build_model(self, device: str | torch.device = "cpu") -> Transformer:
        """A new Transformer with this checkpoint's config and weights, in eval mode."""
        model = Transformer(self.model_config)
        self.load_model(model)
        return model.to(device).eval()

    def load_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        try:
            optimizer.load_state_dict(optimizer_state_dict(self.optimizer_tensors, self.optimizer_rest))
        except (ValueError, KeyError) as error:
            raise PlaygroundError(f"the optimizer state in {self.folder} does not fit this run's optimizer "
                                  f"({error}); resume with the optimizer the run started with") from None


def check_model_config(saved: TransformerConfig, wanted: TransformerConfig, folder: Path) -> None:
    """Raise PlaygroundError naming every field where the checkpoint's model differs from `wanted`."""
    saved_fields, wanted_fields = saved.to_dict(), wanted.to_dict()
    differences = [f"{name}: checkpoint {saved_fields[name]!r}, asked {wanted_fields[name]!r}"
                   for name in saved_fields if name not in ("name", "dropout") and saved_fields[name] != wanted_fields[name]]
    if differences:
        raise PlaygroundError(f"the checkpoint in {folder} was trained with another model configuration ("
                              + "; ".join(differences) + "); drop the conflicting flags to resume it, "
                              "or train a new model with a different --out")


def save_checkpoint(folder: Path, *, model: Transformer, optimizer: torch.optim.Optimizer, step: int,
                    train_config: TrainConfig, tokenizer: TrainingTokenizer,
                    batch_generator: torch.Generator | None = None, history: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint folder atomically; returns its path."""
    folder = Path(folder)
    tensors, rest = optimizer_tensors(optimizer)
    state = {
        "format": FORMAT, "version": VERSION, "step": step,
        "train_config": train_config.to_dict(), "model_config": model.config.to_dict(),
        "optimizer": rest, "rng": capture_rng_states(batch_generator), "history": history or {},
        "torch_version": torch.__version__,
    }
    with atomic_directory(folder) as temporary:
        save_file(model_tensors(model), str(temporary / "model.safetensors"), metadata={"format": FORMAT})
        save_file(tensors, str(temporary / "optimizer.safetensors"), metadata={"format": FORMAT})
        tokenizer.save(temporary / "tokenizer")
        (temporary / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
    return folder


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint folder for `path`: a checkpoint itself, or a run's out folder holding `checkpoint/`."""
    path = Path(path).expanduser()
    for candidate in (path, path / "checkpoint"):
        if (candidate / STATE_FILE).is_file():
            return candidate
    if not path.exists():
        raise PlaygroundError(f"no such checkpoint folder: {path}")
    raise PlaygroundError(f"{path} holds no checkpoint (no {STATE_FILE} in it or in {path / 'checkpoint'}); "
                          "give the --out folder of a training run")


def load_checkpoint(path: str | Path, *, map_location: str = "cpu") -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (a run's out folder works too)."""
    folder = find_checkpoint(path)
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except ValueError as error:
        raise PlaygroundError(f"{folder / STATE_FILE} is corrupt ({error}); use an earlier checkpoint") from None
    if state.get("format") != FORMAT or state.get("version") != VERSION:
        raise PlaygroundError(f"{folder} is not an llm-playground checkpoint of version {VERSION} "
                              f"(format {state.get('format')!r}, version {state.get('version')!r})")
    try:
        model_state = load_file(str(folder / "model.safetensors"), device=map_location)
        optimizer_state = load_file(str(folder / "optimizer.safetensors"), device=map_location)
    except (OSError, SafetensorError) as error:
        raise PlaygroundError(f"cannot read the tensors in {folder} ({error}); the checkpoint is damaged") from None
    return Checkpoint(folder=folder, step=int(state["step"]),
                      train_config=TrainConfig.from_dict(state["train_config"]),
                      model_config=TransformerConfig.from_dict(state["model_config"]),
                      tokenizer=TrainingTokenizer.load(folder / "tokenizer"),
                      model_state=model_state, optimizer_tensors=optimizer_state,
                      optimizer_rest=state["optimizer"], rng=state["rng"], history=state.get("history", {}))
