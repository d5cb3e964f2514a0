"""The command line says what it does: commands it names exist, paths it reports are the files it
wrote, chat commands are commands, and a near-miss command is pointed out."""
from __future__ import annotations

import re
from pathlib import Path

from llm_playground.cli import command_table, main

ROOT = Path(__file__).resolve().parents[2]


def command_paths() -> dict[str, set[str] | None]:
    """{"generate": None, "tokenizer": {"train", "list"}, …}: top-level commands, groups' sub-commands."""
    return {name: (set(entry[1]) if isinstance(entry, tuple) else None) for name, entry in command_table().items()}


def mentioned_commands() -> list[tuple[str, str, str]]:
    """Every `llmpg X [Y]` written in the CLI's help texts, the README and docs/: (where, X, Y)."""
    import inspect

    sources = [(path.name, path.read_text()) for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]]
    for name, entry in command_table().items():
        functions = entry[1].values() if isinstance(entry, tuple) else [entry]
        sources += [(f"llmpg {name} --help", inspect.getdoc(fn) or "") for fn in functions]
    found = []
    for where, text in sources:
        for match in re.finditer(r"\bllmpg ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", text):
            found.append((where, match.group(1), match.group(2) or ""))
    return found


def test_every_command_the_help_and_docs_name_exists():
    paths = command_paths()
    subcommands = set().union(*(subs for subs in paths.values() if subs))
    wrong = []
    for where, first, second in mentioned_commands():
        if first not in paths:
            wrong.append(f"{where}: llmpg {first}")
        elif paths[first] is not None and second and second not in paths[first]:
            wrong.append(f"{where}: llmpg {first} {second}")
        elif paths[first] is None and second in subcommands:  # `llmpg tokenize list` tokenizes the word "list"
            wrong.append(f"{where}: llmpg {first} {second}")
    assert not wrong, wrong


def test_tokenize_list_points_at_the_tokenizer_command(capsys):
    assert main(["tokenize", "list", "--tokenizer", "gpt2", "--color", "never"]) == 0
    assert "to list tokenizers run `llmpg tokenizer list`" in capsys.readouterr().err


def test_attention_into_a_folder_writes_there_and_says_the_real_path(tiny_chat_model, tmp_path, capsys):
    folder = tmp_path / "plots"
    folder.mkdir()
    assert main(["attention", "--model", tiny_chat_model, "--prompt", "Hello world", "--out", str(folder)]) == 0
    written = list(folder.iterdir())
    assert len(written) == 1 and written[0].suffix == ".png"
    assert f"heat map saved to {written[0]}" in capsys.readouterr().out
    assert main(["attention", "--model", tiny_chat_model, "--prompt", "Hello", "--out", str(tmp_path / "map")]) == 0
    assert (tmp_path / "map.png").is_file() and f"saved to {tmp_path / 'map.png'}" in capsys.readouterr().out


def test_block_plot_into_a_folder(tiny_chat_model, tmp_path, capsys):
    assert main(["block", "--model", tiny_chat_model, "--prompt", "Hello", "--plot", str(tmp_path) + "/"]) == 0
    (written,) = tmp_path.glob("residual-*.png")
    assert f"plot saved to {written}" in capsys.readouterr().out


def test_chat_commands_are_not_sent_to_the_model(tiny_chat_model, monkeypatch, capsys):
    """/unknowncmd is answered by the CLI; //text sends '/text'; /exit ends the chat."""
    import io

    from llm_playground.cli import generate as cli_generate

    sent = []
    real = cli_generate.start_generation

    def recording(model, history, config, **options):
        sent.append([message.content for message in history if message.role == "user"])
        return real(model, history, config, **options)

    monkeypatch.setattr(cli_generate, "start_generation", recording)
    monkeypatch.setattr("sys.stdin", io.StringIO("/unknowncmd\n//slash message\n/exit\n"))
    assert main(["chat", "--model", tiny_chat_model, "--max-new-tokens", "2", "--backend", "native"]) == 0
    assert sent == [["/slash message"]]
    assert "unknown command /unknowncmd; commands: /reset, /exit" in capsys.readouterr().err
