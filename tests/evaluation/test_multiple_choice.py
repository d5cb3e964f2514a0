"""Multiple choice: our acc / acc_norm equal lm-evaluation-harness's own, item by item, on a local
model folder, and every engine (readable reference, native, fast, hf) gives the same log-likelihoods."""
from __future__ import annotations

import json
import math

import pytest

from llm_playground.evaluation.contestants import resolve_contestant
from llm_playground.evaluation.multiple_choice import argmax, mean_and_stderr, run_multiple_choice
from llm_playground.evaluation.scoring import ReferenceScorer, encode_pair
from llm_playground.evaluation.tasks import parse_task

TASK = """
name: tiny-mc
data:
  file: {file}
prompt: "{{{{ question }}}}"
choices: "{{{{ choices | tojson }}}}"
answer: "{{{{ label }}}}"
"""


def our_task(items_file):
    return parse_task(TASK.format(file=items_file.name), str(items_file.parent / "tiny-mc.yaml"))


def lm_eval_samples(folder, items_file, tmp_path):
    """Run the real lm-eval package (offline) on the same folder and items; its per-item records."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    task_dir = tmp_path / "lm_eval_tasks"
    task_dir.mkdir()
    (task_dir / "tiny_mc.yaml").write_text(f"""
task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files: {{test: {items_file}}}
  cache_dir: {tmp_path / 'datasets'}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
  - metric: acc_norm
""")
    results = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={folder},dtype=float32", tasks=["tiny_mc"],
                                      task_manager=TaskManager(include_path=str(task_dir), include_defaults=False), batch_size=1,
                                      device="cpu", log_samples=True)
    samples = sorted(results["samples"]["tiny_mc"], key=lambda s: s["doc_id"])
    return results["results"]["tiny_mc"], samples


@pytest.mark.parametrize("backend", ["native", "fast", "hf"])
def test_engines_equal_the_readable_reference(tiny_model_folder, items_file, backend):
    """Shared context + batched choices gives what one forward pass per choice gives."""
    import torch

    contestant = resolve_contestant(f"{tiny_model_folder}@{backend}")
    scorer = contestant.scorer()
    from llm_playground.generation.backends import native_model

    model = native_model(tiny_model_folder)
    reference = ReferenceScorer(lambda ids: model(torch.tensor([ids]))[0][0], scorer.tokenizer, model.config.block_size)
    task = our_task(items_file)
    ours = run_multiple_choice(task, scorer)
    ref = run_multiple_choice(task, reference)
    for a, b in zip(ours.items, ref.items):
        assert a.logprobs == pytest.approx(b.logprobs, abs=2e-4)
        assert a.is_greedy == b.is_greedy
        assert (a.pred, a.pred_norm) == (b.pred, b.pred_norm)


def test_acc_and_acc_norm_equal_lm_eval_item_by_item(tiny_model_folder, items_file, tmp_path):
    summary, samples = lm_eval_samples(tiny_model_folder, items_file, tmp_path)
    result = run_multiple_choice(our_task(items_file), resolve_contestant(f"{tiny_model_folder}@native").scorer())
    assert len(samples) == len(result.items) == 8
    for sample, item in zip(samples, result.items):
        theirs = [float(r[0][0]) for r in sample["resps"]]  # [(loglikelihood, is_greedy)] per choice
        assert item.logprobs == pytest.approx(theirs, abs=1e-4), f"item {item.index}"
        assert item.acc == sample["acc"] and item.acc_norm == sample["acc_norm"], f"item {item.index}"
    metrics = {m.name: m for m in result.metrics}
    assert metrics["acc"].value == pytest.approx(summary["acc,none"])
    assert metrics["acc_norm"].value == pytest.approx(summary["acc_norm,none"])
    assert metrics["acc"].stderr == pytest.approx(summary["acc_stderr,none"])
    # the test would be empty if every item agreed for a trivial reason: the items must disagree somewhere
    assert {i.pred for i in result.items} != {0} or {i.pred_norm for i in result.items} != {0}


def test_encoding_moves_trailing_spaces_and_keeps_boundary_merges(tiny_model_folder):
    from llm_playground import zoo

    tokenizer = zoo.load_tokenizer(tiny_model_folder)
    context, continuation = encode_pair(tokenizer, "Which is a fruit? ", "apple")
    assert continuation == encode_pair(tokenizer, "Which is a fruit?", " apple")[1]
    whole = tokenizer.encode("Which is a fruit? apple")
    assert context + continuation == whole
    empty_context, ids = encode_pair(tokenizer, "", "Paris is in France.")
    assert empty_context == [tokenizer.bos_token_id]


def test_argmax_takes_the_first_of_ties_and_stderr_is_the_sample_one():
    assert argmax([-1.0, -0.5, -0.5]) == 1
    mean, stderr = mean_and_stderr([1.0, 0.0, 1.0, 1.0])
    assert mean == 0.75 and stderr == pytest.approx(math.sqrt((3 * 0.0625 + 0.5625) / 3 / 4))
    assert mean_and_stderr([1.0]) == (1.0, None)
