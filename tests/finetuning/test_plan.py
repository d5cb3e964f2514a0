"""The plan's counts equal PEFT's own on a meta-device Llama-2-7B; memory parts; activations counted."""
from __future__ import annotations

import contextlib
import io

import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.finetuning.plan import (NF4_BYTES_PER_PARAM, make_plan, model_source, normalise_targets,
                                            parse_layers, saved_activation_bytes)


def peft_on_meta(preset: str, r: int, targets: list[str], layers=None):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    source = model_source(preset)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**source.hf_config))
    return get_peft_model(model, LoraConfig(r=r, target_modules=targets, layers_to_transform=layers,
                                            layers_pattern="layers" if layers else None))


@pytest.mark.parametrize("r, targets, trainable, total", [
    (16, "q,k,v,o", 16_777_216, 6_755_192_832),
    (8, "q,v", 4_194_304, 6_742_609_920),  # the seeds' printed figure
])
def test_llama2_7b_counts_equal_peft_print_trainable_parameters(r, targets, trainable, total):
    plan = make_plan("llama2-7b", method="lora", r=r, targets=targets, batch_size=1, seq_len=8)
    assert (plan.trainable_parameters, plan.total_parameters) == (trainable, total)
    model = peft_on_meta("llama2-7b", r, list(normalise_targets(targets)))
    assert model.get_nb_trainable_parameters() == (trainable, total)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model.print_trainable_parameters()
    assert printed.getvalue().strip() == plan.peft_line()


def test_layer_subset_equals_peft_layers_to_transform():
    plan = make_plan("smollm2-135m", r=8, targets="q,k,v,o", layers="last:10", batch_size=1, seq_len=8)
    model = peft_on_meta("smollm2-135m", 8, ["q_proj", "k_proj", "v_proj", "o_proj"], list(range(20, 30)))
    assert model.get_nb_trainable_parameters() == (plan.trainable_parameters, plan.total_parameters) == \
        (307_200, 134_822_208)


def test_memory_components_add_up():
    plan = make_plan("llama2-7b", method="qlora", r=8, targets="q,v", batch_size=1, seq_len=16)
    fp32 = plan.memory["fp32"]
    assert fp32["gradients"] == 4 * 4_194_304 and fp32["optimizer"] == 8 * 4_194_304
    assert fp32["total"] == pytest.approx(sum(v for k, v in fp32.items() if k != "total"))
    block_linear = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    assert fp32["frozen_weights"] == pytest.approx(block_linear * NF4_BYTES_PER_PARAM + (6_738_415_616 - block_linear) * 4)
    full = make_plan("llama2-7b", method="full", batch_size=1, seq_len=16)
    assert full.trainable_parameters == full.total_parameters == 6_738_415_616
    assert full.memory["fp32"]["gradients"] + full.memory["fp32"]["optimizer"] + \
        full.memory["fp32"]["trainable_weights"] == 16 * 6_738_415_616


def test_meta_device_activation_count_equals_a_real_forward():
    source = model_source("smollm2-135m")
    config = {**source.hf_config, "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16}
    for method in ("lora", "full"):
        meta = saved_activation_bytes(config, 2, method, 4, ("q_proj", "v_proj"), 2, 24, device="meta")
        real = saved_activation_bytes(config, 2, method, 4, ("q_proj", "v_proj"), 2, 24, device="cpu")
        assert meta == real, method  # bytes, exactly


def test_bad_plans_are_explained_before_any_model():
    with pytest.raises(PlaygroundError, match="positive integer"):
        make_plan("llama2-7b", r=0)
    with pytest.raises(PlaygroundError, match="q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"):
        normalise_targets("q,attn")
    with pytest.raises(PlaygroundError, match="layers are 0 to 29"):
        parse_layers("25-31", 30)
    assert parse_layers("last:3", 30) == (27, 28, 29) and parse_layers("all", 30) is None
    with pytest.raises(PlaygroundError, match="unknown model or preset 'llama9'"):
        make_plan("llama9")


def test_too_little_memory_is_said_before_starting(monkeypatch):
    from llm_playground.finetuning.plan import check_fits

    monkeypatch.setenv("LLMPG_MEMORY_GB", "0.001")
    plan = make_plan("smollm2-135m", r=8, targets="q,v", batch_size=2, seq_len=16)
    assert not plan.fits("fp32")
    with pytest.raises(PlaygroundError, match="needs about .* but .* is available"):
        check_fits(plan, "fp32")


def test_training_flops_count_only_what_backward_reaches():
    from llm_playground.finetuning.plan import training_flops_per_token
    from llm_playground.inspection.sizing import PRESETS, parameter_count

    dims = PRESETS["smollm2-135m"]
    n, head = parameter_count(dims), 49152 * 576
    block = 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536  # q,o 576→576; k,v 576→192; gate, up, down
    assert training_flops_per_token(dims, "full") == 6 * n
    assert training_flops_per_token(dims, "lora") == 2 * n + 2 * (head + 30 * block)
    assert training_flops_per_token(dims, "lora", tuple(range(20, 30))) == 2 * n + 2 * (head + 10 * block)


def test_blocks_below_the_lowest_adapter_keep_no_activations():
    every = make_plan("smollm2-135m", r=8, targets="q,v", batch_size=2, seq_len=16).activations
    top = make_plan("smollm2-135m", r=8, targets="q,v", layers="last:10", batch_size=2, seq_len=16).activations
    assert top["per_layer"] == every["per_layer"] and top["outside_layers"] == every["outside_layers"]
    assert every["total"] - top["total"] == 20 * every["per_layer"]
