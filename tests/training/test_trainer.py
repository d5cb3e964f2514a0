"""The neural trainer: data checks, checkpoints, exact kill-and-resume, DDP = one process, errors.

Every run here is tiny (1–2 layers, 32 wide, a synthetic text of ~20 kB) so the module stays fast.
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.models import Transformer
from llm_playground.training import Batches, load_checkpoint, read_corpus, save_checkpoint, train, train_config
from llm_playground.training.checkpoint import capture_rng_states, restore_rng_states
from llm_playground.training.config import TrainConfig
from llm_playground.training.data import prepare_data
from llm_playground.training.ngram import train_val_split
from llm_playground.training.tokenizing import GenerationTokenizer, TrainingTokenizer, build_tokenizer
from llm_playground.training.trainer import lr_at, make_optimizer

VENV_BIN = Path(sys.executable).parent
WORDS = ("the king shall speak to his lords and ladies of the court while the fool sings "
         "a song of love and war under the moon of a cold night in the north").split()


def synthetic_text(chars: int = 20_000, seed: int = 0) -> str:
    """Pseudo-English lines from a fixed word list (reproducible, needs no corpus download)."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < chars:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize() + "."
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)[:chars]


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(synthetic_text(), encoding="utf-8")
    return path


def tiny(corpus: Path, out: Path, **changes) -> TrainConfig:
    values = dict(data=str(corpus), out=str(out), n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=8,
                  max_steps=20, eval_every=10, eval_batches=2, sample_tokens=0, warmup_steps=5, precision="fp32",
                  seed=7, compile=False)
    values.update(changes)
    return train_config("cpu-tiny", **values)


def cli(*args: str) -> list[str]:
    return [str(VENV_BIN / "llmpg"), *args]


def tiny_flags(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(corpus), "--out", str(out), "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
            "--block-size", "32", "--eval-batches", "2", "--sample-tokens", "0", "--warmup-steps", "5",
            "--compile", "off", "--no-baselines", "--json", *extra]


def subprocess_env() -> dict:
    return {**os.environ, "LLMPG_THREADS": "1", "OMP_NUM_THREADS": "1"}


# ---- data ----------------------------------------------------------------------------------------

def test_read_corpus_refuses_what_cannot_be_trained_on(tmp_path):
    with pytest.raises(PlaygroundError, match="no such file"):
        read_corpus(str(tmp_path / "missing.txt"))
    with pytest.raises(PlaygroundError, match="is a folder"):
        read_corpus(str(tmp_path))
    (tmp_path / "empty.txt").write_text("  \n\n")
    with pytest.raises(PlaygroundError, match="empty"):
        read_corpus(str(tmp_path / "empty.txt"))
    (tmp_path / "binary.bin").write_bytes(b"PK\x03\x04\x00\x00abc" * 10)
    with pytest.raises(PlaygroundError, match="binary"):
        read_corpus(str(tmp_path / "binary.bin"))
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(PlaygroundError, match="not UTF-8.*offset 3"):
        read_corpus(str(tmp_path / "latin1.txt"))
    (tmp_path / "ok.txt").write_text("héllo wörld\n", encoding="utf-8")
    assert read_corpus(str(tmp_path / "ok.txt")).text == "héllo wörld\n"


def test_corpus_shorter_than_one_block(tmp_path):
    (tmp_path / "short.txt").write_text("To be, or not to be, that is the question." * 3)  # 129 chars
    config = train_config("cpu-tiny", data=str(tmp_path / "short.txt"), block_size=64, out=str(tmp_path / "o"))
    with pytest.raises(PlaygroundError, match="too short for one block.*validation split has 13 tokens.*--block-size 12"):
        prepare_data(config, None)


def test_block_size_larger_than_the_context_and_other_bad_fields():
    with pytest.raises(PlaygroundError, match="block size 256 is larger than the model's context \\(128"):
        train_config("cpu-tiny", block_size=256, context_length=128)
    with pytest.raises(PlaygroundError, match="n_embd=100 must be divisible by n_head=3"):
        train_config("cpu-tiny", n_embd=100, n_head=3)
    with pytest.raises(PlaygroundError, match="unknown training preset 'gpu-huge'"):
        train_config("gpu-huge")
    with pytest.raises(PlaygroundError, match="unknown optimizer"):
        train_config("cpu-tiny", optimizer="lion")


