"""Make `tiktoken.get_encoding("gpt2" | "r50k_base" | "cl100k_base" | "o200k_base")` work offline.

tiktoken looks for `$TIKTOKEN_CACHE_DIR/<sha1(url)>` and checks the file's sha256 before using it.
We fill that folder from registry packages: cl100k/o200k from `bpe-openai` (gzipped), the GPT-2
ranks from `openai-whisper`. tiktoken's "gpt2" encoding reads the original `encoder.json` and
`vocab.bpe`; we regenerate both byte-for-byte from the ranks (tiktoken's own hashes prove it).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

from llm_playground import runtime
from llm_playground.assets.files import atomic_write_bytes
from llm_playground.assets.packaged import CL100K_RANKS_GZ, GPT2_RANKS, O200K_RANKS_GZ, PackagedFile, locate
from llm_playground.errors import AssetError, unknown_name

_BLOB = "https://openaipublic.blob.core.windows.net"
# url → expected sha256, exactly as in tiktoken_ext/openai_public.py.
R50K_URL = f"{_BLOB}/encodings/r50k_base.tiktoken"
CL100K_URL = f"{_BLOB}/encodings/cl100k_base.tiktoken"
O200K_URL = f"{_BLOB}/encodings/o200k_base.tiktoken"
ENCODER_JSON_URL = f"{_BLOB}/gpt-2/encodings/main/encoder.json"
VOCAB_BPE_URL = f"{_BLOB}/gpt-2/encodings/main/vocab.bpe"
EXPECTED_SHA256 = {
    R50K_URL: "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    CL100K_URL: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    O200K_URL: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ENCODER_JSON_URL: "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    VOCAB_BPE_URL: "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}
RANKS_URL = {"gpt2": R50K_URL, "r50k_base": R50K_URL, "cl100k_base": CL100K_URL, "o200k_base": O200K_URL}
_SOURCE = {R50K_URL: GPT2_RANKS, CL100K_URL: CL100K_RANKS_GZ, O200K_URL: O200K_RANKS_GZ}


def cache_dir() -> Path:
    return Path(os.environ.get("TIKTOKEN_CACHE_DIR") or runtime.home() / "tiktoken")


def cache_path(url: str) -> Path:
    """Where tiktoken looks for the file it would download from `url`."""
    return cache_dir() / hashlib.sha1(url.encode()).hexdigest()


def _is_good(path: Path, url: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == EXPECTED_SHA256[url]


def _write_checked(url: str, data: bytes, source: str) -> None:
    if hashlib.sha256(data).hexdigest() != EXPECTED_SHA256[url]:
        raise AssetError(f"{source} does not hash to tiktoken's expected value for {url.rsplit('/', 1)[1]}; "
                         "reinstall the package that ships it (make setup)")
    atomic_write_bytes(cache_path(url), data)


def _packaged_bytes(item: PackagedFile) -> bytes:
    path = locate(item)
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (used by encoder.json/vocab.bpe)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters)))


def _merge_that_made(token: bytes, rank: int, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The pair whose merge created `token`: BPE of its bytes using only lower ranks ends in two parts."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best_rank, best_at = min((ranks.get(parts[i] + parts[i + 1], rank), i) for i in range(len(parts) - 1))
        parts[best_at:best_at + 2] = [parts[best_at] + parts[best_at + 1]]
    return parts[0], parts[1]


def gpt2_data_gym_files(ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """Rebuild GPT-2's original `encoder.json` and `vocab.bpe` from its rank table."""
    to_text = bytes_to_unicode()
    spell = lambda token: "".join(to_text[b] for b in token)  # noqa: E731
    by_rank = sorted(ranks.items(), key=lambda item: item[1])
    encoder = {spell(token): rank for token, rank in by_rank}
    encoder["<|endoftext|>"] = len(by_rank)
    merges = (_merge_that_made(token, rank, ranks) for token, rank in by_rank if rank >= 256)
    vocab_bpe = "#version: 0.2\n" + "".join(f"{spell(a)} {spell(b)}\n" for a, b in merges)
    return json.dumps(encoder).encode(), vocab_bpe.encode()


def ensure_tiktoken_vocabularies() -> Path:
    """Place every vocabulary tiktoken needs offline; idempotent, and checked by hash each time."""
    for url, item in _SOURCE.items():
        if not _is_good(cache_path(url), url):
            _write_checked(url, _packaged_bytes(item), str(locate(item)))
    if not (_is_good(cache_path(ENCODER_JSON_URL), ENCODER_JSON_URL)
            and _is_good(cache_path(VOCAB_BPE_URL), VOCAB_BPE_URL)):
        from tiktoken.load import load_tiktoken_bpe

        encoder_json, vocab_bpe = gpt2_data_gym_files(load_tiktoken_bpe(str(cache_path(R50K_URL))))
        _write_checked(ENCODER_JSON_URL, encoder_json, "the rebuilt encoder.json")
        _write_checked(VOCAB_BPE_URL, vocab_bpe, "the rebuilt vocab.bpe")
    return cache_dir()


def tiktoken_ranks_file(name: str) -> Path:
    """A hash-checked rank file in tiktoken's `.tiktoken` format for gpt2/r50k_base/cl100k_base/o200k_base."""
    if name not in RANKS_URL:
        raise unknown_name("rank table", name, RANKS_URL)
    url = RANKS_URL[name]
    if not _is_good(cache_path(url), url):
        ensure_tiktoken_vocabularies()
    return cache_path(url)


def vocabulary_states() -> dict[str, str]:
    """For `llmpg doctor`: each encoding's state ("ready", "not prepared yet", or the problem)."""
    states = {}
    for name, url in RANKS_URL.items():
        if _is_good(cache_path(url), url):
            states[name] = "ready"
        else:
            try:
                locate(_SOURCE[url])
                states[name] = "installed, placed on first use"
            except AssetError as error:
                states[name] = str(error)
    return states
