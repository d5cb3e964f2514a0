"""Attention maps: the data (rows sum to 1, causal zeros), bad input, and the PNGs."""
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from llm_playground.errors import PlaygroundError
from llm_playground.inspection.attention_maps import (
    attention_maps, format_strongest_links, plot_attention, strongest_links, zoo_attention_maps,
)

WORDS = ["[UNK]", "the", "cat", "sat", "on", "mat", "because", "it", "was", "tired", "."]
PROMPT = "the cat sat on the mat because it was tired ."
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tokenizer():
    word_level = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=word_level, unk_token="[UNK]")


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=16)
    return BertModel(config).eval()


def test_decoder_maps_are_causal_and_rows_sum_to_one(decoder, tokenizer):
    maps = attention_maps(decoder, tokenizer, PROMPT, layer=1, name="tiny-llama")
    assert maps.tokens == PROMPT.split() and maps.weights.shape == (4, 11, 11)
    assert maps.causal and maps.n_layers == 2 and maps.layer == 1
    torch.testing.assert_close(maps.weights.sum(-1), torch.ones(4, 11))
    assert torch.all(maps.weights.triu(diagonal=1) == 0)
    assert torch.all(maps.weights[:, 0, 0] == 1)


def test_encoder_maps_look_both_ways(encoder, tokenizer):
    maps = attention_maps(encoder, tokenizer, PROMPT, layer=-1, name="tiny-bert")
    assert not maps.causal and maps.layer == 2
    torch.testing.assert_close(maps.weights.sum(-1), torch.ones(4, 11))
    above = torch.triu_indices(11, 11, offset=1)
    assert torch.all(maps.weights[:, above[0], above[1]] > 0)  # later tokens are seen too


def test_model_attention_implementation_is_restored(decoder, tokenizer):
    decoder.set_attn_implementation("sdpa")
    attention_maps(decoder, tokenizer, PROMPT, name="tiny-llama")
    assert decoder.config._attn_implementation == "sdpa"


def test_json_data_and_strongest_links(decoder, tokenizer):
    maps = attention_maps(decoder, tokenizer, PROMPT, name="tiny-llama")
    data = maps.to_dict()
    assert data["tokens"] == PROMPT.split() and data["n_heads"] == 4 and data["head"] is None
    assert len(data["weights"]) == 4 and len(data["weights"][0]) == 11 and data["weights"][0][0][0] == 1.0
    one = maps.to_dict(head=2)
    assert torch.allclose(torch.tensor(one["weights"], dtype=torch.float64), maps.weights[2].double(), atol=1e-4)
    links = strongest_links(maps, head=0)
    assert links[0] == ("the", "the", 1.0) and len(links) == 11
    assert "layer 0, head 0" in format_strongest_links(maps, head=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(layer=2), r"layer 2 is out of range: tiny has 2 layers \(0–1"),
    (dict(layer=-3), "layer -3 is out of range"),
])
def test_layer_out_of_range(decoder, tokenizer, kwargs, message):
    with pytest.raises(PlaygroundError, match=message):
        attention_maps(decoder, tokenizer, PROMPT, name="tiny", **kwargs)


def test_head_out_of_range_and_bad_prompts(decoder, tokenizer, tmp_path):
    maps = attention_maps(decoder, tokenizer, PROMPT, name="tiny")
    with pytest.raises(PlaygroundError, match="head 4 is out of range: tiny has 4 heads"):
        maps.to_dict(head=4)
    with pytest.raises(PlaygroundError, match="head 9 is out of range"):
        plot_attention(maps, tmp_path / "x.png", head=9)
    with pytest.raises(PlaygroundError, match="context window is 8 tokens"):
        attention_maps(decoder, tokenizer, PROMPT, name="tiny", context_length=8)
    with pytest.raises(PlaygroundError, match="empty"):
        attention_maps(decoder, tokenizer, "", name="tiny")


def test_plots_are_written(decoder, encoder, tokenizer, tmp_path):
    causal = attention_maps(decoder, tokenizer, PROMPT, name="tiny-llama")
    grid = plot_attention(causal, tmp_path / "grid.png")
    one = plot_attention(causal, tmp_path / "sub" / "one.png", head=1)
    both = plot_attention(attention_maps(encoder, tokenizer, PROMPT, name="tiny-bert"), tmp_path / "enc.png")
    for path in (grid, one, both):
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000


@pytest.mark.slow
def test_smollm2_and_minilm_real_maps(tmp_path):
    prompt = "The cat sat on the mat because it was tired."
    decoder_maps = zoo_attention_maps("smollm2-135m-instruct", prompt, layer=3)
    assert decoder_maps.tokens[:3] == ["The", "·cat", "·sat"] and decoder_maps.weights.shape == (9, 11, 11)
    assert decoder_maps.n_layers == 30 and decoder_maps.causal
    assert torch.all(decoder_maps.weights.triu(diagonal=1) == 0)
    torch.testing.assert_close(decoder_maps.weights.sum(-1), torch.ones(9, 11))
    encoder_maps = zoo_attention_maps("minilm-l6", prompt, layer=-1)
    assert encoder_maps.tokens[0] == "[CLS]" and encoder_maps.tokens[-1] == "[SEP]" and encoder_maps.layer == 5
    assert encoder_maps.weights.shape == (12, 13, 13) and not encoder_maps.causal
    assert encoder_maps.weights.triu(diagonal=1).sum() > 1.0
    torch.testing.assert_close(encoder_maps.weights.sum(-1), torch.ones(12, 13))
    assert plot_attention(decoder_maps, tmp_path / "smol.png").read_bytes()[:8] == PNG
    with pytest.raises(PlaygroundError, match="context window is 512 tokens"):
        zoo_attention_maps("minilm-l6", "word " * 600)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m", "gpt2"])
def test_our_engine_computes_the_same_maps_as_transformers(name):
    """Decoders' maps come from our readable engine (no second copy of the weights): they equal
    transformers' eager output_attentions, layer by layer, and its token labels."""
    from llm_playground import zoo

    prompt = "The cat sat on the mat because it was tired."
    loaded = zoo.load_model(name)
    for layer in (0, 5, -1):
        ours = zoo_attention_maps(name, prompt, layer=layer)
        theirs = attention_maps(loaded.model, loaded.tokenizer, prompt, layer=layer, name=name)
        assert ours.tokens == theirs.tokens and ours.layer == theirs.layer
        torch.testing.assert_close(ours.weights, theirs.weights, atol=2e-5, rtol=0)


def test_layer_and_head_are_checked_before_any_weights_load(monkeypatch):
    from llm_playground.generation import backends

    monkeypatch.setattr(backends, "native_model", lambda *a, **k: pytest.fail("weights loaded"))
    with pytest.raises(PlaygroundError, match="layer 30 is out of range: smollm2-135m-instruct has 30 layers"):
        zoo_attention_maps("smollm2-135m-instruct", "hi", layer=30)
    with pytest.raises(PlaygroundError, match="head 9 is out of range: smollm2-135m-instruct has 9 heads"):
        zoo_attention_maps("smollm2-135m-instruct", "hi", head=9)
    with pytest.raises(PlaygroundError, match="empty"):
        zoo_attention_maps("smollm2-135m-instruct", "  ")
