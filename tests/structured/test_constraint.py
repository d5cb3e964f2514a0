"""Constraints validate themselves before any model work, and say where they are wrong."""
import json

import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.structured import Constraint, ascii_digits, validation_error

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "city": {"type": "string"}}, "required": ["name", "age", "city"]}


@pytest.mark.parametrize("kind, value, message", [
    ("json_schema", '{"type": "object", "properties": {"age": {"type": "integr"}}}',
     "json_schema is not a valid JSON schema at $.properties.age.type: 'integr' is not valid"),
    ("json_schema", '{"type": "object",', "json_schema is not valid JSON: Expecting property name enclosed in "
                                          "double quotes at line 1, column 19"),
    ("json_schema", "[1, 2]", "json_schema must be a JSON object"),
    ("json_schema", {"type": "object", "required": 5}, "at $.required: 5 is not of type 'array'"),
    ("json_schema", {"allOf": [{"type": "string"}, {"type": "integer"}]},
     "the JSON schema cannot be used: Unsatisfiable schema: incompatible types"),
    ("json_schema", {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 2}},
                     "required": ["n"]}, "Unsatisfiable schema: required property 'n' is unsatisfiable"),
    ("json_schema", {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
     "Pointer '/$defs/missing' does not exist"),
    ("regex", "[0-9", "the regex cannot be used: unclosed character class at character 1 of '[0-9'"),
    ("regex", r"[^\s\S]", "the regex matches no text at all"),
    ("regex", "a(?=b)", "look-around, including look-ahead and look-behind, is not supported at character 2"),
    ("regex", "  ", "the regex is empty"),
    ("grammar", 'root ::= "a" "b" )', "the grammar has a syntax error: Expected name at line 1"),
    ("grammar", 'root ::= item\n', "the grammar has a syntax error: Rule 'item' not found"),
    ("grammar", 'start ::= "a"', "the grammar has no root rule"),
    ("grammar", 'start: "a" | ("b"', "the grammar cannot be used: line 1, column 18: Expected token ')'"),
    ("grammar", 'root ::= x\nx ::= x "a"', "the grammar matches no text at all"),
    ("choices", ["yes", "", "no"], "choice 2 is empty"),
    ("choices", ["yes", "yes"], "choices repeat 'yes'; list each once"),
    ("choices", [], "choices must be a non-empty list"),
    ("json_object", {"type": "object"}, "json_object takes no value"),
    ("xml", None, "unknown constraint kind 'xml'; choose one of: json_schema, json_object, regex, grammar, choices"),
])
def test_bad_constraints_name_what_and_where(kind, value, message):
    with pytest.raises(PlaygroundError) as error:
        Constraint(kind, value)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_good_constraints_of_every_kind():
    assert Constraint("json_schema", json.dumps(SCHEMA)).value == SCHEMA  # JSON text is parsed
    assert Constraint("json_object").describe() == "any JSON object"
    assert Constraint("regex", "[0-9]{3}-[0-9]{4}").describe() == "regex [0-9]{3}-[0-9]{4}"
    assert Constraint("grammar", 'root ::= "yes" | "no"').kind == "grammar"
    assert Constraint("grammar", 'start: "yes" | "no"').kind == "grammar"  # Lark too
    assert Constraint("choices", "positive, negative,neutral").value == ["positive", "negative", "neutral"]


def test_the_schema_keeps_its_property_order():
    """The order of properties is the order the output writes them in: the cache key keeps it."""
    first = Constraint("json_schema", SCHEMA)
    reordered = Constraint("json_schema", {**SCHEMA, "properties": dict(reversed(SCHEMA["properties"].items()))})
    assert first.key != reordered.key
    assert '"name"' in first.grammar and first.grammar.index('"name"') < first.grammar.index('"city"')


def test_from_options_takes_one_constraint_files_and_comma_lists(tmp_path):
    assert Constraint.from_options() is None
    with pytest.raises(PlaygroundError, match="choose one constraint, not 2: json_object and regex"):
        Constraint.from_options(json_object=True, regex="[0-9]+")
    schema_file = tmp_path / "person.json"
    schema_file.write_text(json.dumps(SCHEMA))
    assert Constraint.from_options(json_schema=str(schema_file)).value == SCHEMA
    grammar_file = tmp_path / "answer.gbnf"
    grammar_file.write_text('root ::= "yes" | "no"\n')
    assert Constraint.from_options(grammar=str(grammar_file)).value == 'root ::= "yes" | "no"\n'
    with pytest.raises(PlaygroundError, match="neither JSON .* nor a file that exists"):
        Constraint.from_options(json_schema="missing.json")
    with pytest.raises(PlaygroundError, match="the file nope.gbnf does not exist"):
        Constraint.from_options(grammar="nope.gbnf")
    assert Constraint.from_options(choices="a,b").value == ["a", "b"]


def test_ascii_digits_rewrites_only_digit_classes():
    assert ascii_digits(r"\d{3}-\d{4}") == "[0-9]{3}-[0-9]{4}"
    assert ascii_digits(r"[\d.]+\D") == "[0-9.]+[^0-9]"
    assert ascii_digits(r"\\d[]\d]") == r"\\d[]0-9]"  # an escaped backslash; a literal ']' first in a class


def test_validation_error_checks_outputs_independently_of_the_engine():
    constraint = Constraint("json_schema", SCHEMA)
    assert validation_error(constraint, '{"name": "Al", "age": 3, "city": "X"}') is None
    assert validation_error(constraint, '{"name": "Al", "age": "3", "city": "X"}') == "at $.age: '3' is not of type 'integer'"
    assert validation_error(constraint, '{"name": ').startswith("not JSON")
    assert validation_error(Constraint("regex", r"\d-\d"), "1-2") is None
    assert validation_error(Constraint("regex", r"\d-\d"), "1-٣") == "'1-٣' does not match"
    assert validation_error(Constraint("choices", ["a", "b"]), "c") == "'c' is not one of the choices"
