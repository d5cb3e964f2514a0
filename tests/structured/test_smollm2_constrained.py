"""The acceptance runs on the real SmolLM2 (slow): the extraction schema on every engine and
strategy, regex and choices, the CLI flags, and the engine's masks on the real 49,152-token vocabulary."""
import json

import pytest
import regex
import torch

from llm_playground import zoo
from llm_playground.cli import main
from llm_playground.generation import GenerationConfig, generate
from llm_playground.structured import Constraint, GrammarMask, validation_error

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m-instruct"
PROMPT = "Extract: name, age, city from: 'Alice Smith, 29, lives in London.'"
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "city": {"type": "string"}}, "required": ["name", "age", "city"]}


@pytest.mark.parametrize("backend, settings", [
    ("fast", {"strategy": "sample", "temperature": 1.5, "seed": 0}),
    ("fast-int4", {}),
    ("native", {"strategy": "beam", "num_beams": 2}),
], ids=["fast-sample-T1.5", "fast-int4-greedy", "native-beam"])  # native greedy: the CLI test below
def test_the_extraction_schema_validates_on_every_engine_and_strategy(backend, settings):
    constraint = Constraint("json_schema", SCHEMA)
    completion = generate(MODEL, PROMPT, GenerationConfig(max_new_tokens=28, constraint=constraint, **settings),
                          system="You are a JSON API.", backend=backend)
    assert completion.finish_reason == "eos" and not completion.incomplete
    assert validation_error(constraint, completion.text) is None, completion.text
    assert completion.parsed == json.loads(completion.text)
    assert completion.steps[0].masked_mass > 0.5  # SmolLM2 wanted to start with prose or a code fence


def test_regex_and_choices_give_only_matching_outputs():
    phone = generate(MODEL, "Give me a phone number.", GenerationConfig(max_new_tokens=12,
                                                                       constraint=Constraint("regex", r"\d{3}-\d{4}")))
    assert regex.fullmatch(r"[0-9]{3}-[0-9]{4}", phone.text) and phone.finish_reason == "eos"
    for strategy in ({}, {"strategy": "sample", "temperature": 1.5, "seed": 3}):
        mood = generate(MODEL, "I loved this film! Sentiment?", GenerationConfig(
            max_new_tokens=6, constraint=Constraint("choices", ["positive", "negative", "neutral"]), **strategy))
        assert mood.text in ("positive", "negative", "neutral")


def test_masks_on_the_real_vocabulary_equal_brute_force():
    tokenizer = zoo.load_tokenizer(MODEL)
    table = [tokenizer.decode([i]).encode() if i not in tokenizer.all_special_ids else b"" for i in range(49152)]
    byte_exact = {i for i, piece in enumerate(table) if b"\xef\xbf\xbd" not in piece}  # tokens that decode whole
    mask = GrammarMask(Constraint("regex", "[0-9]{2}-[a-z]{2}"), tokenizer, {0, 2}, forcing=False)
    generated: list[int] = []
    for text in ["", "1", "12", "12-", "12-a"]:
        target = tokenizer.encode(text, add_special_tokens=False) if text else []
        generated = target
        scores = mask(torch.tensor([[1, *generated]]), torch.zeros(1, 49152))
        engine = {i for i in torch.nonzero(scores[0] > -torch.inf).flatten().tolist()}
        expected = {i for i in byte_exact if table[i]
                    and regex.fullmatch("[0-9]{2}-[a-z]{2}", text + table[i].decode(), partial=True)}
        assert engine == expected, (text, sorted(engine ^ expected)[:10])


def test_cli_constraint_flags(capsys):
    code = main(["generate", "--prompt", PROMPT, "--system", "You are a JSON API.", "--json-schema", json.dumps(SCHEMA),
                 "--backend", "native", "--max-new-tokens", "28", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["parsed"] == {"name": "Alice Smith", "age": 29, "city": "London"}
    assert result["incomplete"] is False and all("masked_mass" in token for token in result["tokens"])
    code = main(["generate", "--prompt", PROMPT, "--json-schema", json.dumps(SCHEMA), "--max-new-tokens", "4",
                 "--backend", "fast"])
    captured = capsys.readouterr()
    assert code == 0 and "finished: length, output incomplete" in captured.err