def test_split_and_batches(corpus):
    config = tiny(corpus, corpus.parent / "o")
    data = prepare_data(config, corpus.parent / "cache")
    ids = np.asarray(data.tokenizer.encode(corpus.read_text()))
    train_ids, val_ids = train_val_split(ids, 0.1)  # the n-gram baselines' split
    assert data.train.tolist() == train_ids.tolist() and data.val.tolist() == val_ids.tolist()
    # The cache is reused: same ids, same tokenizer, no re-encoding.
    again = prepare_data(config, corpus.parent / "cache")
    assert torch.equal(again.train, data.train) and again.tokenizer.alphabet == data.tokenizer.alphabet

    batches = Batches(data.train, block_size=32, batch_size=4, seed=3)
    x, y = batches.next()
    assert x.shape == y.shape == (4, 32)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    start = int(torch.nonzero(torch.all(data.train.unfold(0, 32, 1) == x[0], dim=1))[0])
    assert torch.equal(data.train[start + 1:start + 33], y[0])
    # Two processes with batch 2 each see exactly one process's batch of 4, split in halves.
    halves = [Batches(data.train, block_size=32, batch_size=2, seed=3, rank=r, world_size=2).next()[0] for r in (0, 1)]
    assert torch.equal(torch.cat(halves), x)


def test_tokenizers_build_save_and_load(tmp_path):
    text = synthetic_text(5000)
    for spec in ("char", "bpe:300"):
        tok = build_tokenizer(spec, text)
        tok.save(tmp_path / spec.replace(":", "-"))
        loaded = TrainingTokenizer.load(tmp_path / spec.replace(":", "-"))
        assert loaded.encode(text) == tok.encode(text)
        assert loaded.decode(loaded.encode(text)) == text
    assert build_tokenizer("bpe:300", text).vocab_size == 301  # 300 + <|endoftext|>
    adapter = GenerationTokenizer(build_tokenizer("char", "ab").tokenizer)
    assert adapter.decode([2, 3, 0], skip_special_tokens=True, clean_up_tokenization_spaces=False) == "ab"
    assert adapter.encode("ba", add_special_tokens=False) == [3, 2] and adapter.eos_token_id is None
    with pytest.raises(PlaygroundError, match="unknown tokenizer 'nope'"):
        build_tokenizer("nope", text)


# ---- optimisation --------------------------------------------------------------------------------

def test_learning_rate_schedule():
    config = train_config("cpu-tiny", lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110)
    assert lr_at(0, config) == pytest.approx(1e-4)         # (0 + 1) / 10 of the peak
    assert lr_at(9, config) == pytest.approx(1e-3)
    assert lr_at(60, config) == pytest.approx(5.5e-4)      # halfway down the cosine
    assert lr_at(110, config) == pytest.approx(1e-4)
    assert lr_at(1000, config) == pytest.approx(1e-4)


def test_weight_decay_only_on_matrices():
    config = train_config("cpu-tiny", n_layer=1, n_embd=32, n_head=2)
    model = Transformer(config.model_config(50))
    optimizer = make_optimizer(model, config, torch.device("cpu"))
    decay, no_decay = optimizer.param_groups
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == model.num_params()


# ---- checkpoints ---------------------------------------------------------------------------------

def test_checkpoint_round_trip(corpus, tmp_path):
    config = tiny(corpus, tmp_path / "run", dropout=0.1)
    data = prepare_data(config, None)
    model = Transformer(config.model_config(data.vocab_size))
    optimizer = make_optimizer(model, config, torch.device("cpu"))
    batches = Batches(data.train, block_size=32, batch_size=4, seed=1)
    for _ in range(2):
        x, y = batches.next()
        model(x, y)[1].backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.manual_seed(123)
    folder = save_checkpoint(tmp_path / "ckpt", model=model, optimizer=optimizer, step=2, train_config=config,
                             tokenizer=data.tokenizer, batch_generator=batches.generator, history={"x": 1})
    expected_next = (torch.rand(3), batches.next()[0])

    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.step == 2 and loaded.train_config == config and loaded.history == {"x": 1}
    assert loaded.model_config == model.config
    rebuilt = loaded.build_model()
    for name, tensor in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], tensor), name
    assert rebuilt.lm_head.weight is rebuilt.wte.weight  # the tie survives (stored once)
    fresh = make_optimizer(rebuilt, config, torch.device("cpu"))
    loaded.load_optimizer(fresh)
    saved_state, loaded_state = optimizer.state_dict(), fresh.state_dict()
    assert saved_state["param_groups"] == loaded_state["param_groups"]
    assert saved_state["state"].keys() == loaded_state["state"].keys()
    for index, values in saved_state["state"].items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(values[key], loaded_state["state"][index][key]), (index, key)
    generator = torch.Generator()
    restore_rng_states(loaded.rng, generator)
    assert torch.equal(torch.rand(3), expected_next[0])  # torch's global RNG (dropout) is back
    batches.generator = generator
    assert torch.equal(batches.next()[0], expected_next[1])  # and so is the batch stream
    assert loaded.tokenizer.encode("the king") == data.tokenizer.encode("the king")
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "optimizer.safetensors",
                                                         "state.json", "tokenizer"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no leftovers of the atomic write
    state = capture_rng_states()
    json.dumps(state)  # plain JSON


