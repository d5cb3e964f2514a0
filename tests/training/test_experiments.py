"""Experiments: every optimizer's curve falls, the overfit runs report what they ran, the scaling
sweep's compute is 6·N·D and its fit goes through the plotted points."""
import json

import pytest

from llm_playground.training.experiments import optimizer_experiment, overfit_experiment, scaling_sweep

from .test_trainer import synthetic_text


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(synthetic_text(20_000), encoding="utf-8")
    return str(path)


def test_every_optimizer_curve_falls(corpus, tmp_path):
    result = optimizer_experiment(data=corpus, steps=60, out=tmp_path / "opt", progress=False,
                                  n_layer=1, n_embd=32, n_head=2, block_size=32)
    assert [r.optimizer for r in result.runs] == ["sgd", "sgd-momentum", "adam", "adamw"]
    for run in result.runs:
        assert run.falls, (run.label, run.first_loss, run.last_loss)
        assert [s for s, _ in run.step_losses] == list(range(1, 61))
    assert (tmp_path / "opt" / "optimizers.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "opt" / "optimizers.json").read_text())
    assert [r["falls"] for r in saved["runs"]] == [True] * 4


def test_overfit_variants(corpus, tmp_path):
    result = overfit_experiment(data=corpus, chars=3000, steps=48, out=tmp_path / "over", progress=False,
                                n_layer=1, n_embd=32, n_head=2, block_size=32)
    plain, dropout, early = result.runs
    assert (plain.dropout, dropout.dropout, early.early_stopping) == (0.0, 0.2, 4)
    assert plain.steps_run == 48 and early.steps_run <= 48
    assert plain.best_val_loss == min(e["val_loss"] for e in plain.evaluations)
    # early stopping replays the plain run (same seed, no dropout) until it stops
    assert early.evaluations == plain.evaluations[:len(early.evaluations)]
    assert result.train_tokens == 2700 and (tmp_path / "over" / "overfit.png").is_file()


def test_scaling_sweep_compute_and_fit(corpus, tmp_path):
    sweep = scaling_sweep(data=corpus, sizes=((1, 16), (1, 32), (2, 32)), tokens_per_param=0.5,
                          block_size=32, batch_size=8, out=tmp_path / "scale", progress=False)
    for point in sweep.points:
        assert point.tokens == point.steps * 8 * 32
        assert point.flops == 6 * point.params * point.tokens
    assert [p.params for p in sweep.points] == sorted(p.params for p in sweep.points)
    assert sweep.fit["points"] == 3 and (tmp_path / "scale" / "scaling_fit.png").is_file()
