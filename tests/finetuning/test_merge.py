"""Merge: logits equal the adapter model's within 1e-4 (transformers and our native engine), the merged
model is a registered local model every face can use, and an adapter for another base is refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.finetuning.config import FinetuneConfig
from llm_playground.finetuning.merge import merge
from llm_playground.finetuning.train import train_sft

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def trained(tiny_chat, tmp_path, home):
    config = FinetuneConfig(model=str(tiny_chat), out=str(tmp_path / "run"), steps=6, batch_size=4, save_every=6,
                            train_examples=40, eval_examples=8, layers="all", r=4, lr=2e-2, seed=1)
    train_sft(config, progress=False, log=lambda line: None)
    return tmp_path / "run"


def test_merged_logits_equal_the_adapter_model(trained, tiny_chat, home):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from llm_playground.models.loading import load_native
    from llm_playground.zoo import resolve
    from llm_playground.zoo.status import model_rows

    result = merge(trained, name="tiny-extract")
    assert result.max_logit_difference <= 1e-4
    assert Path(result.folder) == home / "models" / "tiny-extract"
    assert {"config.json", "model.safetensors", "tokenizer.json", "manifest.json"} <= \
        {p.name for p in Path(result.folder).iterdir()}
    ids = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 11]])
    base = AutoModelForCausalLM.from_pretrained(tiny_chat, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, str(trained / "adapter")).eval()
    with torch.no_grad():
        want = adapted(input_ids=ids).logits[0]
        merged = AutoModelForCausalLM.from_pretrained(result.folder, dtype=torch.float32).eval()
        assert (merged(input_ids=ids).logits[0] - want).abs().max() <= 1e-4
        native, _ = load_native("tiny-extract")(ids)
        assert (native[0] - want).abs().max() <= 1e-4
        lora_b = [p for n, p in adapted.named_parameters() if "lora_B" in n]
        assert any(p.abs().max() > 0 for p in lora_b)  # the adapter really changed something
    spec = resolve("tiny-extract")
    assert spec.kind == "chat" and spec.folder == result.folder and spec.parameters == result.parameters
    row = next(r for r in model_rows() if r["name"] == "tiny-extract")
    assert row["state"] == "local"


def test_merged_model_answers_through_the_cli(trained, home):
    merge(trained, name="tiny-cli")  # `llmpg models` lists it: model_rows, tested above
    env = {**os.environ, "LLMPG_HOME": str(home), "LLMPG_THREADS": "1"}
    answer = subprocess.run([str(VENV_BIN / "llmpg"), "generate", "--model", "tiny-cli", "--prompt", "Anna Berg, 30",
                             "--max-new-tokens", "5", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr[-2000:]
    completion = json.loads(answer.stdout)
    assert completion["model"] == "tiny-cli" and completion["generated_tokens"] >= 1
    assert completion["backend"] in ("fast", "native")


def test_adapter_for_another_base_and_bad_names_are_refused(trained, tiny_other, home):
    with pytest.raises(PlaygroundError, match="was trained on .*tiny-chat.*not on"):
        merge(trained, name="wrong-base", base=str(tiny_other))
    with pytest.raises(PlaygroundError, match="is a zoo model"):
        merge(trained, name="smollm2-135m-instruct")
    with pytest.raises(PlaygroundError, match="not a valid model name"):
        merge(trained, name="Bad Name")
    with pytest.raises(PlaygroundError, match="holds no LoRA adapter"):
        merge(home, name="nothing")
    assert not (home / "models" / "wrong-base").exists() and not (home / "local-models" / "wrong-base.json").exists()
