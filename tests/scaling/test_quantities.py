import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.scaling import format_count, format_flops, parse_quantity


@pytest.mark.parametrize("text, value", [
    ("175e9", 175e9), ("1B", 1e9), ("70B", 70e9), ("1.4T", 1.4e12), ("400M", 4e8), ("5.76e23", 5.76e23),
    ("2k", 2e3), ("1_000", 1e3), (" 7b ", 7e9), ("3G", 3e9), (".5T", 5e11), (12, 12.0),
])
def test_parse(text, value):
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "seven", "7X", "1.4TT", "-5B", "0", "nan", "1e9e9"])
def test_parse_rejects_with_a_hint(text):
    with pytest.raises(PlaygroundError, match="175e9|positive"):
        parse_quantity(text)


def test_format():
    assert [format_count(v) for v in (175e9, 1.4e12, 20.2e9, 8e8, 512.0)] == ["175B", "1.4T", "20.2B", "800M", "512"]
    assert format_flops(3.15e23) == "3.15e+23"
