"""Fine-tuning tests run on tiny random Llamas (2 blocks, 32 wide, a 384-token BPE with a ChatML
template), one thread each, in an isolated $LLMPG_HOME."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny import make_tiny_llama  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-chat")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-base", chat=False)


@pytest.fixture(scope="session")
def tiny_other(tmp_path_factory) -> Path:
    """Another architecture (3 blocks): an adapter from tiny_chat does not belong to it."""
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-other", layers=3)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMPG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
