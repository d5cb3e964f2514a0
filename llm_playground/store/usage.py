"""What the faces hold, and what that costs: `llmpg doctor --load` and the page's status line."""
from __future__ import annotations

import os
from collections.abc import Iterable

from llm_playground.store.store import HeldModel, models


def process_memory_bytes() -> int:
    """This process's resident memory (RSS) now."""
    try:
        import psutil

        return int(psutil.Process(os.getpid()).memory_info().rss)
    except ImportError:  # pragma: no cover - psutil comes with gradio
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # peak, in KiB on Linux


def hold_face_models(names: Iterable[str] | None = None, *, progress: bool = False) -> list[HeldModel]:
    """Load every zoo model (or `names`) the way the web page's tabs use them, into the store:
    the tokenizer, the architecture on the meta device (Inspect), the engine Generate picks
    (`auto`), our readable engine (Next token, Attention, beam search), and transformers' encoder
    (Attention for MiniLM). Returns what the store holds afterwards."""
    from llm_playground import zoo
    from llm_playground.generation.api import choose_backend
    from llm_playground.generation.backends import make_backend, native_model, native_supported

    specs = [zoo.resolve(name) for name in names] if names is not None else zoo.list_models()
    for spec in specs:
        if progress:
            import sys

            print(f"loading {spec.name} as the page uses it…", file=sys.stderr, flush=True)
        zoo.load_tokenizer(spec)
        zoo.meta_model(spec)
        if not spec.generates:
            zoo.load_hf_model(spec)
            continue
        make_backend(spec, choose_backend(spec, "auto"))
        if native_supported(spec.architecture):
            native_model(spec)
    return models.held()
