"""The page's structure (tabs, accessible labels, events), the server's start-up checks and `llmpg ui`."""
import socket

import gradio as gr
import pytest

from llm_playground import zoo
from llm_playground.cli import main
from llm_playground.errors import PlaygroundError
from llm_playground.ui import TAB_GROUPS, TABS, build_app
from llm_playground.ui import common
from llm_playground.ui.app import theme
from llm_playground.ui.server import check_port


@pytest.fixture(scope="module")
def app():
    return build_app()


def components(app):
    return list(app.blocks.values())


def labels_in_tab(app, tab_id: str) -> set[str]:
    tab = next(block for block in components(app) if isinstance(block, gr.Tab) and block.id == tab_id)
    found = set()

    def walk(block):
        for child in getattr(block, "children", []):
            label = getattr(child, "label", None)
            if isinstance(child, gr.Button):
                found.add(child.value)
            elif label:
                found.add(str(label))
            walk(child)

    walk(tab)
    return found


def test_the_page_has_one_tab_per_module_in_three_groups(app):
    tabs = [block for block in components(app) if isinstance(block, gr.Tab)]
    groups = [tab for tab in tabs if tab.id.startswith("group-")]
    assert [tab.label for tab in groups] == ["Learn", "Use", "Build"] == [group for group, _ in TAB_GROUPS]
    modules = [tab for tab in tabs if not tab.id.startswith("group-")]
    assert [tab.id for tab in modules] == list(TABS)
    assert [tab.label for tab in modules] == ["Tokenize", "Inspect", "Next token", "Attention", "Embeddings", "Block",
                                              "Generate", "Compare", "Chat", "Prompt lab", "Evaluate", "Fine-tune",
                                              "RAG"]


@pytest.mark.parametrize("tab, expected", [
    ("tokenize", {"Text", "Tokenizers", "Tokenize", "Summary", "Training text", "Vocabulary size", "Train BPE"}),
    ("inspect", {"Model", "Inspect", "Layers", "d_model", "Heads", "KV heads", "d_ff", "Vocabulary", "Size it"}),
    ("next_token", {"Model", "Prompt", "Temperature", "Top-k", "Top-p", "Min-p", "Repetition penalty", "Candidates",
                    "Show next tokens"}),
    ("generate", {"Model", "Strategy", "Temperature", "Top-k", "Top-p", "Min-p", "Repetition penalty",
                  "Max new tokens", "Seed", "Beams", "System prompt", "Prompt", "Generate", "Stop", "Output",
                  "Constraint", "Constraint value"}),
    ("chat", {"Model", "Strategy", "Temperature", "Seed", "Max new tokens", "System prompt", "Message", "Send", "Stop",
              "Regenerate", "Clear", "Alternatives", "Continue from here", "Answers of this turn", "Turn to edit",
              "New text", "Save and answer again"}),
    ("prompt_lab", {"Model", "Task set", "Technique", "Constraint", "Constraint value", "System prompt", "Shots (k)",
                    "Samples (n)", "Template (Jinja2)", "Variables", "Input", "Try it", "Techniques", "Items",
                    "Run on the task set"}),
    ("compare", {"Prompt", "Models", "Strategies", "Max new tokens", "Seed", "Compare", "Stop"}),
    ("attention", {"Model", "Prompt", "Layer", "Head", "All heads of the layer", "Show attention"}),
    ("embeddings", {"Model", "Word", "Neighbours", "Find neighbours", "Kind", "Positions", "Show positions",
                    "Word to follow", "Compare the word's vectors", "Texts (one per line)", "Projection",
                    "Embed and compare"}),
    ("block", {"Model", "Prompt", "Target (T5 decoder input)", "Walk the block", "The three families"}),
    ("evaluate", {"Models", "More models", "Tasks", "Items per task", "Evaluate", "Stop",
                  "Open a multiple-choice item"}),
    ("finetune", {"Model", "Data", "Rank r", "Alpha", "Target layers", "Blocks with adapters", "Steps", "Batch size",
                  "Learning rate", "Held-out prompts", "Plan", "Train", "Stop"}),
    ("rag", {"Collection", "Upload files", "Or paths on this computer", "Chunk size", "Overlap", "Ingest", "Question",
             "Retrieval", "k", "Max new tokens", "Model", "Ask", "Search only", "Measure dense, BM25 and hybrid"}),
])
def test_inputs_and_buttons_carry_accessible_labels(app, tab, expected):
    assert expected <= labels_in_tab(app, tab)


def test_model_events_share_one_queue_slot_and_stop_cancels_generation(app):
    model_events = {fn.api_name: fn for fn in app.fns.values()
                    if fn.api_name in ("generate", "compare", "next_token", "attention", "inspect", "evaluate")}
    assert set(model_events) == {"generate", "compare", "next_token", "attention", "inspect", "evaluate"}
    assert {fn.concurrency_id for fn in model_events.values()} == {common.MODEL_CONCURRENCY}
    generate_index = next(index for index, fn in app.fns.items() if fn.api_name == "generate")
    stops = [fn for fn in app.fns.values() if fn.cancels and generate_index in fn.cancels]
    assert len(stops) == 1


def test_the_theme_fetches_no_web_fonts():
    page_theme = theme()
    assert page_theme._stylesheets == []
    assert "googleapis" not in page_theme._get_theme_css()
    assert page_theme.font.startswith("ui-sans-serif")


def test_loading_note_says_when_a_model_converts_or_loads(monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "is_loaded", lambda name: False)
    monkeypatch.setattr(zoo, "cache_dir", lambda spec: tmp_path / "missing")
    assert "smollm2-135m-instruct: first use, converting its GGUF" in common.loading_note(["smollm2-135m-instruct"])
    assert "gpt2: loading into memory" in common.loading_note(["gpt2"])
    monkeypatch.setattr(zoo, "is_loaded", lambda name: True)
    assert common.loading_note(["smollm2-135m-instruct"]) == ""


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PlaygroundError, match=f"cannot listen on 127.0.0.1:{port}.*pass another --port"):
            check_port("127.0.0.1", port)
    with pytest.raises(PlaygroundError, match="between 1 and 65535"):
        check_port("127.0.0.1", 70000)


def test_llmpg_ui_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ui", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--host" in out and "--port" in out and "127.0.0.1" in out


def test_llmpg_ui_on_a_taken_port_fails_in_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["ui", "--port", str(taken.getsockname()[1])]) == 1
    assert capsys.readouterr().err.startswith("llmpg: error: cannot listen on 127.0.0.1:")


def test_the_generate_chat_and_compare_pickers_take_a_typed_remote_model(app):
    """Generate's and Chat's model pickers accept a typed name (a remote model, docs/remote-backends.md);
    Compare has a box for more models, one per line."""
    import gradio as gr

    typed = [block for block in app.blocks.values()
             if isinstance(block, gr.Dropdown) and block.label == "Model" and block.allow_custom_value]
    assert len(typed) == 2 and all("openai@http://127.0.0.1:8000/v1:NAME" in block.info for block in typed)
    assert any(getattr(block, "elem_id", None) == "compare-remote-models" for block in app.blocks.values())
