"""The suite (models × tasks → JSON → leaderboard and PNG), the judge, and the CLI's bad-input cases."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation import (judge_pair, load_tasks, parse_task, register_remote, resolve_contestant,
                                       resolve_contestants, run_suite, unregister_remote)
from llm_playground.evaluation.suite import SuiteResults, leaderboard_figure, leaderboard_text, save_leaderboard_png
from llm_playground.evaluation.tasks import TaskFileError

from .conftest import ITEMS


def write_task(folder, items_file, name="tiny-mc"):
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\ndata:\n  file: {items_file}\nprompt: \"{{{{ question }}}}\"\n"
                    "choices: \"{{ choices | tojson }}\"\nanswer: \"{{ label }}\"\n")
    return path


def write_ppl_task(folder):
    (folder / "text.txt").write_text("It was the best of times, it was the worst of times. " * 10)
    path = folder / "tiny-ppl.yaml"
    path.write_text("name: tiny-ppl\nkind: perplexity\ndata:\n  file: text.txt\nwindow: 32\nstride: 16\nmax_tokens: 100\n")
    return path


class NoLogprobsRemote:
    """What a remote backend without logprobs looks like to the evaluation lab."""

    def __init__(self, name):
        self.model, self.backend, self.precision = name, "remote", "remote"
        self.label = f"fake:{name}"
        self.loglikelihood_unsupported = "the remote API returns no log-probabilities of the prompt's tokens"

    def scorer(self):
        raise AssertionError("must not be asked")


def test_suite_runs_saves_and_reports(tiny_folder, items_file, tmp_path):
    register_remote("fake", NoLogprobsRemote)
    try:
        contestants = resolve_contestants(f"{tiny_folder}@native,{tiny_folder}@fast-int8,fake:gpt")
    finally:
        unregister_remote("fake")
    tasks = load_tasks([str(write_task(tmp_path, items_file)), str(write_ppl_task(tmp_path))])
    seen = []
    results = run_suite(contestants, tasks, limit=5, progress=lambda label, done, total: seen.append((label, done, total)))
    assert seen[-1][1] == seen[-1][2] and all(b[1] >= a[1] for a, b in zip(seen, seen[1:]))  # monotone, ends full
    rows = {(r.model.split("@")[-1] if "@" in r.model else r.model, r.task, r.metric): r for r in results.rows}
    native_acc = rows[("native", "tiny-mc", "acc")]
    assert native_acc.n == 5 and native_acc.precision == "fp32" and 0 <= native_acc.value <= 1
    assert rows[("fast-int8", "tiny-mc", "acc")].precision == "int8"
    assert rows[("fake:gpt", "tiny-mc", "acc")].skipped.startswith("skipped: the remote API returns no log-prob")
    assert rows[("native", "tiny-ppl", "token_perplexity")].value > 1
    path = results.save(tmp_path / "results.json")
    loaded = SuiteResults.load(path)
    assert [r.value for r in loaded.rows] == [r.value for r in results.rows]
    details = loaded.details[f"{tiny_folder}@native|tiny-mc"]["items"]
    assert len(details) == 5 and len(details[0]["logprobs"]) == len(ITEMS[0]["choices"])
    text = leaderboard_text(loaded)
    assert "tiny-mc acc_norm" in text and "skipped" in text and "no log-prob" in text
    figure = leaderboard_figure(loaded)
    bars = [patch.get_height() for patch in figure.axes[0].patches]
    assert bars[0] == pytest.approx(rows[("native", "tiny-mc", "acc_norm")].value) and bars[2] == 0
    assert save_leaderboard_png(loaded, tmp_path / "board.png").stat().st_size > 5000


def test_judge_both_orders_and_warns_when_the_judge_is_a_contestant(tiny_folder):
    first = resolve_contestant(f"{tiny_folder}@native")
    second = resolve_contestant(f"{tiny_folder}@fast-int4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = judge_pair(first, second, first, ["Say hello.", "Name a colour."], max_new_tokens=6)
    assert any("also a contestant" in str(w.message) for w in caught) and result.warnings
    assert sum(result.counts().values()) == 2
    for prompt in result.prompts:
        assert [v.order for v in prompt.verdicts] == ["AB", "BA"]
        assert all(set(v.logprobs) == {"A", "B", "C"} for v in prompt.verdicts)
        ab, ba = prompt.verdicts
        expected = "win" if (ab.choice, ba.choice) == ("A", "B") else "loss" if (ab.choice, ba.choice) == ("B", "A") else "tie"
        assert prompt.outcome == expected
    low, high = result.interval
    assert 0 <= low <= result.score <= high <= 1
    assert "[Assistant A]" in result.judge_prompt


@pytest.mark.parametrize("text,expected", [
    ("name: x\ndata:\n  items: [{q: 1}]\nprompt: '{{ q }}'\nchoices: ['a', 'b']\nanswer: 0\ncolour: red\n",
     "line 7, field 'colour': unknown field"),
    ("name: x\ndata:\n  items: [{q: 1}]\nprompt: '{{ q }'\nchoices: ['a', 'b']\nanswer: 0\n",
     "line 4, field 'prompt': template syntax error"),
    ("name: x\ndata:\n  items: []\nprompt: 'p'\nchoices: ['a', 'b']\nanswer: 0\n", "field 'data.items'"),
    ("name: x\ndata: {items: [{q: 1}]}\nprompt: p\nchoices: [a]\nanswer: 0\n", "line 4, field 'choices': needs at least 2"),
    ("name: x\ndata: {items: [{q: 1}]}\nprompt: p\nchoices: [a, b\n", "line 5: not valid YAML"),
    ("name: x\nkind: quiz\ndata: {items: [{q: 1}]}\n", "line 2, field 'kind'"),
])
def test_malformed_task_files_name_the_line_and_field(text, expected):
    with pytest.raises(TaskFileError) as error:
        parse_task(text, "bad.yaml")
    assert expected in str(error.value) and str(error.value).startswith("bad.yaml")


def test_items_that_do_not_render_name_the_item_and_field():
    task = parse_task("name: x\ndata:\n  items: [{q: 1, a: 0}, {q: 2}]\nprompt: 'Q{{ q }}'\nchoices: [y, n]\n"
                      "answer: '{{ a }}'\n", "t.yaml")
    with pytest.raises(PlaygroundError, match=r"item 2, field 'answer' \(t.yaml, line 6\): 'a' is undefined"):
        task.items()


def run_cli(*args, env_home):
    """A real `llmpg` process (what a user runs): exit code, stdout, stderr."""
    return subprocess.run([sys.executable, "-m", "llm_playground", *args], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "LLMPG_HOME": str(env_home)})


def cli(capsys, monkeypatch, home, *args):
    """The same `main` in this process (each real process costs seconds of imports): (code, out, err)."""
    from llm_playground.cli import main

    monkeypatch.setenv("LLMPG_HOME", str(home))
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args,message", [
    (["eval", "run", "--models", "smollm2-135m-instruct", "--tasks", "no-such-task"], "unknown task 'no-such-task'; known:"),
    (["eval", "run", "--models", "no-such-model", "--tasks", "arithmetic"], "unknown model 'no-such-model'"),
    (["eval", "run", "--models", "smollm2-135m-instruct@warp", "--tasks", "arithmetic"], "unknown backend 'warp'"),
    (["eval", "run", "--models", "openai:gpt-4o", "--tasks", "arithmetic"], "unknown remote backend 'openai'"),
    (["eval", "perplexity", "--file", "/no/such/file.txt"], "does not exist"),
    (["eval", "perplexity", "--file", "EMPTY", "--window", "8"], "is empty"),
    (["eval", "perplexity", "--file", "TEXT", "--window", "8", "--stride", "9"], "1 ≤ stride ≤ window"),
    (["eval", "rouge", "--prediction", " ", "--reference", "x"], "must both be non-empty"),
    (["eval", "humaneval", "--samples", "1", "--k", "5"], "pass@5 needs at least 5 samples"),
    (["eval", "judge", "--models", "smollm2-135m-instruct"], "exactly two models"),
    (["eval", "judge", "--models", "a,b,c"], "unknown model 'a'"),
    (["eval", "report", "--results", "/no/such.json"], "does not exist"),
])
def test_cli_bad_input_is_one_line_and_exit_1(args, message, tmp_path, capsys, monkeypatch):
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "text.txt").write_text("some words here " * 20)
    args = [str(tmp_path / "empty.txt") if a == "EMPTY" else str(tmp_path / "text.txt") if a == "TEXT" else a
            for a in args]
    code, _, err = cli(capsys, monkeypatch, tmp_path / "home", *args)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("llmpg: error: ") and message in err, err


def test_cli_bad_input_in_a_real_process_is_one_line_without_traceback(tmp_path):
    done = run_cli("eval", "run", "--models", "smollm2-135m-instruct", "--tasks", "no-such-task", env_home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "llmpg: error: unknown task 'no-such-task'; known: arithmetic, humaneval, logiqa, perplexity, quartz, socialiqa"]


def test_cli_malformed_task_file_and_empty_dataset(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndata:\n  items: [{q: 1}]\nprompt: '{{ q }}'\nchoices: [a, b]\nanswr: 0\n")
    code, _, err = cli(capsys, monkeypatch, tmp_path / "h", "eval", "run", "--models", "smollm2-135m-instruct",
                       "--tasks", str(bad))
    assert code == 1 and "line 6, field 'answr': unknown field" in err
    empty_data = tmp_path / "empty.jsonl"
    empty_data.write_text("")
    task = tmp_path / "empty.yaml"
    task.write_text(f"name: empty\ndata:\n  file: {empty_data}\nprompt: p\nchoices: [a, b]\nanswer: 0\n")
    code, _, err = cli(capsys, monkeypatch, tmp_path / "h", "eval", "run", "--models", "smollm2-135m-instruct",
                       "--tasks", str(task))
    assert code == 1 and "the dataset is empty" in err


def test_cli_run_on_a_local_folder_skips_an_encoder(tiny_folder, items_file, tmp_path, capsys, monkeypatch):
    task = write_task(tmp_path, items_file)
    out = tmp_path / "r.json"
    code, stdout, _ = cli(capsys, monkeypatch, tmp_path / "home", "eval", "run", "--models",
                          f"{tiny_folder}@native,minilm-l6", "--tasks", str(task), "--limit", "3", "--output", str(out))
    assert code == 0
    assert "tiny-mc acc_norm" in stdout and "minilm-l6@hf · tiny-mc: skipped: minilm-l6 is an encoder" in stdout
    assert json.loads(out.read_text())["rows"][0]["n"] == 3 and out.with_suffix(".png").is_file()

def test_cli_report_merges_runs(tiny_folder, items_file, tmp_path, capsys, monkeypatch):
    task = write_task(tmp_path, items_file)
    for backend in ("native", "fast-int4"):
        code, _, _ = cli(capsys, monkeypatch, tmp_path / "home", "eval", "run", "--models", f"{tiny_folder}@{backend}",
                         "--tasks", str(task), "--limit", "2", "--output", str(tmp_path / f"{backend}.json"))
        assert code == 0
    code, out, _ = cli(capsys, monkeypatch, tmp_path / "home", "eval", "report", "--results", str(tmp_path / "native.json"),
                       "--results", str(tmp_path / "fast-int4.json"), "--png", str(tmp_path / "b.png"))
    assert code == 0 and f"{tiny_folder}@native" in out and f"{tiny_folder}@fast-int4" in out and "int4" in out
    assert (tmp_path / "b.png").is_file()


def test_cli_perplexity_rouge_and_sandbox_print_their_figures(tiny_folder, tmp_path, capsys, monkeypatch):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 8)
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "eval", "perplexity", "--model", f"{tiny_folder}@fast",
                       "--file", str(text), "--window", "16", "--stride", "8", "--json")
    result = json.loads(out)
    assert code == 0 and result["window"] == 16 and result["token_perplexity"] > 1 and "windows of" in result["method"]
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "eval", "rouge", "--prediction",
                       "The cat sat on the mat near the window.", "--reference", "The cat sat on the mat.")
    assert code == 0 and "rouge1      0.6667  1.0000  0.8000" in out and "0.8571" in out
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "eval", "sandbox", "--json")
    checks = json.loads(out)["checks"]
    assert code == 0 and checks["a harmless program"]["status"] == "passed"
    assert all(checks[k]["status"] != "passed" for k in ("a fork bomb", "a 10 GB allocation", "a network connection"))


class Scripted:
    """A contestant or generating-only judge (a remote API without logprobs) with canned replies."""

    def __init__(self, label, replies):
        self.model = self.label = label
        self.backend, self.precision = "remote", "remote"
        self.loglikelihood_unsupported = "no logprobs"
        self.replies, self.prompts = list(replies), []

    def chat(self, prompt, config):
        return self.replies.pop(0)

    def generate(self, prompt, config):
        self.prompts.append(prompt)
        return self.replies.pop(0)


def test_a_generating_judge_is_parsed_and_position_bias_cancels():
    first, second = Scripted("x", ["Paris.", "4"]), Scripted("y", ["Lyon.", "5"])
    # prompt 1: the judge always prefers whatever is shown first (pure position bias) → a tie;
    # prompt 2: it prefers x in both orders → a win for x
    judge = Scripted("j", ["A]] first is better", "A]]", "A]] x", "[[B]] x again"])
    result = judge_pair(first, second, judge, ["Capital of France?", "2 + 2?"])
    assert [p.outcome for p in result.prompts] == ["tie", "win"]
    assert result.counts() == {"win": 1, "tie": 1, "loss": 0} and result.score == 0.75
    assert result.consistency == 0.5
    assert judge.prompts[0].endswith("Verdict: [[") and "[Assistant A]\nParis." in judge.prompts[0]
    assert "[Assistant A]\nLyon." in judge.prompts[1]  # the second order swaps the answers
