"""Tokenize: the same text through several tokenizers side by side, and a BPE trained in the page.

Each token is drawn on its own colour with whitespace made visible; hovering a token shows its id
and the bytes it covers. A summary table gives counts and characters per token.
"""
from __future__ import annotations

import gradio as gr

from llm_playground.errors import PlaygroundError
from llm_playground.tokenizers import BPETrainer, bpe_tokenizer, list_tokenizers
from llm_playground.tokenizers.display import token_pieces
from llm_playground.tokenizers.lab import Tokenization, implementation_of, merge_lines, tokenize_text
from llm_playground.ui.common import escape, inline_errors, require_number, require_text

TITLE = "Tokenize"
TRAINED = "trained BPE (this page)"
"""The checkbox name of the BPE trained in the page."""
DEFAULT_TOKENIZERS = ["gpt2", "cl100k_base", "o200k_base", "smollm2-135m-instruct", "word", "char"]
DEFAULT_TEXT = "Hello world! Tokenizers split text into pieces:  tokenization → token + ization. 😀 12345"
TRAINING_CHARS = 20_000
"""How much Shakespeare the training box starts with (pure-Python training takes ~0.1 s for it)."""
COLOURS = 8
"""Token backgrounds cycle through this many colours (classes tok-c0 … tok-c7, see app.CSS)."""


def tokenizer_choices(trained: bool = False) -> list[str]:
    return list_tokenizers() + ([TRAINED] if trained else [])


def token_html(result: Tokenization) -> str:
    """One tokenizer's result: a heading with counts, the coloured spans, then the ids."""
    data = result.text
    spans = []
    for piece in token_pieces(data, result.tokens):
        if piece.index < 0:  # input no token covers (a word tokenizer skips spaces)
            spans.append(f'<span class="tok-gap" data-bytes="{piece.data.hex()}">{escape(piece.text)}</span>')
            continue
        token = result.tokens[piece.index]
        raw = token.span_bytes(data)
        hover = f"#{piece.index} · id {token.id} · bytes {raw.hex(' ').upper() or '(none)'}"
        hover += f" · {token.text!r}" + (" · special token" if token.special else "")
        spans.append(f'<span class="tok tok-c{piece.index % COLOURS}" data-tip="{escape(hover)}" '
                     f'data-id="{token.id}" data-bytes="{piece.data.hex()}">{escape(piece.text)}</span>')
    ids = ", ".join(str(i) for i in result.ids)
    return (f'<section class="tok-result" data-tokenizer="{escape(result.name)}" data-count="{result.count}">'
            f'<h4>{escape(result.name)} <small>({escape(result.kind)})</small> — '
            f'<span class="tok-count">{result.count}</span> tokens · {result.chars_per_token:.2f} characters/token</h4>'
            f'<div class="tok-spans">{"".join(spans)}</div>'
            f'<details><summary>ids</summary><code>[{ids}]</code></details></section>')


def summary_rows(results: list[Tokenization]) -> list[list]:
    return [[r.name, r.count, len(r.text), round(r.chars_per_token, 2)] for r in results]


@inline_errors(3)
def tokenize(text: str, names: list[str], allow_special: bool, trained=None):
    """Handler: (tokens HTML, summary rows, status) for `text` through every chosen tokenizer."""
    text = require_text(text, "text")
    names = list(names or [])
    if not names:
        raise PlaygroundError("choose at least one tokenizer")
    registry_names = [n for n in names if n != TRAINED]
    results = tokenize_text(text, registry_names, allow_special=allow_special) if registry_names else []
    if TRAINED in names:
        if trained is None:
            raise PlaygroundError(f"'{TRAINED}' is chosen but no BPE was trained yet: open "
                                  "'Train a BPE in the page' and press Train BPE")
        tokenizer = bpe_tokenizer(trained, name=TRAINED)
        options = {"allowed_special": "all"} if allow_special else {}
        results.insert(names.index(TRAINED), Tokenization(TRAINED, implementation_of(tokenizer), text,
                                                          tokenizer.tokens(text, **options)))
    html = "".join(token_html(result) for result in results)
    return html, summary_rows(results), ""


@inline_errors(4)
def train(text: str, vocab_size, names: list[str]):
    """Handler: train a byte-level BPE on `text` → (vocab for the page, merges, checkbox update, status)."""
    text = require_text(text, "training text")
    vocab_size = require_number(vocab_size, "Vocabulary size", integer=True)
    if not 257 <= vocab_size <= 5000:
        raise PlaygroundError(f"Vocabulary size must be between 257 and 5000 here (got {vocab_size}): "
                              "256 byte tokens plus at least one merge; training runs in pure Python")
    vocab = BPETrainer(text, vocab_size=vocab_size, pattern="gpt2", name=TRAINED).train(progress=False)
    merges = vocab.merges()
    lines = merge_lines(vocab, 20)
    report = (f"Trained {len(merges)} merges on {len(text):,} characters (vocabulary {vocab_size}). "
              "The first merges, most frequent pair first:\n\n```\n" + "\n".join(lines) + "\n```")
    chosen = list(dict.fromkeys([*(names or []), TRAINED]))
    return vocab, report, gr.update(choices=tokenizer_choices(trained=True), value=chosen), ""


def default_training_text() -> str:
    from llm_playground import assets

    try:
        return assets.corpus_text("shakespeare")[:TRAINING_CHARS]
    except PlaygroundError as error:  # the corpus is not installed: the user can paste text
        return f"(Shakespeare corpus unavailable: {error}) Paste some text to train on here."


def build() -> None:
    trained = gr.State(None)
    gr.Markdown("Whitespace is drawn as · (space), ↵ (newline), → (tab). Hover a token for its id and bytes.")
    text = gr.Textbox(label="Text", value=DEFAULT_TEXT, lines=3, max_lines=12)  # no `info`: it would join the name
    with gr.Row():
        names = gr.CheckboxGroup(tokenizer_choices(), value=DEFAULT_TOKENIZERS, label="Tokenizers", scale=4)
        allow_special = gr.Checkbox(label="Encode special-token text (<|endoftext|>) as special tokens", value=False,
                                    scale=1)
    button = gr.Button("Tokenize", variant="primary")
    status = gr.HTML()
    tokens = gr.HTML(label="Tokens", elem_id="tokenize-output")
    summary = gr.Dataframe(headers=["tokenizer", "tokens", "characters", "characters/token"],
                           label="Summary", interactive=False)
    with gr.Accordion("Train a BPE in the page", open=False):
        training_text = gr.Textbox(label="Training text", value=default_training_text(), lines=6, max_lines=12)
        vocab_size = gr.Number(label="Vocabulary size", value=512, precision=None,
                               info="256 byte tokens + merges (257–5000)")
        train_button = gr.Button("Train BPE")
        train_status = gr.HTML()  # its own: the tokenize step that follows a training must not hide its errors
        merges = gr.Markdown()

    inputs = [text, names, allow_special, trained]
    outputs = [tokens, summary, status]
    button.click(tokenize, inputs, outputs, api_name="tokenize", show_progress_on=[tokens])
    text.submit(tokenize, inputs, outputs, show_progress_on=[tokens])
    train_button.click(train, [training_text, vocab_size, names], [trained, merges, names, train_status],
                       api_name="train_bpe").success(tokenize, inputs, outputs)
