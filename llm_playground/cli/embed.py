"""`llmpg embed …`: the embeddings lab on the command line (token, positional, contextual, sentence)."""
from __future__ import annotations

from typing import Literal

from llm_playground.cli.render import dim, print_json


def neighbours(word: str, *, model: str = "smollm2-135m-instruct", k: int = 10, json: bool = False) -> int:
    """The tokens whose embedding rows are nearest to a word's (cosine): static token embeddings.

    Args:
        word: the word to look up, e.g. cat (several tokens are averaged).
        model: any zoo model: smollm2-135m-instruct, gemma3-270m, minilm-l6, …
        k: how many neighbours.
        json: print the result as JSON.
    """
    from llm_playground.embeddings.tokens import format_neighbours, nearest_tokens

    result = nearest_tokens(model, word, k)
    print_json(result.to_dict()) if json else print(format_neighbours(result))
    return 0


def analogy(a: str, b: str, c: str, *, model: str = "smollm2-135m-instruct", k: int = 10,
            expect: str | None = None, json: bool = False) -> int:
    """a is to b as c is to ?: the tokens nearest to b − a + c in the embedding table.
    Example: llmpg embed analogy man king woman --expect queen

    Args:
        a: the first word of the known pair (man).
        b: the second word of the known pair (king).
        c: the word to complete (woman).
        model: any zoo model.
        k: how many candidates to list.
        expect: the answer you expect: its rank is printed (analogies work in some models, not all).
        json: print the result as JSON.
    """
    from llm_playground.embeddings.tokens import analogy as find_analogy
    from llm_playground.embeddings.tokens import format_neighbours

    result = find_analogy(model, a, b, c, k=k, expected=expect)
    print_json(result.to_dict()) if json else print(format_neighbours(result))
    return 0


def positions(*, kind: Literal["sinusoidal", "learned", "rope"] = "sinusoidal", model: str | None = None,
              n_positions: int = 64, d_model: int = 128, out: str = "positions.png", json: bool = False) -> int:
    """Positional encodings as pictures: the sinusoidal table of "Attention Is All You Need", a learned
    table (MiniLM's), or the RoPE rotations of a Llama-family model, with how alike two positions are.

    Args:
        kind: sinusoidal (the formula), learned (a model's table) or rope (a model's rotation angles).
        model: learned: minilm-l6 (default) or gpt2 (random weights); rope: smollm2-135m-instruct (default) or gemma3-270m.
        n_positions: how many positions to show.
        d_model: sinusoidal only: the width of the table.
        out: save the plot (table, position similarity, similarity against distance) here.
        json: print the table and similarity matrix as JSON.
    """
    from llm_playground.embeddings.positional import plot_positional, positional_data

    data = positional_data(kind, n_positions=n_positions, d_model=d_model, model=model)
    plot_positional(data, out)
    if json:
        print_json(data.to_dict())
        return 0
    row = data.similarity[0]
    print(f"{data.kind} positions, {data.source}: table {tuple(data.table.shape)}")
    print("similarity of position 0 to positions 1, 2, 4, 8, 16, 32: " + ", ".join(
        f"{float(row[d]):.3f}" for d in (1, 2, 4, 8, 16, 32) if d < data.n_positions))
    for note in data.notes:
        print(f"note: {note}")
    print(dim(f"plot saved to {out}"))
    return 0


def contextual(word: str = "bank", *, sentence: list[str] | None = None, model: str = "minilm-l6",
               out: str | None = None, json: bool = False) -> int:
    """One word in different sentences, layer by layer: the cosine similarity of its vectors between
    every two sentences after the embeddings and after each layer.
    Default: "bank" in a river sentence and two money sentences.

    Args:
        word: the word to follow; every sentence must contain it.
        sentence: a sentence containing the word (repeat the flag, at least two; default: three bank sentences).
        model: minilm-l6 (encoder, sees both sides), smollm2-135m-instruct or gemma3-270m (decoders, left only).
        out: save the plot (pairs against depth, last-layer matrix) here.
        json: print the similarities as JSON ([depth][i][j]).
    """
    from llm_playground.embeddings.contextual import contextual_embeddings, format_contextual, plot_contextual

    result = contextual_embeddings(model, word, sentence)
    if out:
        plot_contextual(result, out)
    print_json(result.to_dict()) if json else print(format_contextual(result))
    if out and not json:
        print(dim(f"plot saved to {out}"))
    return 0


def similarity(texts: list[str], *, model: str = "minilm-l6", out: str | None = None, json: bool = False) -> int:
    """Sentence embeddings (MiniLM, mean pooling, unit length) and the cosine similarity of every pair.
    Example: llmpg embed similarity "A cat sleeps." "A kitten naps." "Stocks fell today."

    Args:
        texts: two or more texts.
        model: the sentence encoder (minilm-l6).
        out: save a heat map of the matrix here.
        json: print the matrix as JSON.
    """
    from llm_playground.embeddings.sentences import plot_similarity, short_label, similarity_matrix

    result = similarity_matrix(texts, model)
    if out:
        plot_similarity(result, out)
    if json:
        print_json(result.to_dict())
        return 0
    n = len(result.texts)
    print(f"{result.model}: cosine similarity of sentence embeddings")
    for i, text in enumerate(result.texts):
        print(f"  {i + 1}. {short_label(text, 70)}")
    print("\n     " + "".join(f"{j + 1:>7}" for j in range(n)))
    for i in range(n):
        print(f"{i + 1:>4} " + "".join(f"{float(result.matrix[i, j]):>7.3f}" for j in range(n)))
    i, j, value = result.most_similar_pairs(1)[0]
    print(f"\nmost similar: {i + 1} and {j + 1} ({value:.3f})")
    for note in result.notes:
        print(f"note: {note}")
    if out:
        print(dim(f"heat map saved to {out}"))
    return 0


def project(texts: list[str] | None = None, *, method: Literal["pca", "tsne"] = "pca", model: str = "minilm-l6",
            out: str = "projection.png", json: bool = False) -> int:
    """Sentence embeddings drawn in 2-D: PCA (linear, ours, equal to scikit-learn's) or t-SNE.
    With no texts: 20 example sentences in four topics (animals, money, sport, food).

    Args:
        texts: the texts to embed and draw (at least 3; t-SNE at least 4).
        method: pca or tsne (UMAP is left out: see docs/embeddings.md).
        model: the sentence encoder (minilm-l6).
        out: save the scatter plot here.
        json: print the 2-D points as JSON.
    """
    from llm_playground.embeddings.projection import plot_projection, project_texts

    result = project_texts(texts or None, method=method, model=model)
    plot_projection(result, out)
    if json:
        print_json(result.to_dict())
        return 0
    for text, group, point in zip(result.texts, result.groups, result.points.tolist()):
        print(f"({point[0]:8.3f}, {point[1]:8.3f})  {group + ': ' if group else ''}{text}")
    for note in result.notes:
        print(f"note: {note}")
    print(dim(f"plot saved to {out}"))
    return 0


COMMANDS: dict = {
    "embed": ("The embeddings lab: token neighbours and analogies, positional encodings, contextual "
              "embeddings, sentence similarity, 2-D projections",
              {"neighbours": neighbours, "analogy": analogy, "positions": positions, "contextual": contextual,
               "similarity": similarity, "project": project}),
}
