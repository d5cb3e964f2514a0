import hashlib
import os
import subprocess
import sys

from llm_playground.assets import tiktoken_vocab
from llm_playground.assets.tiktoken_vocab import (ENCODER_JSON_URL, EXPECTED_SHA256, VOCAB_BPE_URL, cache_path,
                                                  ensure_tiktoken_vocabularies, tiktoken_ranks_file)

SAMPLE = "hello world"
# the well-known ids of "hello world" in each encoding
EXPECTED = {"gpt2": [31373, 995], "cl100k_base": [15339, 1917], "o200k_base": [24912, 2375]}


def test_vocabularies_are_placed_where_tiktoken_looks(isolated_home):
    folder = ensure_tiktoken_vocabularies()
    assert folder == isolated_home / "tiktoken"
    for url in EXPECTED_SHA256:
        assert hashlib.sha256(cache_path(url).read_bytes()).hexdigest() == EXPECTED_SHA256[url]
    # a fresh process, offline, with only the cache folder: plain tiktoken works
    code = ("import tiktoken, json; print(json.dumps({n: tiktoken.get_encoding(n).encode(%r) "
            "for n in ['gpt2', 'cl100k_base', 'o200k_base', 'r50k_base']}))" % SAMPLE)
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(folder), "HF_HUB_OFFLINE": "1",
           "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    import json
    ids = json.loads(out.stdout)
    assert ids["gpt2"] == EXPECTED["gpt2"] == ids["r50k_base"]
    assert ids["cl100k_base"] == EXPECTED["cl100k_base"]
    assert ids["o200k_base"] == EXPECTED["o200k_base"]


def test_gpt2_encoder_json_and_vocab_bpe_are_rebuilt_byte_for_byte(isolated_home):
    ensure_tiktoken_vocabularies()
    assert hashlib.sha256(cache_path(ENCODER_JSON_URL).read_bytes()).hexdigest() == EXPECTED_SHA256[ENCODER_JSON_URL]
    assert cache_path(VOCAB_BPE_URL).read_text().startswith("#version: 0.2\nĠ t\nĠ a\nh e\n")


def test_corrupt_cache_file_is_replaced(isolated_home):
    ensure_tiktoken_vocabularies()
    path = tiktoken_ranks_file("cl100k_base")
    path.write_bytes(b"garbage")
    assert tiktoken_ranks_file("cl100k_base") == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == EXPECTED_SHA256[tiktoken_vocab.CL100K_URL]


def test_unknown_rank_table_lists_known_ones():
    import pytest

    from llm_playground.errors import UnknownNameError
    with pytest.raises(UnknownNameError, match="cl100k_base, gpt2, o200k_base, r50k_base"):
        tiktoken_ranks_file("p50k")
