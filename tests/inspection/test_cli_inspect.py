"""`llmpg inspect`, `attention` and `moe-demo` end to end through the CLI table."""
import json

import pytest

from llm_playground.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_inspect_llama2_7b_preset_and_dimensions_agree(capsys):
    preset = _json(capsys, ["inspect", "--config", "llama2-7b", "--json"])
    custom = _json(capsys, ["inspect", "--n-layer", "32", "--d-model", "4096", "--n-head", "32", "--d-ff", "11008",
                            "--vocab-size", "32000", "--context-length", "4096", "--json"])
    assert preset["total_parameters"] == custom["total_parameters"] == 6_738_415_616
    assert abs(custom["total_parameters"] - 6.74e9) / 6.74e9 < 0.01
    assert custom["memory"]["weights_bytes"]["bf16"] == 13_476_831_232
    assert preset["memory"]["kv_cache_bytes_full_context"] == custom["memory"]["kv_cache_bytes_full_context"]


def test_inspect_gpt2_from_dimension_flags(capsys):
    sizing = _json(capsys, ["inspect", "--n-layer", "12", "--d-model", "768", "--n-head", "12", "--vocab-size", "50257",
                            "--context-length", "1024", "--mlp", "gelu", "--norm", "layernorm", "--position",
                            "learned", "--bias", "--tied-embeddings", "--json"])
    assert sizing["total_parameters"] == 124_439_808


def test_inspect_text_report(capsys):
    assert main(["inspect", "--config", "llama2-7b", "--context-length", "8192"]) == 0
    out = capsys.readouterr().out
    assert "6,738,415,616" in out and "13.5 GB" in out and "at 8,192 tokens" in out and "4.29 GB" in out


@pytest.mark.parametrize("argv, message", [
    (["inspect", "--n-layer", "2", "--d-model", "64"], "--n-head, --vocab-size"),
    (["inspect", "--model", "gpt2", "--config", "llama2-7b"], "not both"),
    (["inspect", "--config", "llama5"], "unknown model preset 'llama5'"),
    (["inspect", "--config", "custom", "--n-layer", "2", "--d-model", "60", "--n-head", "7", "--vocab-size", "9"],
     "not divisible"),
])
def test_inspect_bad_input(capsys, argv, message):
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_inspect_gpt2_architecture(capsys):
    report = _json(capsys, ["inspect", "--model", "gpt2", "--json"])
    assert report["total_parameters"] == report["sum_numel"] == 124_439_808
    assert sum(report["parameters_by_kind"].values()) == 124_439_808
    assert report["tree"]["type"] == "GPT2LMHeadModel"


def test_moe_demo_command(capsys, tmp_path):
    out = tmp_path / "moe.png"
    result = _json(capsys, ["moe-demo", "--steps", "60", "--out", str(out), "--json"])
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert set(result) >= {"cv_before", "cv_without_balancing", "cv_with_balancing", "load_with_balancing"}
    assert len(result["load_with_balancing"]) == 8


@pytest.mark.slow
@pytest.mark.parametrize("name, total", [
    ("smollm2-135m-instruct", 134_515_008), ("minilm-l6", 22_713_216), ("gemma3-270m", 268_098_176),
])
def test_inspect_zoo_models(capsys, name, total):
    report = _json(capsys, ["inspect", "--model", name, "--json"])
    assert report["total_parameters"] == total == sum(report["parameters_by_kind"].values())
    assert report["parameters_by_kind"]["other"] == 0
    if name != "minilm-l6":
        assert report["tied"] == {"lm_head.weight": "model.embed_tokens.weight"}


@pytest.mark.slow
def test_attention_command(capsys, tmp_path):
    out = tmp_path / "att.png"
    data = _json(capsys, ["attention", "--model", "minilm-l6", "--prompt", "The bank of the river", "--layer", "2",
                          "--out", str(out), "--json"])
    assert data["tokens"] == ["[CLS]", "the", "bank", "of", "the", "river", "[SEP]"] and not data["causal"]
    assert len(data["weights"]) == 12 and out.read_bytes()[:4] == b"\x89PNG"
    assert main(["attention", "--model", "smollm2-135m-instruct", "--prompt", "Hi", "--layer", "30"]) == 1
    assert "layer 30 is out of range" in capsys.readouterr().err
