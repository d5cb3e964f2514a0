"""`llmpg tokenize` and `llmpg tokenizer train|list` end to end through the real parser."""
import json

import pytest
import tiktoken

from llm_playground import assets
from llm_playground.cli import main

CORPUS = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
          "it was the age of foolishness.\n") * 30


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module", autouse=True)
def offline_tiktoken():
    assets.ensure_tiktoken_vocabularies()


def test_json_output(capsys):
    code, out, _ = run(capsys, "tokenize", "Hello world 😀", "--tokenizer", "gpt2,bpe-gpt2,char", "--json")
    assert code == 0
    data = json.loads(out)
    expected = tiktoken.get_encoding("gpt2").encode("Hello world 😀")
    assert data["gpt2"]["ids"] == expected == data["bpe-gpt2"]["ids"]
    assert data["gpt2"]["count"] == len(expected) and data["gpt2"]["tokens"][:2] == ["Hello", " world"]
    assert data["char"]["count"] == 13 and data["char"]["tokens"][-1] == "[UNK]"


def test_reference_impl_gives_the_same_ids(capsys):
    _, fast, _ = run(capsys, "tokenize", "naïve café", "--tokenizer", "bpe-cl100k", "--json")
    _, reference, _ = run(capsys, "tokenize", "naïve café", "--tokenizer", "bpe-cl100k", "--impl", "reference", "--json")
    assert json.loads(fast) == json.loads(reference)


def test_text_output_shows_counts_spans_and_ids(capsys):
    code, out, _ = run(capsys, "tokenize", "a b\nc", "--tokenizer", "gpt2", "--color", "never")
    assert code == 0
    assert "── gpt2 (fast): 4 tokens, 1.25 characters per token" in out
    assert "a|·b|↵\n|c|" in out and "ids: [64, 275, 198, 66]" in out


def test_special_token_needs_permission(capsys):
    code, _, err = run(capsys, "tokenize", "end<|endoftext|>", "--tokenizer", "gpt2")
    assert code == 1 and err.startswith("llmpg: error: gpt2: the text contains '<|endoftext|>'") and "--allow-special" in err
    code, _, err = run(capsys, "tokenize", "[UNK] word", "--tokenizer", "gpt2,word")
    assert code == 1 and "word: the text contains '[UNK]'" in err
    _, out, _ = run(capsys, "tokenize", "end<|endoftext|>", "--tokenizer", "gpt2", "--allow-special", "--json")
    assert json.loads(out)["gpt2"]["ids"][-1] == 50256
    _, out, _ = run(capsys, "tokenize", "end<|endoftext|>", "--tokenizer", "gpt2", "--ordinary", "--json")
    assert 50256 not in json.loads(out)["gpt2"]["ids"]


def test_empty_text_is_zero_tokens(capsys):
    code, out, _ = run(capsys, "tokenize", "", "--tokenizer", "gpt2,word", "--json")
    assert code == 0 and json.loads(out) == {"gpt2": {"ids": [], "tokens": [], "count": 0},
                                              "word": {"ids": [], "tokens": [], "count": 0}}


def test_invalid_utf8_file_is_replaced_with_a_warning(capsys, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok \xff\xfe end")
    code, out, err = run(capsys, "tokenize", "--file", str(path), "--tokenizer", "gpt2", "--json")
    assert code == 0 and "not valid UTF-8 (first bad byte at offset 3)" in err and "2 invalid" in err
    assert tiktoken.get_encoding("gpt2").decode(json.loads(out)["gpt2"]["ids"]) == "ok \ufffd\ufffd end"


def test_bad_arguments(capsys, tmp_path):
    assert run(capsys, "tokenize", "x", "--tokenizer", "gtp2")[2].startswith("llmpg: error: unknown tokenizer 'gtp2'; known:")
    assert "no such file" in run(capsys, "tokenize", "--file", str(tmp_path / "missing.txt"))[2]
    assert "not both" in run(capsys, "tokenize")[2]


def test_train_then_use_the_folder(capsys, tmp_path):
    data = tmp_path / "corpus.txt"
    data.write_text(CORPUS)
    out_dir = tmp_path / "tok"
    code, out, _ = run(capsys, "tokenizer", "train", "--data", str(data), "--vocab-size", "280", "--out", str(out_dir),
                       "--show-merges", "3")
    assert code == 0 and "Learned 24 merges" in out
    # " t" (4× the, 2× times) and " w" (4× was, worst, wisdom) both occur 6× a line (180×); the smaller pair wins
    assert "   256  [ ] + [t] → [ t]   180×\n   257  [ ] + [w] → [ w]   180×\n   258  [ ] + [o] → [ o]   120×" in out
    assert (out_dir / "tokenizer.json").is_file() and (out_dir / "vocab.txt").is_file()
    assert out.count(" → [") == 3
    _, fast, _ = run(capsys, "tokenize", "it was the age", "--tokenizer", str(out_dir), "--json")
    _, reference, _ = run(capsys, "tokenize", "it was the age", "--tokenizer", str(out_dir), "--impl", "reference", "--json")
    ids = json.loads(fast)[str(out_dir)]["ids"]
    assert ids == json.loads(reference)[str(out_dir)]["ids"] and len(ids) < len("it was the age")


def test_train_errors(capsys, tmp_path):
    data = tmp_path / "corpus.txt"
    data.write_text("tiny text")
    assert "at least 256" in run(capsys, "tokenizer", "train", "--data", str(data), "--vocab-size", "100",
                                 "--out", str(tmp_path / "a"))[2]
    code, _, err = run(capsys, "tokenizer", "train", "--data", str(data), "--vocab-size", "5000", "--out", str(tmp_path / "b"))
    assert code == 1 and "more than the corpus supports: at most 263 tokens" in err
    code, _, err = run(capsys, "tokenize", "x", "--tokenizer", str(tmp_path / "b"))
    assert code == 1 and "no saved tokenizer at" in err


def test_list(capsys):
    code, out, _ = run(capsys, "tokenizer", "list", "--json")
    assert code == 0 and {"gpt2", "bpe-cl100k", "word", "char", "minilm-l6"} <= set(json.loads(out))
