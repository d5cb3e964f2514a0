"""Structured output: constrained decoding (JSON schema, any JSON object, regex, grammar, choices).

    from llm_playground.structured import Constraint, GrammarMask
    constraint = Constraint("json_schema", {"type": "object", "properties": {"age": {"type": "integer"}}})
    config = GenerationConfig(constraint=constraint)      # every strategy and backend honours it

`Constraint` validates itself before any model work; `GrammarMask` is the logits processor that
`sampling.build_processors` puts first in the pipeline; `engine` holds the compiled constraints per
(tokenizer, constraint). The engine is llguidance (docs/structured-output.md says why).
"""
from llm_playground.structured.constraint import KINDS, Constraint, ascii_digits
from llm_playground.structured.engine import CompiledConstraint, MatcherState, compile_constraint
from llm_playground.structured.output import parse_output, validation_error
from llm_playground.structured.processor import GrammarMask

__all__ = ["KINDS", "CompiledConstraint", "Constraint", "GrammarMask", "MatcherState", "ascii_digits",
           "compile_constraint", "parse_output", "validation_error"]
