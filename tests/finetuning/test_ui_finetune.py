"""The Fine-tune tab's handlers as plain functions: the plan, inline errors, a whole tiny run."""
from __future__ import annotations

import pandas as pd

from llm_playground.ui import common
from llm_playground.ui.tabs import finetune

SETTINGS = dict(r=4, alpha=8, targets=["q", "v"], layers="all", steps=3, batch_size=4, lr=1e-2)


def args(model, dataset=finetune.BUILT_IN, upload=None, **changes):
    values = {**SETTINGS, **changes}
    return [str(model), dataset, upload, values["r"], values["alpha"], values["targets"], values["layers"],
            values["steps"], values["batch_size"], values["lr"]]


def is_error(status: str, text: str) -> bool:
    return 'llmpg-error' in status and common.escape(text) in status


def test_plan_shows_exact_counts(tiny_chat, home):
    html, status = finetune.show_plan(*args(tiny_chat))
    assert status == "" and "trainable params: 896 || all params:" in html  # 2 blocks · (4·(32+32) + 4·(32+16))


def test_bad_settings_and_uploads_are_inline_messages(tiny_chat, tmp_path, home):
    _, status = finetune.show_plan(*args(tiny_chat, r=0))
    assert is_error(status, "r (the LoRA rank) must be a positive integer")
    _, status = finetune.show_plan(*args(tiny_chat, targets=[]))
    assert is_error(status, "choose at least one target layer")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    _, status = finetune.show_plan(*args(tiny_chat, dataset="upload JSONL", upload=str(bad)))
    assert is_error(status, "bad.jsonl line 2: field 'completion' is missing")
    _, status = finetune.show_plan(*args(tiny_chat, dataset="upload JSONL"))
    assert is_error(status, "upload a JSONL file")
    *_, status = list(finetune.train(*args(tiny_chat, steps=10_000), 2))[-1]
    assert is_error(status, "at most 200")


def test_a_whole_run_streams_the_curve_then_compares(tiny_chat, home):
    outputs = list(finetune.train(*args(tiny_chat), 2))
    curves = [o[0] for o in outputs if isinstance(o[0], pd.DataFrame)]
    assert list(curves[-1]["step"]) == [1, 2, 3] and len(curves) >= 3
    curve, result, status = outputs[-1]
    assert "is a local model now" in status and "finetune-compare" in result and "paired 95% CI" in result
    from llm_playground.zoo import local

    assert [spec.name for spec in local.list_local()][0].startswith("tiny-chat-ft-")
