"""`llmpg finetune` bad input: one line `llmpg: error: …`, exit 1, no traceback, nothing written."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


VENV_BIN = Path(sys.executable).parent


def llmpg(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMPG_HOME": str(home), "LLMPG_THREADS": "1"}
    return subprocess.run([str(VENV_BIN / "llmpg"), "finetune", *args], env=env, capture_output=True, text=True,
                          timeout=180)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmpg: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_sft_bad_input(tiny_chat, tmp_path, home):
    """Malformed JSONL in a real process (targets, r ≤ 0, templates, memory: test_train, in-process)."""
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": 3}\n')
    out = tmp_path / "run"
    result = llmpg("sft", "--model", str(tiny_chat), "--data", str(data), "--out", str(out), home=home)
    assert_one_line_error(result, "data.jsonl line 2", "'completion'")
    assert not out.exists()


def test_bad_plan(home):
    assert_one_line_error(llmpg("plan", "--config", "llama2-7b", "--layers", "40-50", "--no-measure", home=home),
                          "layers are 0 to 31")
