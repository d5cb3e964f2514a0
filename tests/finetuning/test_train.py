"""SFT and DPO on a tiny random Llama: exact kill-and-resume, partial checkpoints ignored, 2 gloo
processes = 1 process with the same global batch, DPO metrics, the memory check."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.finetuning.config import FinetuneConfig
from llm_playground.finetuning.train import complete_checkpoints, prepare, run, train_dpo, train_sft

VENV_BIN = Path(sys.executable).parent
QUIET = dict(progress=False, log=lambda line: None)


def tiny_config(model: Path, out: Path, **changes) -> FinetuneConfig:
    values = dict(model=str(model), out=str(out), steps=12, batch_size=4, save_every=4, train_examples=60,
                  eval_examples=8, layers="all", r=4, dropout=0.1, lr=5e-3, seed=3)
    values.update(changes)
    return FinetuneConfig(**values)


def cli_flags(model: Path, out: Path, *extra: str) -> list[str]:
    return [str(VENV_BIN / "llmpg"), "finetune", "sft", "--model", str(model), "--out", str(out), "--batch-size", "4",
            "--train-examples", "60", "--eval-examples", "8", "--layers", "all", "--lora-r", "4", "--lora-dropout", "0.1",
            "--lr", "5e-3", "--seed", "3", "--json", *extra]


def environment(home: Path) -> dict:
    return {**os.environ, "LLMPG_HOME": str(home), "LLMPG_THREADS": "1", "OMP_NUM_THREADS": "1"}


def test_sft_learns_and_writes_its_files(tiny_chat, tmp_path, home):
    result = train_sft(tiny_config(tiny_chat, tmp_path / "run", steps=8), **QUIET)
    assert [s for s, _ in result.step_losses] == list(range(1, 9))
    assert result.step_losses[-1][1] < result.step_losses[0][1]
    assert result.trainable_parameters == 2 * 4 * (2 * (32 + 32) + 2 * (32 + 16))  # 2 blocks · r·(in+out): q,o 32→32, k,v 32→16
    out = tmp_path / "run"
    info = json.loads((out / "adapter" / "llmpg-adapter.json").read_text())
    assert info["base_model"] == str(tiny_chat) and len(info["base_fingerprint"]) == 16
    metrics = json.loads((out / "metrics.json").read_text())
    from llm_playground.finetuning.plots import loss_points

    assert loss_points(metrics["history"]) == ([s for s, _ in result.step_losses], [l for _, l in result.step_losses])
    assert (out / "loss.png").stat().st_size > 1000
    assert [p.name for p in complete_checkpoints(out)] == ["checkpoint-4", "checkpoint-8"]
    with pytest.raises(PlaygroundError, match="already holds a run"):
        train_sft(tiny_config(tiny_chat, out, steps=8), **QUIET)


def test_killed_run_resumes_to_the_same_losses(tiny_chat, tmp_path, home):
    """SIGKILL a CLI run after its first checkpoint; resume: every later loss equals the uninterrupted run's."""
    steps = 24
    expected = train_sft(tiny_config(tiny_chat, tmp_path / "whole", steps=steps), **QUIET)
    out = tmp_path / "killed"
    process = subprocess.Popen(cli_flags(tiny_chat, out, "--steps", str(steps), "--save-every", "4"),
                               env=environment(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / "checkpoints" / "checkpoint-4" / "manifest.json"
    deadline = time.monotonic() + 120
    while not marker.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = complete_checkpoints(out)
    killed_at = int(done[-1].name.split("-")[1])
    assert 4 <= killed_at < steps
    (out / "checkpoints" / f"checkpoint-{steps - 1}").mkdir()  # a checkpoint killed mid-write: no manifest
    resumed_config = FinetuneConfig(**{**json.loads((out / "run.json").read_text())["config"]})
    resumed = run(prepare(resumed_config, "sft", check_memory=False), resume=True, **QUIET)
    assert resumed.start_step == killed_at and resumed.step == steps
    assert not (out / "checkpoints" / f"checkpoint-{steps - 1}").exists()
    whole = dict(expected.step_losses)
    got = dict(resumed.step_losses)
    assert sorted(got) == list(range(1, steps + 1))
    for step in range(killed_at + 1, steps + 1):
        assert got[step] == whole[step], step  # bit for bit


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tiny_chat, tmp_path, home):
    one = train_sft(tiny_config(tiny_chat, tmp_path / "one", steps=4, dropout=0.0), **QUIET)
    flags = cli_flags(tiny_chat, tmp_path / "two", "--steps", "4", "--lora-dropout", "0", "--batch-size", "2")
    two = subprocess.run([str(VENV_BIN / "torchrun"), "--nproc_per_node=2", "--standalone", *flags],
                         env=environment(home), capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    result = json.loads(two.stdout[two.stdout.index("{"):])
    assert result["world_size"] == 2
    np.testing.assert_allclose([l for _, l in result["step_losses"]], [l for _, l in one.step_losses], rtol=1e-5)


def test_dpo_reports_rewards_on_held_out_pairs(tiny_chat, tmp_path, home):
    from llm_playground.finetuning.data import write_jsonl
    from llm_playground.finetuning.tasks import get_task

    train, held_out = get_task("extract").make(40, 12)
    pair = lambda e: {"prompt": e.prompt, "chosen": e.completion, "rejected": e.completion.replace('"age": ', '"age": 1')}  # noqa: E731
    write_jsonl(tmp_path / "pairs.jsonl", [pair(e) for e in train])
    write_jsonl(tmp_path / "pairs.eval.jsonl", [pair(e) for e in held_out])
    config = tiny_config(tiny_chat, tmp_path / "dpo", data=str(tmp_path / "pairs.jsonl"),
                         eval_data=str(tmp_path / "pairs.eval.jsonl"), steps=6, dropout=0.0, task=None)
    result = train_dpo(config, **QUIET)
    before, after = result.evaluations
    assert before["step"] == 0 and before["rewards/margins"] == 0.0  # policy = reference at the start
    assert after["rewards/margins"] > 0 and after["rewards/accuracies"] > before["rewards/accuracies"]
    assert after["loss"] < before["loss"]


def test_memory_check_and_bad_settings_stop_before_loading(tiny_chat, tiny_base, tmp_path, monkeypatch):
    with pytest.raises(PlaygroundError, match="r \\(the LoRA rank\\) must be a positive integer"):
        tiny_config(tiny_chat, tmp_path, r=0)
    with pytest.raises(PlaygroundError, match="targets qq do not exist"):
        prepare(tiny_config(tiny_chat, tmp_path, targets="q,qq"))
    chat_data = tmp_path / "chat.jsonl"
    chat_data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n')
    with pytest.raises(PlaygroundError, match="has no chat template, but line 1 holds chat messages"):
        prepare(tiny_config(tiny_base, tmp_path, data=str(chat_data)))
    monkeypatch.setenv("LLMPG_MEMORY_GB", "0.00001")
    with pytest.raises(PlaygroundError, match="needs about"):
        prepare(tiny_config(tiny_chat, tmp_path))
    assert not (tmp_path / "run.json").exists()


def test_sampled_answers_are_reproducible_and_untied_prompts_make_no_pairs(tiny_chat, home):
    from llm_playground.finetuning.pairs import build_pairs, sample_answers
    from llm_playground.finetuning.tasks import get_task

    prompts = [e.prompt for e in get_task("extract").make(3, 1)[0]]
    first = sample_answers(str(tiny_chat), prompts, 3, seed=5, max_new_tokens=6)
    assert first == sample_answers(str(tiny_chat), prompts, 3, seed=5, max_new_tokens=6)
    assert [len(answers) for answers in first] == [3, 3, 3]
    assert first != sample_answers(str(tiny_chat), prompts, 3, seed=6, max_new_tokens=6)
    with pytest.raises(PlaygroundError, match="none of 4 prompts gave two answers the rule tells apart"):
        build_pairs(str(tiny_chat), prompts=4, eval_prompts=2, samples=2, max_new_tokens=4, progress=False)
