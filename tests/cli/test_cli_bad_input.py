"""The command line's bad-input suite: every case runs `llmpg` as a real process and must end with
one line saying what was wrong (exit 1, or 2 for a malformed command line), never a traceback,
and before any model loads.

Grow it with every new command: add a (name, argv, expected message[, exit code]) row to CASES.
The processes run a few at a time (one model-free process takes ~2 s, mostly importing torch).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FILE = "{tmp}/a-file.txt"
BAD = "{tmp}/bad"


def _cases() -> list[tuple]:
    """(id, argv, a piece of the expected message, exit code)."""
    return [
        # models given as folders with missing or broken files
        ("unknown-model", ["generate", "--model", "nope", "--prompt", "hi"],
         "unknown model 'nope'; known: gemma3-270m, gpt2, minilm-l6, smollm2-135m-instruct", 1),
        ("truncated-config-generate", ["generate", "--model", BAD + "/truncated", "--prompt", "hi"],
         "config.json is not valid JSON (line", 1),
        ("truncated-config-inspect", ["inspect", "--model", BAD + "/truncated"], "config.json is not valid JSON", 1),
        ("truncated-config-next-token", ["next-token", "--model", BAD + "/truncated", "--prompt", "hi"],
         "config.json is not valid JSON", 1),
        ("truncated-config-attention", ["attention", "--model", BAD + "/truncated", "--prompt", "hi"],
         "config.json is not valid JSON", 1),
        ("truncated-config-block", ["block", "--model", BAD + "/truncated", "--prompt", "hi"],
         "config.json is not valid JSON", 1),
        ("config-only", ["generate", "--model", BAD + "/config-only", "--prompt", "hi"],
         "has a config.json but no weights (model.safetensors) and no tokenizer files", 1),
        ("no-config", ["generate", "--model", BAD + "/empty", "--prompt", "hi"], "has no config.json", 1),
        ("config-a-list", ["generate", "--model", BAD + "/config-list", "--prompt", "hi"],
         "holds a JSON list, but a model config is a JSON object", 1),
        ("unknown-model-type", ["generate", "--model", BAD + "/unknown-type", "--prompt", "hi"],
         "names model_type 'warp-drive', which this transformers version does not know", 1),
        ("truncated-weights", ["generate", "--model", BAD + "/truncated-weights", "--prompt", "hi"],
         "could not load", 1),
        ("truncated-weights-hf", ["generate", "--model", BAD + "/truncated-weights", "--prompt", "hi",
                                  "--backend", "hf"], "could not load", 1),
        ("broken-tokenizer", ["generate", "--model", BAD + "/broken-tokenizer", "--prompt", "hi"],
         "could not load", 1),
        ("encoder-generates", ["generate", "--model", "minilm-l6", "--prompt", "hi"], "minilm-l6 is an encoder", 1),
        ("encoder-next-token", ["next-token", "--model", "minilm-l6", "--prompt", "hi"], "is an encoder", 1),
        ("base-model-chat", ["chat", "--model", "gemma3-270m"], "without a chat template", 1),
        ("system-for-base-model", ["generate", "--model", "gemma3-270m", "--system", "be brief", "--prompt", "hi"],
         "a system prompt needs a chat model's template", 1),
        # generation knobs, refused before any model work
        ("empty-prompt", ["generate", "--prompt", ""], "the prompt is empty", 1),
        ("blank-prompt", ["generate", "--prompt", "   "], "the prompt is empty", 1),
        ("huge-max-new-tokens", ["generate", "--prompt", "hi", "--max-new-tokens", "100000000"],
         "max_new_tokens is 100000000, but smollm2-135m-instruct's context window is 8192 tokens", 1),
        ("zero-max-new-tokens", ["generate", "--prompt", "hi", "--max-new-tokens", "0"],
         "max_new_tokens must be at least 1", 1),
        ("empty-stop", ["generate", "--prompt", "hi", "--stop", ""], "stop strings must not be empty", 1),
        ("empty-bad-word", ["generate", "--prompt", "hi", "--bad-words", ""], "bad words must not be empty", 1),
        ("blank-bad-word", ["generate", "--prompt", "hi", "--bad-words", "  "], "bad words must not be empty", 1),
        ("too-many-beams", ["generate", "--prompt", "hi", "--strategy", "beam", "--num-beams", "1000"],
         "num_beams must be between 1 and 64 (got 1000)", 1),
        ("nan-temperature", ["generate", "--prompt", "hi", "--strategy", "sample", "--temperature", "nan"],
         "temperature must be a finite number", 1),
        ("inf-top-p", ["generate", "--prompt", "hi", "--strategy", "sample", "--top-p", "inf"],
         "top_p must be a finite number", 1),
        ("zero-top-p", ["generate", "--prompt", "hi", "--strategy", "sample", "--top-p", "0"],
         "top_p must be in (0, 1]", 1),
        ("greedy-with-temperature", ["generate", "--prompt", "hi", "--temperature", "0.5"],
         "only reshape what sampling draws from", 1),
        ("too-many-alternatives", ["generate", "--prompt", "hi", "--top-alternatives", "999"],
         "top_alternatives must be between 0 and 20", 1),
        ("compare-no-models", ["compare", "--models", ",", "--prompt", "hi"], "at least one model", 1),
        ("compare-unknown-strategy", ["compare", "--strategies", "warp", "--prompt", "hi"],
         "unknown strategy 'warp' for compare", 1),
        # looking inside
        ("negative-depth", ["inspect", "--depth", "-1", "--config", "llama2-7b"], "depth must be between 0 and 50", 1),
        ("model-and-config", ["inspect", "--model", "gpt2", "--config", "llama2-7b"],
         "give either --model NAME or a model's dimensions", 1),
        ("huge-top-k", ["next-token", "--prompt", "hi", "--top-k", "999999"], "top_k must be between 1 and 200", 1),
        ("zero-top-k", ["next-token", "--prompt", "hi", "--top-k", "0"], "top_k must be between 1 and 200", 1),
        ("layer-out-of-range", ["attention", "--prompt", "hi", "--layer", "99"],
         "layer 99 is out of range: smollm2-135m-instruct has 30 layers", 1),
        ("head-out-of-range", ["attention", "--prompt", "hi", "--head", "99"],
         "head 99 is out of range: smollm2-135m-instruct has 9 heads", 1),
        ("plot-inside-a-file", ["attention", "--prompt", "hi", "--out", FILE + "/map.png"],
         "the plot's folder '{tmp}/a-file.txt' is an existing file, but it must be a folder", 1),
        ("block-plot-inside-a-file", ["block", "--prompt", "hi", "--plot", FILE + "/norms.png"],
         "is an existing file, but it must be a folder", 1),
        # tokenizers and training
        ("unknown-tokenizer", ["tokenize", "hi", "--tokenizer", "nope"], "unknown tokenizer 'nope'", 1),
        ("bad-split-regex", ["tokenizer", "train", "--data", FILE, "--vocab-size", "300", "--out", "{tmp}/tok",
                             "--pattern", "(["], "the split pattern is not a valid regular expression", 1),
        ("vocab-too-small", ["tokenizer", "train", "--data", FILE, "--vocab-size", "100", "--out", "{tmp}/tok"],
         "vocab", 1),
        ("missing-training-text", ["tokenizer", "train", "--data", "{tmp}/missing.txt", "--vocab-size", "300",
                                   "--out", "{tmp}/tok"], "missing.txt", 1),
        ("train-out-is-a-file", ["train", "--preset", "cpu-tiny", "--out", FILE, "--max-steps", "1"],
         "out '{tmp}/a-file.txt' is an existing file, but it must be a folder", 1),
        ("train-missing-data", ["train", "--data", "{tmp}/missing.txt", "--max-steps", "1", "--out", "{tmp}/run"],
         "missing.txt", 1),
        ("sample-missing-checkpoint", ["sample", "--checkpoint", "{tmp}/no-run", "--prompt", "x"], "no-run", 1),
        ("bench-zero-new-tokens", ["bench", "generate", "--new-tokens", "0"], "new_tokens must be between 1", 1),
        ("bench-train-zero-steps", ["bench", "train", "--steps", "0"], "steps must be between 1", 1),
        ("ngram-order-zero", ["ngram", "--order", "0", "--data", FILE], "order", 1),
        ("scaling-negative-params", ["scaling", "check", "--params", "-1", "--tokens", "1e9"], "params", 1),
        # the server and the command line itself
        ("port-out-of-range", ["ui", "--port", "70000"], "port must be between 1 and 65535 (got 70000)", 1),
        ("serve-remote-without-key", ["serve", "--host", "0.0.0.0", "--port", "0"],
         "refusing to listen on 0.0.0.0 without an API key", 1, {"LLMPG_API_KEY": ""}),
        ("serve-port-out-of-range", ["serve", "--port", "70000"], "port must be between 1 and 65535 (got 70000)", 1),
        ("serve-unknown-model", ["serve", "--port", "0", "--models", "nope"], "unknown model 'nope'; known:", 1),
        ("serve-zero-slots", ["serve", "--port", "0", "--slots", "0"], "slots must be a whole number ≥ 1 (got 0)", 1),
        ("not-an-integer", ["generate", "--prompt", "hi", "--max-new-tokens", "abc"],
         "argument --max-new-tokens: invalid int value: 'abc'; see llmpg generate --help", 2),
        ("unknown-backend", ["generate", "--prompt", "hi", "--backend", "warp"], "invalid choice: 'warp'", 2),
        ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'", 2),
        ("bad-memory-budget", ["doctor"], "LLMPG_MEMORY_GB must be a number of GiB", 1, {"LLMPG_MEMORY_GB": "lots"}),
        # remote models (docs/remote-backends.md): refused before any request, or one line about the server
        ("remote-name-without-model", ["generate", "--model", "openai:", "--prompt", "hi"],
         "names no model after 'openai:'", 1),
        ("remote-beam", ["generate", "--model", "openai@http://127.0.0.1:1/v1:m", "--prompt", "hi", "--strategy",
                         "beam", "--num-beams", "2"], "strategy 'beam' (num_beams) is unavailable for remote model", 1),
        ("remote-unreachable", ["generate", "--model", "openai@http://127.0.0.1:1/v1:m", "--prompt", "hi"],
         "cannot reach http://127.0.0.1:1/v1 (", 1),
        ("remote-official-without-key", ["generate", "--model", "openai:gpt-4o-mini", "--prompt", "hi"],
         "openai:gpt-4o-mini needs an API key: set OPENAI_API_KEY", 1, {"OPENAI_API_KEY": ""}),
        ("remote-next-token", ["next-token", "--model", "anthropic:claude-x", "--prompt", "hi"],
         "anthropic:claude-x is a remote model: it has no local tokenizer or weights here", 1),
    ]


CASES = _cases()


def _bad_model_folders(tmp: Path, tiny_model: str) -> None:
    """Copies of a working tiny model folder, each broken in one way a user's copy can be."""
    bad = tmp / "bad"
    source = Path(tiny_model)
    for name in ("truncated", "config-only", "empty", "config-list", "unknown-type", "truncated-weights",
                 "broken-tokenizer"):
        shutil.copytree(source, bad / name)
    config = (source / "config.json").read_text()
    (bad / "truncated" / "config.json").write_text(config[: len(config) // 2])
    for name in (bad / "config-only").iterdir():
        if name.name != "config.json":
            name.unlink()
    for name in (bad / "empty").iterdir():
        name.unlink()
    (bad / "config-list" / "config.json").write_text("[1, 2]")
    (bad / "unknown-type" / "config.json").write_text(config.replace('"llama"', '"warp-drive"'))
    weights = (source / "model.safetensors").read_bytes()
    (bad / "truncated-weights" / "model.safetensors").write_bytes(weights[:1000])
    (bad / "broken-tokenizer" / "tokenizer.json").write_text('{"version": "1.0", "trunc')


def _run(argv: list[str], env_extra: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMPG_THREADS": "1", **env_extra}
    return subprocess.run([sys.executable, "-m", "llm_playground", *argv], capture_output=True, text=True,
                          timeout=300, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_chat_model):
    """Every case's process, run three at a time: {id: CompletedProcess}."""
    tmp = tmp_path_factory.mktemp("bad-input")
    _bad_model_folders(tmp, tiny_chat_model)
    Path(FILE.format(tmp=tmp)).write_text("Some text to train on. " * 50)

    def one(case):
        case_id, argv, _, _, *env = case
        return case_id, _run([arg.format(tmp=tmp) for arg in argv], env[0] if env else {})

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(pool.map(one, CASES))
    done["_tmp"] = tmp
    return done


def test_the_suite_is_at_least_forty_cases():
    assert len(CASES) >= 40 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_clear_line(case, results):
    case_id, _, expected, code, *_ = case
    result = results[case_id]
    expected = expected.format(tmp=results["_tmp"])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("llmpg: ")]
    assert len(lines) == 1 and lines[0].startswith("llmpg: error: "), result.stderr
    assert "internal error" not in lines[0]
    assert expected in lines[0], lines[0]


def test_errors_that_need_no_model_come_before_any_model_loads(results):
    """With the model cache pointed at an empty folder, refusals that need no model fail with their
    own message and convert or load nothing (a conversion would take 30-90 s and fill the cache)."""
    home = results["_tmp"] / "empty-home"
    for argv, expected in ((["generate", "--prompt", "hi", "--max-new-tokens", "100000000"], "max_new_tokens is"),
                           (["generate", "--prompt", ""], "the prompt is empty"),
                           (["generate", "--prompt", "hi", "--strategy", "beam", "--num-beams", "1000"], "num_beams"),
                           (["next-token", "--prompt", "hi", "--top-k", "999999"], "top_k must be"),
                           (["ui", "--port", "70000"], "port must be")):
        result = _run(argv, {"LLMPG_HOME": str(home)})
        assert result.returncode == 1 and expected in result.stderr, result.stderr
        assert not (home / "models").exists() or not any((home / "models").iterdir())


def test_json_output_of_an_error_is_still_one_line(results):
    result = _run(["next-token", "--prompt", "hi", "--top-k", "0", "--json"], {})
    assert result.returncode == 1 and result.stdout == "" and result.stderr.count("\n") == 1
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stderr)
