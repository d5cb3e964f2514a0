"""Shared fixtures. Real zoo models are converted once into the user's cache ($LLMPG_HOME) and
shared by every test that needs them (they are marked `slow`)."""
import pytest

from llm_playground import runtime

runtime.configure()


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """An empty $LLMPG_HOME (and tiktoken cache inside it) for tests that write caches."""
    monkeypatch.setenv("LLMPG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "home" / "tiktoken"))
    return tmp_path / "home"


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from a second thread, and lose a lot on a busy machine
    (a folder's conftest makes it autouse for its tests)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
