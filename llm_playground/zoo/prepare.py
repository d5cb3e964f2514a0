"""One-time conversion of GGUF-shipped models into a fast cache: fp32 safetensors + config + tokenizer.

transformers dequantizes a GGUF on every load (16 s for SmolLM2, 45 s for Gemma-3). We do it once,
write the result to a temporary folder, record every file's sha256 in a manifest, and rename the
folder into place. A later load checks the manifest (≈0.4 s for SmolLM2) and reads safetensors.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tqdm.auto import tqdm

from llm_playground import runtime
from llm_playground.assets.files import atomic_directory, sha256_file, verify_manifest, write_manifest
from llm_playground.assets.packaged import locate, locate_verified, package_folder
from llm_playground.errors import AssetError
from llm_playground.zoo.registry import ModelSpec

CACHE_FORMAT = 1
_verified: set[Path] = set()


def cache_dir(spec: ModelSpec) -> Path:
    return runtime.home() / "models" / spec.name


def cache_state(spec: ModelSpec) -> str:
    """"cached", "not converted yet", or what is wrong; hashes every file (≈1.5 GB/s)."""
    folder = cache_dir(spec)
    if not folder.exists():
        return "not converted yet"
    problems = verify_manifest(folder)
    return "cached" if not problems else "corrupt: " + problems[0]


def _gguf_file(spec: ModelSpec, workdir: Path) -> Path:
    """The verified GGUF: in site-packages (SmolLM2) or reassembled from its part packages (Gemma)."""
    if len(spec.source) == 1:
        return locate_verified(spec.source[0])
    target = workdir / spec.gguf_name
    with open(target, "wb") as out:
        for part in spec.source:
            with open(locate(part), "rb") as stream:
                shutil.copyfileobj(stream, out, 1 << 22)
    if sha256_file(target) != spec.gguf_sha256:
        raise AssetError(f"the reassembled {spec.gguf_name} is corrupt (sha256 mismatch); reinstall its "
                         f"packages: pip install --force-reinstall {' '.join(p.requirement for p in spec.source)}")
    return target


def convert_gguf(spec: ModelSpec) -> Path:
    """Dequantize `spec`'s GGUF into `cache_dir(spec)` (atomically), with a progress bar."""
    import safetensors.torch
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = cache_dir(spec)
    stages = ["verify GGUF", "read tokenizer", "dequantize weights", "write safetensors", "write manifest"]
    with atomic_directory(final) as folder, tqdm(total=len(stages), desc=f"preparing {spec.name} (once)",
                                                 unit="step", leave=True) as bar:
        def stage(index: int) -> None:
            bar.set_postfix_str(stages[index])
            if index:
                bar.update(1)

        stage(0)
        gguf = _gguf_file(spec, folder)
        stage(1)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        stage(2)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        stage(3)
        if gguf.parent == folder:
            gguf.unlink()  # the reassembled GGUF is no longer needed
        safetensors.torch.save_model(model, str(folder / "model.safetensors"))
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config  # the weights are plain fp32 now
        model.config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        stage(4)
        write_manifest(folder, model=spec.name, format_version=CACHE_FORMAT, source=spec.gguf_name,
                       source_sha256=spec.gguf_sha256)
        bar.update(1)
    _verified.add(final)
    return final


def model_dir(spec: ModelSpec) -> Path:
    """An HF-format folder for `spec`: converted on first use, hash-checked once per process after."""
    if spec.folder:
        return Path(spec.folder)
    if spec.remote is not None:
        raise AssetError(f"{spec.name} is a remote model: it has no files on this machine")
    if spec.kind == "architecture":
        raise AssetError(f"{spec.name} has no files: it is {spec.label}")
    if not spec.gguf_name:  # shipped as safetensors already (MiniLM)
        locate_verified(spec.source[0])
        return package_folder(spec.source[0].package) / Path(spec.source[0].relative_path).parent
    folder = cache_dir(spec)
    if folder in _verified:
        return folder
    state = cache_state(spec)
    if state != "cached":
        if state.startswith("corrupt"):
            print(f"llmpg: the cache of {spec.name} is damaged ({state[9:]}); rebuilding it")
        convert_gguf(spec)
    _verified.add(folder)
    return folder
