"""The embeddings lab: what the vectors inside a language model are, measured on real models.

- `tokens`: the token embedding table of any zoo model: nearest neighbours of a token by cosine,
  and analogies (king − man + woman) where they work.
- `positional`: positional encodings: the sinusoidal table of "Attention Is All You Need", learned
  tables (MiniLM's trained one; GPT-2's architecture has one, with random weights here), and the RoPE
  rotations our transformer applies (the plot's data is the engine's own tables).
- `contextual`: one word in different sentences, layer by layer (MiniLM, SmolLM2, any zoo model):
  how its vectors drift apart as context mixes in.
- `sentences`: sentence embeddings (MiniLM with mean pooling, through sentence-transformers and our
  own readable pooling, proved equal) and similarity matrices.
- `projection`: 2-D views of embeddings: PCA (ours, equal to scikit-learn's) and t-SNE (scikit-learn).

Every function returns data (tensors, dataclasses) and, separately, draws a PNG of it; tests check the data.
"""
