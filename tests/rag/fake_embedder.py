"""A fast, deterministic stand-in for MiniLM in tests of the store's mechanics (no torch model).

Each lower-cased word is hashed (sha1) into one of 384 buckets with a ± sign; a text's vector is the
normalised sum. Texts that share words are close, like a crude bag-of-words encoder. Chunking
still counts real MiniLM tokens (the tokenizer files are small and load in a fraction of a second).
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from llm_playground import zoo

DIMENSION = 384


class HashEmbedder:
    name = "hash-test"
    dimension = DIMENSION

    def tokenizer(self):
        return zoo.load_tokenizer("minilm-l6")

    def load(self) -> None:
        pass

    def embed(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.sha1(word.encode()).digest()
                vectors[row, int.from_bytes(digest[:4], "little") % DIMENSION] += 1.0 if digest[4] & 1 else -1.0
            norm = np.linalg.norm(vectors[row])
            vectors[row] = vectors[row] / norm if norm else vectors[row]
            if not norm:
                vectors[row, 0] = 1.0
        return vectors
