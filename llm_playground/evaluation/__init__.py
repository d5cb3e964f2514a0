"""Evaluation lab: how do you know a model is good? The numbers the field uses, computed its way.

- `perplexity`: sliding-window perplexity, bits per byte, word perplexity (Hugging Face's strided method);
- `overlap`: ROUGE (rouge-score), BLEU and chrF (sacrebleu), with the counts behind them;
- `scoring` + `multiple_choice` + `tasks`: log-likelihood multiple choice, `acc` / `acc_norm` exactly
  as lm-evaluation-harness computes them, over declarative task files (tasks/*.yaml);
- `humaneval` + `sandbox`: HumanEval pass@k with model-written code run in a sandbox;
- `judge`: pairwise LLM-as-judge in both orders, win/tie/loss with a confidence interval;
- `suite`: models × tasks → JSON results → leaderboard table and PNG;
- `contestants`: what a "model" is here (zoo name, folder, fast precision, remote backends later).
"""
from llm_playground.evaluation.contestants import (NotScorable, register_remote, resolve_contestant,
                                                   resolve_contestants, unregister_remote)
from llm_playground.evaluation.humaneval import pass_at_k, run_humaneval
from llm_playground.evaluation.judge import judge_pair, read_prompts
from llm_playground.evaluation.multiple_choice import run_multiple_choice
from llm_playground.evaluation.overlap import overlap_report
from llm_playground.evaluation.perplexity import perplexity
from llm_playground.evaluation.sandbox import SandboxLimits, run_sandboxed
from llm_playground.evaluation.suite import SuiteResults, leaderboard_text, run_suite, save_leaderboard_png
from llm_playground.evaluation.tasks import TaskFileError, builtin_tasks, load_task, load_tasks, parse_task

__all__ = ["NotScorable", "SandboxLimits", "SuiteResults", "TaskFileError", "builtin_tasks", "judge_pair",
           "leaderboard_text", "load_task", "load_tasks", "overlap_report", "parse_task", "pass_at_k", "perplexity",
           "read_prompts", "register_remote", "resolve_contestant", "resolve_contestants", "run_humaneval",
           "run_multiple_choice", "run_sandboxed", "run_suite", "save_leaderboard_png", "unregister_remote"]
