"""Fold a LoRA adapter into its base model's weights and register the result as a local model.

W' = W + (alpha / r) · B A for every adapted layer (PEFT's `merge_and_unload`). The merged folder is
a plain transformers model folder (config.json, model.safetensors, tokenizer files), written to a
temporary folder, checked, then renamed into place: the merged model's logits must equal the adapter
model's within 1e-4 on a probe, or nothing is registered. Every face then loads it by name: the
CLI, the web page, our native and fast engines, and (later) the API server.

A QLoRA adapter is merged into the fp32 base, not the 4-bit one it was trained against, so the
merged model also loses the base's quantization error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llm_playground.errors import PlaygroundError

TOLERANCE = 1e-4
MERGED_INFO = "llmpg-merged.json"


@dataclass
class MergeResult:
    name: str
    folder: str
    base_model: str
    parameters: int
    max_logit_difference: float
    """max |logits(merged) − logits(base + adapter)| on the probe text."""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def adapter_folder(path: str | Path) -> Path:
    """A run folder (uses its adapter/) or an adapter folder itself."""
    path = Path(path).expanduser()
    for candidate in (path / "adapter", path):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise PlaygroundError(f"{path} holds no LoRA adapter (adapter_config.json); give a fine-tuning run folder "
                          "or its adapter/ folder")


def adapter_info(folder: Path) -> dict:
    from llm_playground.finetuning.train import ADAPTER_INFO

    path = folder / ADAPTER_INFO
    return json.loads(path.read_text()) if path.is_file() else {}


def check_base(folder: Path, base: str | None) -> tuple[str, Path]:
    """The base model to merge into: the one the adapter was trained on (from its record), and a
    clear error when `base` is another model."""
    from llm_playground import zoo
    from llm_playground.finetuning.train import model_fingerprint

    info = adapter_info(folder)
    name = base or info.get("base_model")
    if not name:
        raise PlaygroundError(f"{folder} does not say which model it was trained on; give the base model")
    spec = zoo.resolve(name)
    model_folder = zoo.model_dir(name)
    recorded = info.get("base_fingerprint")
    if recorded and model_fingerprint(model_folder) != recorded:
        raise PlaygroundError(f"the adapter in {folder} was trained on {info.get('base_model')} (config "
                              f"{recorded}), not on {spec.name}; merge it into {info.get('base_model')}")
    # An adapter made elsewhere has no record: the shape check when PEFT loads it decides.
    return spec.name, model_folder


def _probe_ids(tokenizer) -> list[int]:
    ids = tokenizer.encode("Meet Maria Lopez: a 34-year-old nurse from Lisbon. {\"name\":", add_special_tokens=False)
    return ids[:32]


def merge(adapter: str | Path, *, name: str, base: str | None = None, out: str | None = None,
          log=print) -> MergeResult:
    """Merge `adapter` into its base, save it as local model `name` (in `out` or $LLMPG_HOME/models/name)."""
    from llm_playground import zoo
    from llm_playground.zoo import local

    local.check_name(name)
    folder = adapter_folder(adapter)
    base_name, base_folder = check_base(folder, base)
    target = Path(out).expanduser() if out else local.default_folder(name)
    if target.exists() and not (target / MERGED_INFO).is_file():
        raise PlaygroundError(f"{target} exists and is not a merged model made here; choose another out folder")

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_playground.assets.files import atomic_directory, atomic_write_text, write_manifest

    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))
    model = AutoModelForCausalLM.from_pretrained(str(base_folder), dtype=torch.float32).eval()
    try:
        adapted = PeftModel.from_pretrained(model, str(folder)).eval()
    except (RuntimeError, ValueError, KeyError) as error:  # size mismatch, missing modules
        raise PlaygroundError(f"the adapter in {folder} does not fit {base_name} ({str(error).splitlines()[0][:200]}); "
                              "merge it into the model it was trained on") from None
    probe = torch.tensor([_probe_ids(tokenizer)])
    with torch.no_grad():
        expected = adapted(input_ids=probe).logits.float()
        merged = adapted.merge_and_unload()
        parameters = sum(p.numel() for p in merged.parameters())
        with atomic_directory(target) as temporary:
            merged.save_pretrained(str(temporary), safe_serialization=True)
            tokenizer.save_pretrained(str(temporary))
            reloaded = AutoModelForCausalLM.from_pretrained(str(temporary), dtype=torch.float32).eval()
            difference = float((reloaded(input_ids=probe).logits.float() - expected).abs().max())
            if difference > TOLERANCE:
                raise PlaygroundError(f"the merged model's logits differ from the adapter model's by {difference:.2e} "
                                      f"(more than {TOLERANCE:g}); nothing was written")
            info = {**adapter_info(folder), "name": name, "adapter": str(folder), "base_model": base_name,
                    "parameters": parameters, "max_logit_difference": difference}
            atomic_write_text(temporary / MERGED_INFO, json.dumps(info, indent=2))
            write_manifest(temporary, model=name, base_model=base_name)
    licence = f"{zoo.resolve(base_name).licence} (from {base_name})"
    local.register(name, target, base_model=base_name, method=info.get("method", "lora"), parameters=parameters,
                   licence=licence,
                   kind_of_tuning=info.get("kind", "sft"), adapter=str(folder),
                   description=f"{base_name} + {info.get('kind', 'sft')} LoRA adapter ({folder}), merged")
    from llm_playground import store

    store.models.unload(name)  # a re-merged model under the same name is read afresh
    return MergeResult(name=name, folder=str(target), base_model=base_name, parameters=parameters,
                       max_logit_difference=difference)
