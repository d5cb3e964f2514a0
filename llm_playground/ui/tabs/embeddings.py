"""Embeddings: token neighbours and analogies, positional encodings, contextual embeddings layer by
layer, sentence similarity and a 2-D projection. Every plot comes from `llm_playground.embeddings`."""
from __future__ import annotations

import gradio as gr

from llm_playground.embeddings.contextual import DEFAULT_SENTENCES, DEFAULT_WORD
from llm_playground.errors import PlaygroundError
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, inline_errors, model_notes, lines_of,
                                      loading_note, messages, model_choices, plot_file, require_number, require_text)

TITLE = "Embeddings"
ALL_KINDS = ("chat", "base", "encoder", "architecture")
DEFAULT_TEXTS = ("A cat sleeps on the sofa.", "A kitten naps in the sun.", "The stock market fell today.",
                 "Shares dropped sharply this morning.", "I baked bread for dinner.")


def _notes(names, extra=()) -> str:
    return messages(*((note, "info") for note in [*model_notes(names), *extra]))


@inline_errors(2)
def neighbours(model: str, word: str, k, a: str, b: str, c: str, expect: str):
    """Handler → (text, status): the word's neighbours, and the analogy when a, b and c are filled."""
    from llm_playground.embeddings.tokens import analogy, format_neighbours, nearest_tokens

    if not model:
        raise PlaygroundError("choose a model")
    k = require_number(k, "Neighbours", integer=True)
    parts = []
    if word and word.strip():
        parts.append(format_neighbours(nearest_tokens(model, word, k)))
    filled = [x for x in (a, b, c) if x and x.strip()]
    if filled and len(filled) < 3:
        raise PlaygroundError("an analogy needs all three words: a is to b as c is to ?")
    if filled:
        parts.append(format_neighbours(analogy(model, a, b, c, k=k, expected=(expect or "").strip() or None)))
    if not parts:
        raise PlaygroundError("type a word (neighbours) or three words (analogy)")
    return "\n\n".join(parts), _notes([model])


@inline_errors(3)
def positions(kind: str, model: str, n_positions, d_model):
    """Handler → (plot path, summary, status)."""
    from llm_playground.embeddings.positional import plot_positional, positional_data

    n = require_number(n_positions, "Positions", integer=True)
    d = require_number(d_model, "d_model (sinusoidal)", integer=True)
    data = positional_data(kind, n_positions=n, d_model=d, model=model or None)
    path = plot_positional(data, plot_file("positions"))
    row = data.similarity[0]
    summary = (f"{data.kind}, {data.source}: table {tuple(data.table.shape)}; similarity of position 0 to 1, 4, 16: "
               + ", ".join(f"{float(row[i]):.3f}" for i in (1, 4, 16) if i < n))
    return str(path), "\n".join([summary, *data.notes]), ""


@inline_errors(3)
def contextual(model: str, word: str, sentences: str):
    """Handler (streaming: a loading note first) → (plot path, table, status)."""
    from llm_playground.embeddings.contextual import contextual_embeddings, format_contextual, plot_contextual

    if not model:
        raise PlaygroundError("choose a model")
    word = require_text(word, "word")
    note = loading_note([model])
    if note:
        yield gr.skip(), gr.skip(), messages((note, "busy"))
    result = contextual_embeddings(model, word, lines_of(sentences))
    path = plot_contextual(result, plot_file("contextual"))
    yield str(path), format_contextual(result), _notes([model])


@inline_errors(4)
def sentences(texts: str, method: str):
    """Handler → (similarity heat map, projection plot, most similar pairs, status)."""
    from llm_playground.embeddings.projection import plot_projection, project_texts
    from llm_playground.embeddings.sentences import plot_similarity, similarity_matrix

    items = lines_of(texts)
    if len(items) < 3:
        raise PlaygroundError("give at least three texts, one per line")
    matrix = similarity_matrix(items)
    heat = plot_similarity(matrix, plot_file("similarity"))
    projection = project_texts(items, method=method)
    scatter = plot_projection(projection, plot_file("projection"))
    pairs = "\n".join(f"{value:.3f}  {items[i]}  ↔  {items[j]}" for i, j, value in matrix.most_similar_pairs(5))
    notes = matrix.notes + [n for n in projection.notes if n not in matrix.notes]
    return str(heat), str(scatter), pairs, messages(*((n, "info") for n in notes))


