"""Build an argparse parser from a table of typed functions (LitGPT-style).

A command is a plain function. Positional-or-keyword parameters become positional arguments;
keyword-only parameters become `--flags`. Types come from annotations, help text from the
docstring's `Args:` section, choices from `Literal[...]`. The CLI holds no logic of its own.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import re
import types
import typing
from typing import Any, Callable, Literal, get_args, get_origin


def _doc_summary(fn: Callable) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n")[0].strip()


def _doc_description(fn: Callable) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\nArgs:")[0].strip()


def _doc_args(fn: Callable) -> dict[str, str]:
    """Map parameter name → help text from a Google-style `Args:` section."""
    doc = inspect.getdoc(fn) or ""
    if "Args:" not in doc:
        return {}
    section = doc.split("Args:", 1)[1]
    helps: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        match = re.match(r"^\s{0,8}(\w+):\s*(.*)$", line)
        if match and match.group(1) in inspect.signature(fn).parameters:
            current = match.group(1)
            helps[current] = match.group(2).strip()
        elif current and line.strip():
            helps[current] += " " + line.strip()
        elif not line.strip():
            current = None
    return helps


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _add_parameter(parser, param: inspect.Parameter, annotation: Any, help_text: str, *,
                   flag: str | None = None, dest: str | None = None) -> None:
    annotation = _unwrap_optional(annotation)
    kwargs: dict[str, Any] = {"help": help_text or None}
    has_default = param.default is not inspect.Parameter.empty
    if get_origin(annotation) is Literal:
        kwargs["choices"] = list(get_args(annotation))
        kwargs["type"] = type(get_args(annotation)[0])
    elif get_origin(annotation) is list and param.kind is not inspect.Parameter.KEYWORD_ONLY:
        kwargs["nargs"] = "*" if has_default else "+"  # a positional list takes every remaining word
        kwargs["type"] = get_args(annotation)[0] if get_args(annotation) else str
    elif get_origin(annotation) is list:
        kwargs["type"] = get_args(annotation)[0] if get_args(annotation) else str
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs["action"] = "append"  # --flag a --flag b
        else:
            kwargs["nargs"] = "*" if has_default else "+"  # positional: one or more values
    elif annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction if param.default is True else "store_true"
    elif annotation in (int, float, str):
        kwargs["type"] = annotation
    metavar = {int: "N", float: "X", str: "TEXT"}.get(kwargs.get("type"))
    if metavar and "choices" not in kwargs and param.kind is inspect.Parameter.KEYWORD_ONLY:
        kwargs["metavar"] = metavar
    if param.kind is inspect.Parameter.KEYWORD_ONLY:
        flag = flag or "--" + param.name.replace("_", "-")
        if has_default:
            kwargs["default"] = None if kwargs.get("action") == "append" else param.default
            if kwargs["help"] and param.default not in (None, False, True, "", []):
                kwargs["help"] += f" (default: {param.default})"
        else:
            kwargs["required"] = True
        parser.add_argument(flag, dest=dest or param.name, **kwargs)
    else:
        if has_default:
            kwargs.setdefault("nargs", "?")
            kwargs["default"] = param.default
        parser.add_argument(param.name, metavar=param.name.upper(), **kwargs)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass (the string literal under each field), read from its source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _add_dataclass_group(parser: argparse.ArgumentParser, param: inspect.Parameter, cls: type) -> None:
    """Each field of a config dataclass becomes a flag; the command receives the built dataclass."""
    group = parser.add_argument_group(f"{cls.__name__} ({param.name})")
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:  # set by the command from flags of its own
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else inspect.Parameter.empty)
        pseudo = inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default)
        flag = "--" + f.metadata.get("flag", f.name.replace("_", "-"))
        _add_parameter(group, pseudo, hints[f.name], docs.get(f.name, ""), flag=flag,
                       dest=f"{param.name}.{f.name}")


def build_dataclass_arguments(args: dict[str, Any], fn: Callable) -> dict[str, Any]:
    """Fold `group.field` values back into dataclass instances (validated by their __post_init__)."""
    hints = typing.get_type_hints(fn)
    for param in inspect.signature(fn).parameters.values():
        cls = hints.get(param.name)
        if dataclasses.is_dataclass(cls):
            prefix = param.name + "."
            values = {k[len(prefix):]: args.pop(k) for k in list(args) if k.startswith(prefix)}
            values = {k: v for k, v in values.items() if v is not None}
            args[param.name] = cls(**values)
    return args


def add_command(subparsers, name: str, fn: Callable) -> None:
    """Add `fn` as a sub-command called `name`; its parameters become arguments."""
    parser = subparsers.add_parser(
        name, help=_doc_summary(fn), description=_doc_description(fn),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hints = typing.get_type_hints(fn)
    helps = _doc_args(fn)
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, str)
        if dataclasses.is_dataclass(annotation):
            _add_dataclass_group(parser, param, annotation)
        else:
            _add_parameter(parser, param, annotation, helps.get(param.name, ""))
    parser.set_defaults(_command=fn)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`llmpg: error: …; see llmpg generate --help`), exit 2."""

    def error(self, message: str):
        import sys

        sys.stderr.write(f"llmpg: error: {message}; see {self.prog} --help\n")
        sys.exit(2)


def build_parser(prog: str, description: str, table: dict[str, Any]) -> argparse.ArgumentParser:
    """A parser for a (possibly nested) table: {"generate": fn, "tokenizer": {"train": fn}}."""
    parser = OneLineErrorParser(prog=prog, description=description)
    _fill(parser, table)
    return parser


def _fill(parser: argparse.ArgumentParser, table: dict[str, Any]) -> None:
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, entry in table.items():
        if callable(entry):
            add_command(subparsers, name, entry)
        else:
            group_help, group_table = entry
            group = subparsers.add_parser(name, help=group_help, description=group_help)
            _fill(group, group_table)
            group.set_defaults(_group=group)
