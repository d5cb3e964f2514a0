"""Registry-installed files: locate them without importing their packages, check their hashes,
convert them once into the cache under `$LLMPG_HOME` (atomically), load from the cache after."""
from llm_playground.assets.corpora import corpus_path, corpus_text
from llm_playground.assets.files import atomic_directory, atomic_write_bytes, atomic_write_text, sha256_file
from llm_playground.assets.packaged import PackagedFile, locate, locate_verified
from llm_playground.assets.tiktoken_vocab import ensure_tiktoken_vocabularies, tiktoken_ranks_file

__all__ = [
    "PackagedFile", "atomic_directory", "atomic_write_bytes", "atomic_write_text", "corpus_path", "corpus_text",
    "ensure_tiktoken_vocabularies", "locate", "locate_verified", "sha256_file", "tiktoken_ranks_file",
]
