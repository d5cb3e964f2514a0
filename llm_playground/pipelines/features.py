"""feature-extraction: the vectors an encoder makes of a text.

transformers' `pipeline("feature-extraction")` returns the last layer's vector for every token,
[1, T, C] per text. Method `tokens` does that with MiniLM (C = 384, [CLS] and [SEP] included);
method `sentence` returns one unit-length vector per text (mean of the token vectors over the real
tokens, as sentence-transformers computes it), the one that similarity and retrieval use.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from llm_playground.errors import PlaygroundError

ENCODER = "minilm-l6"


@dataclass
class Features:
    """The vectors of each text."""

    model: str
    method: str
    texts: list[str]
    tokens: list[list[str]]
    """tokens method: the word pieces of each text; sentence method: empty lists."""
    vectors: list[torch.Tensor]
    """tokens: (T, C) per text; sentence: (C,) per text."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self, decimals: int = 5) -> dict:
        return {"model": self.model, "method": self.method, "texts": self.texts, "tokens": self.tokens,
                "shapes": [list(v.shape) for v in self.vectors], "notes": self.notes,
                "vectors": [torch.round(v.double(), decimals=decimals).tolist() for v in self.vectors]}


@torch.inference_mode()
def extract_features(texts: list[str], method: str = "tokens", model: str = ENCODER) -> Features:
    """Token vectors (transformers' default) or sentence vectors of each text."""
    from llm_playground import zoo
    from llm_playground.embeddings.sentences import check_texts, encode, max_tokens

    texts = check_texts(texts)
    if method == "sentence":
        encoded = encode(texts, model)
        return Features(model=encoded.model, method=method, texts=texts, tokens=[[] for _ in texts],
                        vectors=list(encoded.vectors), notes=encoded.truncation_notes)
    if method != "tokens":
        raise PlaygroundError(f"feature-extraction has no method {method!r}; its methods: tokens, sentence")
    loaded = zoo.load_model(model)
    limit = max_tokens(model)
    vectors, tokens, notes = [], [], []
    for index, text in enumerate(texts):
        full = loaded.tokenizer(text)["input_ids"]
        batch = loaded.tokenizer(text, truncation=True, max_length=limit, return_tensors="pt")
        if len(full) > limit:
            notes.append(f"text {index + 1} is {len(full)} tokens; {loaded.spec.name} reads the first {limit} "
                         "(the rest was cut)")
        vectors.append(loaded.model(**batch).last_hidden_state[0].float())  # (T, C)
        tokens.append(loaded.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist()))
    return Features(model=loaded.spec.name, method=method, texts=texts, tokens=tokens, vectors=vectors, notes=notes)
