"""Shared fixtures: the published rank tables as our vocabularies and tiktoken's own encodings."""
from __future__ import annotations

import pytest
import tiktoken

from llm_playground.tokenizers.registry import published_vocab



@pytest.fixture(scope="session")
def gpt2_vocab():
    return published_vocab("bpe-gpt2")


@pytest.fixture(scope="session")
def cl100k_vocab():
    return published_vocab("bpe-cl100k")


@pytest.fixture(scope="session")
def tiktoken_gpt2():
    return tiktoken.get_encoding("gpt2")


@pytest.fixture(scope="session")
def tiktoken_cl100k():
    return tiktoken.get_encoding("cl100k_base")
