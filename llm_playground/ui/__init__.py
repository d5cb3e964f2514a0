"""The web playground: one Gradio page, one small module per tab, thin over the library.

    from llm_playground.ui import build_app, serve
    build_app()          # the gr.Blocks, without starting a server (tests, embedding)
    serve(port=7860)     # what `llmpg ui` runs

Each tab lives in `ui/tabs/<name>.py` with a `TITLE` and a `build()` that declares its components
and wires its events to plain handler functions in the same module. Adding a tab is one module
plus one name in `app.TAB_GROUPS`.
"""
from llm_playground.ui.app import TAB_GROUPS, TABS, build_app
from llm_playground.ui.server import serve

__all__ = ["TAB_GROUPS", "TABS", "build_app", "serve"]