def test_checkpoint_from_another_config_is_a_clear_error(corpus, tmp_path):
    result = train(tiny(corpus, tmp_path / "run", max_steps=2, eval_every=2), progress=False, baselines=False,
                   log=lambda line: None)
    assert result.step == 2
    with pytest.raises(PlaygroundError, match=r"another configuration: --n-embd 64 \(checkpoint: 32\)"):
        train(None, resume=tmp_path / "run", overrides={"n_embd": 64}, progress=False)
    checkpoint = load_checkpoint(tmp_path / "run")
    other = Transformer(checkpoint.model_config.replace(n_layer=2))
    with pytest.raises(PlaygroundError, match="another model configuration \\(n_layer: checkpoint 1, asked 2\\)"):
        checkpoint.load_model(other)
    with pytest.raises(PlaygroundError, match="holds no checkpoint"):
        load_checkpoint(tmp_path)


def test_out_of_memory_suggests_a_smaller_batch(corpus, tmp_path, monkeypatch):
    def exhausted(self, idx, targets=None, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Transformer, "forward", exhausted)
    with pytest.raises(PlaygroundError, match="--batch-size 4 --grad-accum 2"):
        train(tiny(corpus, tmp_path / "run"), progress=False, baselines=False)

    def cpu_exhausted(self, idx, targets=None, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(Transformer, "forward", cpu_exhausted)
    with pytest.raises(PlaygroundError, match="does not fit in memory"):
        train(tiny(corpus, tmp_path / "run2"), progress=False, baselines=False)


# ---- whole runs ----------------------------------------------------------------------------------

def test_training_learns_writes_files_and_samples(corpus, tmp_path):
    result = train(tiny(corpus, tmp_path / "run", n_layer=2, max_steps=60, eval_every=30, sample_tokens=40,
                        lr=3e-3), progress=False, log=lambda line: None)
    first, last = result.evaluations
    assert last.val_loss < first.val_loss < math.log(result.vocab_size)
    assert last.val_loss < result.baselines["unigram (Kneser-Ney)"]
    assert [s for s, _ in result.step_losses] == list(range(1, 61))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [e["step"] for e in metrics["evaluations"]] == [30, 60]
    assert (tmp_path / "run" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prompt = corpus.read_text()[int(len(corpus.read_text()) * 0.9):][:16]
    assert last.sample.startswith(prompt) and len(last.sample) >= len(prompt) + 40
    assert "bigram (Kneser-Ney)" in result.report() and "perplexity = e^loss" in result.report()


def test_sample_goes_through_the_generation_engine(corpus, tmp_path):
    from llm_playground.generation import GenerationConfig, generate_steps
    from llm_playground.training import sample_text, stream_sample
    from llm_playground.training.sample import NoSpecialsBackend

    train(tiny(corpus, tmp_path / "run", max_steps=4, eval_every=4), progress=False, baselines=False)
    checkpoint = load_checkpoint(tmp_path / "run")
    model = checkpoint.build_model()
    prompt = checkpoint.tokenizer.encode("The king")
    config = GenerationConfig(max_new_tokens=20, strategy="sample", temperature=0.8, seed=5, stop_at_eos=False,
                              top_alternatives=0)
    specials = [0, 1]  # [PAD], [UNK]: never targets in training, masked when sampling
    assert sorted(checkpoint.tokenizer.tokenizer.special_tokens.values()) == specials
    direct = [s.id for s in generate_steps(NoSpecialsBackend(model, specials),
                                           GenerationTokenizer(checkpoint.tokenizer.tokenizer), prompt, config)]
    assert not set(direct) & set(specials)
    assert sample_text(model, checkpoint.tokenizer, prompt, 20, seed=5) == checkpoint.tokenizer.decode(prompt + direct)
    streamed = "".join(stream_sample(tmp_path / "run", "The king", config.replace(max_new_tokens=100)))
    assert len(streamed) == 100  # past the 32-token context, in rounds


def test_killed_run_resumes_to_the_same_losses(corpus, tmp_path):
    """SIGKILL a run after its first checkpoint, resume it: every later loss equals the uninterrupted run's."""
    flags = ("--max-steps", "60", "--checkpoint-every", "10", "--eval-every", "30", "--dropout", "0.1",
             "--precision", "fp32", "--batch-size", "8", "--seed", "11")
    # The uninterrupted run, in this process (one thread, as in the subprocesses).
    whole = tiny(corpus, tmp_path / "whole", max_steps=60, checkpoint_every=10, eval_every=30, dropout=0.1, seed=11)
    expected = train(whole, progress=False, baselines=False, log=lambda line: None).to_dict()

    out = tmp_path / "killed"
    process = subprocess.Popen(cli(*tiny_flags(corpus, out, *flags)), env=subprocess_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 90
    while not state.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = json.loads(state.read_text())["step"]
    assert 10 <= killed_at < 60  # killed mid-run, after at least one checkpoint

    resumed = subprocess.run(cli("train", "--resume", str(out), "--json", "--no-baselines"), env=subprocess_env(),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    got = json.loads(resumed.stdout)
    assert got["start_step"] == killed_at and got["step"] == 60
    expected_losses = dict((int(s), l) for s, l in expected["step_losses"])
    got_losses = dict((int(s), l) for s, l in got["step_losses"])
    assert sorted(got_losses) == list(range(1, 61))
    for step in range(killed_at + 1, 61):
        assert got_losses[step] == expected_losses[step], step  # bit for bit
    assert got["evaluations"][-1]["val_loss"] == expected["evaluations"][-1]["val_loss"]


def test_ddp_two_processes_match_one_process_with_the_same_global_batch(corpus, tmp_path):
    flags = ("--max-steps", "8", "--eval-every", "8", "--precision", "fp32", "--seed", "3")
    one = train(tiny(corpus, tmp_path / "one", max_steps=8, eval_every=8, seed=3, batch_size=8), progress=False,
                baselines=False, log=lambda line: None).to_dict()
    ddp = subprocess.run([str(VENV_BIN / "torchrun"), "--nproc_per_node=2", "--standalone", str(VENV_BIN / "llmpg"),
                          *tiny_flags(corpus, tmp_path / "two", *flags, "--batch-size", "4")],
                         env=subprocess_env(), capture_output=True, text=True, timeout=180)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    two = json.loads(ddp.stdout)
    assert two["world_size"] == 2 and one["world_size"] == 1
    np.testing.assert_allclose([l for _, l in two["step_losses"]], [l for _, l in one["step_losses"]], rtol=2e-5)
    np.testing.assert_allclose(two["evaluations"][-1]["val_loss"], one["evaluations"][-1]["val_loss"], rtol=2e-5)


def test_bf16_autocast_keeps_the_loss(corpus, tmp_path):
    """The trainer's bf16 context (autocast + math attention) gives the fp32 loss to ~1e-2 nats."""
    from llm_playground.training.trainer import training_context

    config = tiny(corpus, tmp_path / "o", n_layer=2)
    data = prepare_data(config, None)
    torch.manual_seed(0)
    model = Transformer(config.model_config(data.vocab_size))
    x, y = Batches(data.train, block_size=32, batch_size=8, seed=0).next()
    with torch.no_grad():
        fp32 = model(x, y)[1]
        with training_context(torch.device("cpu"), "bf16"):
            logits, bf16 = model(x, y)
    assert logits.dtype == torch.bfloat16 and bf16.dtype == torch.float32
    assert abs(float(bf16) - float(fp32)) < 1e-2


def test_gradient_accumulation_equals_the_bigger_batch(corpus, tmp_path):
    """2 micro-batches of 4 accumulate to the same step as one batch of 8 (the same sequences)."""
    runs = [train(tiny(corpus, tmp_path / name, max_steps=6, eval_every=6, batch_size=batch, grad_accum=accum),
                  progress=False, baselines=False, log=lambda line: None)
            for name, batch, accum in (("big", 8, 1), ("accumulated", 4, 2))]
    big, accumulated = ([loss for _, loss in run.step_losses] for run in runs)
    np.testing.assert_allclose(accumulated, big, rtol=1e-5)
    assert runs[1].config.tokens_per_step() == runs[0].config.tokens_per_step() == 256
