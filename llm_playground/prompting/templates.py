"""Prompt templates with named variables (Jinja2, sandboxed: a template cannot reach Python).

    template = PromptTemplate("Classify the sentiment of: {{ text }}\\nAnswer:")
    template.variables          # ['text']
    template.render(text="I loved it")

A variable left unfilled is an error that names it (never an empty string silently).
"""
from __future__ import annotations

import functools

from llm_playground.errors import PlaygroundError


@functools.cache
def _environment():
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                         trim_blocks=True, lstrip_blocks=True)


class PromptTemplate:
    """A Jinja2 template; `render(**values)` fills its variables."""

    def __init__(self, text: str) -> None:
        import jinja2
        from jinja2 import meta

        if not isinstance(text, str) or not text.strip():
            raise PlaygroundError("the template is empty; write the prompt, with variables like {{ input }}")
        self.text = text
        environment = _environment()
        try:
            tree = environment.parse(text)
            self._template = environment.from_string(text)
        except jinja2.TemplateSyntaxError as error:
            raise PlaygroundError(f"the template has a syntax error at line {error.lineno}: {error.message}") from None
        self.variables: list[str] = sorted(meta.find_undeclared_variables(tree))
        """The names the template uses and does not define itself, sorted."""

    def missing(self, values: dict) -> list[str]:
        """The variables `values` leaves unfilled."""
        return [name for name in self.variables if name not in values or values[name] is None]

    def render(self, **values) -> str:
        import jinja2

        missing = self.missing(values)
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise PlaygroundError(f"the template variable{plural} {', '.join(repr(m) for m in missing)} "
                                  f"{'are' if plural else 'is'} not filled; give {'them' if plural else 'it'} a value "
                                  f"(the template uses: {', '.join(self.variables)})")
        try:
            return self._template.render(**values)
        except jinja2.UndefinedError as error:  # e.g. {{ person.nmae }}: a field that does not exist
            raise PlaygroundError(f"the template uses something not filled: {error.message}") from None
        except jinja2.exceptions.SecurityError as error:
            raise PlaygroundError(f"the template is not allowed to do that: {error}") from None

    def __repr__(self) -> str:
        return f"PromptTemplate(variables={self.variables})"
