"""`llmpg`: the command-line face. A table of commands; each is a thin function in a sibling module.

Each area module (core, tokenize, inspect, …) exposes `COMMANDS`, a dict of name → function or
name → (help, {sub-name: function}). This file only merges them, parses, and reports errors.
"""
from __future__ import annotations

import importlib
import os
import sys

from llm_playground.errors import PlaygroundError

# One module per capability; each adds its own commands to the table.
COMMAND_MODULES = ("core", "tokenize", "inspect", "embed", "pipeline", "generate", "prompt_lab", "train", "finetune",
                   "scaling", "evaluate", "rag", "bench", "ui", "serve")


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


def one_line(message: str) -> str:
    """A message on one line (library errors may quote a third-party message with line breaks)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


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
        print(f"llmpg: error: {one_line(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nllmpg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # noqa: BLE001 - the last resort: a bug must not print a traceback at the user
        if os.environ.get("LLMPG_DEBUG"):
            raise
        print(f"llmpg: internal error: {type(error).__name__}: {one_line(str(error))[:300]} (this is a bug in "
              "llm-playground; run again with LLMPG_DEBUG=1 to see where, and please report it)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
