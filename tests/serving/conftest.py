import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny models: one thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def batching_model(tmp_path_factory, tiny_model_writer):
    """A tiny local chat model whose random weights are large enough that greedy choices vary."""
    return str(tiny_model_writer(tmp_path_factory.mktemp("batching-model"), seed=3, init_std=0.4,
                                 hidden=64, intermediate=128))
