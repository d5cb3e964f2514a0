"""`build_app()`: the page, assembled from one module per tab (`ui/tabs/<name>.py`).

A tab module has `TITLE` and `build()`; `build()` declares its components and wires its events
inside the `gr.Tab` that this file opens. A new tab is a new module plus its name in one of `TAB_GROUPS`.
"""
from __future__ import annotations

import importlib

import gradio as gr

from llm_playground.ui import common

STATUS_SECONDS = 5
"""How often the page's status line (models held, memory) refreshes."""
TAB_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Learn", ("tokenize", "inspect", "next_token", "attention", "embeddings", "block")),
    ("Use", ("generate", "compare", "chat", "prompt_lab")),
    ("Build", ("evaluate", "finetune", "rag")),
)
"""The page's groups of tabs (a learner's path: see inside, use a model, measure and build), each
a tuple of tab modules under llm_playground.ui.tabs, in page order."""
TABS = tuple(name for _, names in TAB_GROUPS for name in names)
"""Every tab module, in page order."""

# System font stacks only: no web font is fetched (Google Fonts or otherwise), so the page works offline.
SANS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "DejaVu Sans Mono", "monospace"]

CSS = """
.llmpg-msg { padding: 0.5em 0.8em; border-radius: 6px; margin: 0.2em 0; font-size: 0.95em; }
.llmpg-error { background: #fde8e8; border: 1px solid #f05252; color: #771d1d; }
.llmpg-info { background: #eef4ff; border: 1px solid #a4c2f4; color: #1e3a8a; }
.llmpg-busy { background: #fff8e1; border: 1px solid #f5c542; color: #6b4e00; }
.tok-result { margin: 0.6em 0 1em 0; }
.tok-result h4 { margin: 0 0 0.3em 0; font-size: 1em; }
.tok-spans, .gen-tokens { font-family: var(--font-mono); white-space: pre-wrap; word-break: break-word;
                          line-height: 1.9; color: #111; }
.tok { padding: 1px 0; border-radius: 3px; margin-right: 1px; cursor: help; }
/* Hover tips drawn by CSS from data-tip (a native title tooltip is slow and invisible to screenshots). */
.tok, .gen-tok { position: relative; }
.tok:hover::after, .gen-tok:hover::after { content: attr(data-tip); position: absolute; left: 0; top: 1.7em;
  z-index: 20; background: #1f2937; color: #fff; padding: 4px 8px; border-radius: 4px; white-space: pre;
  font-size: 12px; line-height: 1.4; pointer-events: none; }
.tok-gap { color: #888; }
.tok-c0 { background: #bfdbfe; } .tok-c1 { background: #fde68a; } .tok-c2 { background: #bbf7d0; }
.tok-c3 { background: #fecaca; } .tok-c4 { background: #ddd6fe; } .tok-c5 { background: #fef3c7; }
.tok-c6 { background: #a5f3fc; } .tok-c7 { background: #fbcfe8; }
.gen-tok { border-radius: 3px; cursor: help; }
.gen-tok.tok-special { font-style: italic; opacity: 0.8; }
.gen-legend { font-size: 0.85em; color: #555; margin-bottom: 0.3em; }
.gen-legend span { padding: 0 0.4em; border-radius: 3px; color: #111; }
.cmp-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 0.8em; }
.cmp-cell { border: 1px solid #d1d5db; border-radius: 8px; padding: 0.6em 0.8em; }
.cmp-cell h4 { margin: 0 0 0.4em 0; }
.cmp-label { font-size: 0.85em; color: #555; margin-top: 0.4em; }
.cmp-input { font-family: var(--font-mono); font-size: 0.85em; background: #f3f4f6; color: #111; padding: 0.4em;
             border-radius: 4px; white-space: pre-wrap; word-break: break-word; margin: 0.2em 0; }
.cmp-output { white-space: pre-wrap; min-height: 2em; }
.chat-msg { border-radius: 8px; padding: 0.5em 0.8em; margin: 0.4em 0; }
.chat-user { background: #eef2ff; color: #111; }
.chat-assistant { background: #f9fafb; border: 1px solid #e5e7eb; color: #111; }
.chat-tok { cursor: pointer; }
.chat-finish, .chat-empty { font-size: 0.85em; color: #555; }
.lab-table { border-collapse: collapse; font-size: 0.9em; }
.lab-table td, .lab-table th { border: 1px solid #d1d5db; padding: 0.2em 0.6em; text-align: left; }
.rag-hit { border: 1px solid #d1d5db; border-radius: 6px; padding: 0.3em 0.6em; margin: 0.3em 0; }
.rag-hit summary { cursor: pointer; font-size: 0.92em; }
.rag-doc { white-space: pre-wrap; word-break: break-word; font-size: 0.88em; color: #374151; max-height: 22em;
           overflow-y: auto; margin-top: 0.4em; }
.rag-doc mark { background: #fde68a; color: #111; padding: 0 1px; }
"""

HEADER = """# llm-playground
See how language models work on real models, offline, on this computer: tokenize text, look inside a
model, watch the next-token distribution, generate and compare, and ask your own documents (RAG).
Models load once, on first use, and are shared by every tab."""


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts (nothing is downloaded)."""
    return gr.themes.Default(font=SANS, font_mono=MONO)


def memory_status() -> str:
    """Handler of the status line: what the model store holds and its memory, refreshed every few seconds."""
    from llm_playground import store

    return f"<small>Models in memory — {common.escape(store.models.status_line())}</small>"


def build_app() -> gr.Blocks:
    """The whole page as a gr.Blocks (not launched)."""
    with gr.Blocks(title="llm-playground", analytics_enabled=False) as app:
        gr.Markdown(HEADER)
        status = gr.HTML(memory_status(), elem_id="memory-status")
        gr.Timer(STATUS_SECONDS).tick(memory_status, None, status, queue=False, show_progress="hidden")
        with gr.Tabs(elem_id="tab-groups"):
            for group, names in TAB_GROUPS:
                with gr.Tab(group, id=f"group-{group.lower()}", elem_id=f"group-{group.lower()}"):
                    with gr.Tabs():
                        for name in names:
                            module = importlib.import_module(f"llm_playground.ui.tabs.{name}")
                            with gr.Tab(module.TITLE, id=name, elem_id=f"tab-{name}"):
                                module.build()
    return app
