import time

import pytest

from llm_playground import zoo
from llm_playground.errors import AssetError, UnknownNameError

EXPECTED_PARAMETERS = {"smollm2-135m-instruct": 134_515_008, "gemma3-270m": 268_098_176,
                       "minilm-l6": 22_713_216, "gpt2": 124_439_808}


def test_four_models_with_kinds():
    assert {s.name: s.kind for s in zoo.list_models()} == {
        "smollm2-135m-instruct": "chat", "gemma3-270m": "base", "minilm-l6": "encoder", "gpt2": "architecture"}
    assert zoo.get_spec("gpt2").label == "architecture only, no pretrained weights"
    assert {s.name: s.parameters for s in zoo.list_models()} == EXPECTED_PARAMETERS


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as error:
        zoo.resolve("llama-7b")
    assert str(error.value) == ("unknown model 'llama-7b'; known: gemma3-270m, gpt2, minilm-l6, "
                                "smollm2-135m-instruct")


def test_hub_id_not_in_cache_fails_at_once_offline():
    started = time.perf_counter()
    with pytest.raises(AssetError, match="not in the local Hugging Face cache and the network is off"):
        zoo.resolve("someone/some-model-that-is-not-here")
    assert time.perf_counter() - started < 5  # never the ~46 s retry loop


def test_gemma_licence_notice_points_at_the_shipped_terms():
    notice = zoo.licence_notice(zoo.get_spec("gemma3-270m"))
    assert "Gemma Terms of Use" in notice and notice.endswith("GEMMA_TERMS.html")
    assert zoo.licence_notice(zoo.get_spec("smollm2-135m-instruct")) is None


def test_gpt2_architecture_is_random_and_exact():
    loaded = zoo.load_model("gpt2")
    assert sum(p.numel() for p in loaded.model.parameters()) == 124_439_808
    assert loaded.tokenizer.encode("hello world") == [31373, 995]  # the real GPT-2 tokenizer, offline


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m", "minilm-l6"])
def test_real_models_have_exact_parameter_counts(name):
    model = zoo.load_hf_model(name)
    unique = {p.data_ptr(): p.numel() for p in model.parameters()}
    assert sum(unique.values()) == EXPECTED_PARAMETERS[name]


@pytest.mark.slow
def test_a_local_folder_loads_like_the_zoo_model():
    folder = zoo.model_dir("smollm2-135m-instruct")
    spec = zoo.resolve(str(folder))
    assert (spec.kind, spec.architecture, spec.context_length) == ("chat", "llama", 8192)
    assert zoo.load_tokenizer(str(folder)).encode("Paris") == zoo.load_tokenizer("smollm2-135m-instruct").encode("Paris")


def test_folder_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(AssetError, match="has no config.json"):
        zoo.resolve(str(tmp_path))