def build() -> None:
    gr.Markdown("What the vectors inside a model are. **Token embeddings** are one learned row per vocabulary entry; "
                "**positions** are added (sinusoidal, learned) or turned in (RoPE); **contextual** embeddings are what "
                "the layers make of a token in its sentence; **sentence** embeddings pool them into one vector.")
    with gr.Accordion("Token embeddings: nearest neighbours and analogies", open=True):
        with gr.Row():
            model = gr.Dropdown(model_choices(ALL_KINDS), value=DEFAULT_CHAT_MODEL, label="Model", scale=2)
            word = gr.Textbox(label="Word", value="cat", scale=2)
            k = gr.Number(label="Neighbours", value=10, precision=None, scale=1)
        with gr.Row():
            a = gr.Textbox(label="a", value="man")
            b = gr.Textbox(label="is to b", value="king")
            c = gr.Textbox(label="as c", value="woman")
            expect = gr.Textbox(label="is to (expected)", value="queen")
        token_button = gr.Button("Find neighbours", variant="primary")
        token_status = gr.HTML()
        token_output = gr.Textbox(label="Nearest tokens", lines=16, interactive=False)
        token_button.click(neighbours, [model, word, k, a, b, c, expect], [token_output, token_status],
                           concurrency_id=MODEL_CONCURRENCY, api_name="embedding_neighbours")
    with gr.Accordion("Positional encodings", open=False):
        with gr.Row():
            kind = gr.Radio(["sinusoidal", "learned", "rope"], value="sinusoidal", label="Kind")
            position_model = gr.Dropdown([("default (minilm-l6 learned, smollm2 RoPE)", ""),
                                          *model_choices(ALL_KINDS)], value="", label="Model (learned / RoPE)")
            n_positions = gr.Number(label="Positions", value=64, precision=None)
            d_model = gr.Number(label="d_model (sinusoidal)", value=128, precision=None)
        position_button = gr.Button("Show positions")
        position_status = gr.HTML()
        position_plot = gr.Image(label="Positional encoding", type="filepath", interactive=False)
        position_text = gr.Textbox(label="What the plot shows", lines=3, interactive=False)
        position_button.click(positions, [kind, position_model, n_positions, d_model],
                              [position_plot, position_text, position_status], api_name="positions")
    with gr.Accordion("Contextual embeddings: one word, several sentences, layer by layer", open=False):
        with gr.Row():
            context_model = gr.Dropdown(model_choices(ALL_KINDS), value="minilm-l6", label="Model", scale=2)
            context_word = gr.Textbox(label="Word to follow", value=DEFAULT_WORD, scale=1)
        context_sentences = gr.Textbox(label="Sentences (one per line, each containing the word)",
                                       value="\n".join(DEFAULT_SENTENCES), lines=4)
        context_button = gr.Button("Compare the word's vectors")
        context_status = gr.HTML()
        context_plot = gr.Image(label="Cosine similarity by layer", type="filepath", interactive=False)
        context_table = gr.Textbox(label="Similarity table", lines=12, interactive=False)
        context_button.click(contextual, [context_model, context_word, context_sentences],
                             [context_plot, context_table, context_status], concurrency_id=MODEL_CONCURRENCY,
                             api_name="contextual")
    with gr.Accordion("Sentence embeddings: similarity matrix and 2-D projection (minilm-l6)", open=False):
        texts = gr.Textbox(label="Texts (one per line)", value="\n".join(DEFAULT_TEXTS), lines=6)
        method = gr.Radio(["pca", "tsne"], value="pca", label="Projection")
        sentence_button = gr.Button("Embed and compare")
        sentence_status = gr.HTML()
        with gr.Row():
            heat = gr.Image(label="Similarity matrix", type="filepath", interactive=False)
            scatter = gr.Image(label="2-D projection", type="filepath", interactive=False)
        pairs = gr.Textbox(label="Most similar pairs", lines=5, interactive=False)
        sentence_button.click(sentences, [texts, method], [heat, scatter, pairs, sentence_status],
                              concurrency_id=MODEL_CONCURRENCY, api_name="sentence_similarity")
