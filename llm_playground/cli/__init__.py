"""`llmpg`: the command-line face. A table of commands; each is a thin function in a sibling module.

Each area module (core, tokenize, inspect, …) exposes `COMMANDS`, a dict of name → function or
name → (help, {sub-name: function}). This file only merges them, parses, and reports errors.
"""
from __future__ import annotations

import importlib
import sys

from llm_playground.errors import PlaygroundError

# One module per capability; each adds its own commands to the table.
COMMAND_MODULES = ("core", "tokenize", "inspect", "generate", "train", "finetune", "scaling", "bench", "ui")


def command_table() -> dict:
    table: dict = {}
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(f"llm_playground.cli.{module_name}")
        for name, entry in module.COMMANDS.items():
            if name in table and isinstance(table[name], tuple) and isinstance(entry, tuple):
                table[name] = (table[name][0], {**table[name][1], **entry[1]})  # merge groups
            else:
                table[name] = entry
    return table


def main(argv: list[str] | None = None) -> int:
    from llm_playground.cli.parser import build_dataclass_arguments, build_parser

    parser = build_parser("llmpg", "llm-playground: see how large language models work, on real models, offline.",
                          command_table())
    args = vars(parser.parse_args(argv))
    command = args.pop("_command", None)
    group = args.pop("_group", None)
    if command is None:
        (group or parser).print_help()
        return 2
    try:
        from llm_playground import runtime

        runtime.configure()
        result = command(**build_dataclass_arguments(args, command))
        return int(result or 0)
    except PlaygroundError as error:
        print(f"llmpg: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nllmpg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
