import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig


@pytest.mark.parametrize("settings, message", [
    ({"temperature": 0.7}, "temperature only reshape"),
    ({"top_k": 40, "top_p": 0.9}, "top_k, top_p only reshape"),
    ({"strategy": "beam", "num_beams": 2, "top_p": 0.9}, "beam search is deterministic: drop top_p"),
    ({"strategy": "beam", "num_beams": 2, "num_return_sequences": 3}, "num_return_sequences must be between 1 and"),
    ({"strategy": "sample", "typical_p": 0}, "typical_p must be in (0, 1]"),
    ({"strategy": "nucleus"}, "unknown strategy 'nucleus'"),
])
def test_contradictions_are_refused(settings, message):
    with pytest.raises(PlaygroundError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        GenerationConfig(**settings)


def test_temperature_zero_is_greedy_and_allowed_with_greedy():
    assert GenerationConfig(strategy="sample", temperature=0).is_greedy
    assert GenerationConfig(temperature=0).is_greedy
