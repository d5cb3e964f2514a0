import pytest


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every training test runs on one thread (tests/conftest.py: one_thread)."""
