"""The web playground in a real headless Chromium, against `llmpg ui` on a free local port.

Needs Debian's chromium at /usr/bin/chromium (`make test` installs it: scripts/install-browser.sh);
Python Playwright drives it with `executable_path`. Screenshots of every tab are saved in
artifacts/screenshots/ (git-ignored). The tests share one server and one page and run in order.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import tiktoken

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
START_TIMEOUT = 180  # seconds: importing gradio + torch on a busy 2-core machine
MODEL_TIMEOUT = 240_000  # ms: first model load (Gemma: ~90 s when the 2 cores are shared) + a few tokens


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`llmpg ui --port <free>` as a subprocess; yields (url, printed lines); stopped at the end.
    Its RAG collections go to a temporary folder."""
    port = free_port()
    rag_home = tmp_path_factory.mktemp("rag")
    process = subprocess.Popen([sys.executable, "-m", "llm_playground", "ui", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "LLMPG_RAG_HOME": str(rag_home)})
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                pytest.fail("llmpg ui exited early:\n" + "".join(lines))
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200 and any("running at" in line for line in lines):
                        break  # answering, and the URL is printed (it is printed once launch returns)
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llmpg ui did not answer within {START_TIMEOUT} s:\n" + "".join(lines))
            time.sleep(0.5)
        yield url, lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    """One Chromium page on the playground, recording every request and every console error."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/install-browser.sh` (make test does)")
    from playwright.sync_api import sync_playwright

    url, _ = server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.requests = []
        page.console_errors = []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("console", lambda message: page.console_errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        page.goto(url)
        page.get_by_role("tab", name="Tokenize").wait_for()
        yield page
        context.close()


def open_tab(page, title: str, name: str, timeout: float = 30_000):
    """Open a tab: first its group (Learn, Use, Build), then the tab itself."""
    from llm_playground.ui.app import TAB_GROUPS

    group = next(group for group, names in TAB_GROUPS if name in names)
    page.get_by_role("tab", name=group, exact=True).click(timeout=timeout)
    page.get_by_role("tab", name=title, exact=True).click(timeout=timeout)
    panel = page.locator(f"#tab-{name}")
    panel.wait_for(state="visible")
    return panel


def shoot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_server_prints_its_url(server):
    url, lines = server
    assert any(f"llm-playground is running at {url}" in line for line in lines), lines


def test_tokenize_a_sentence_and_read_the_token_count(page):
    panel = open_tab(page, "Tokenize", "tokenize")
    sentence = "The quick brown fox jumps over the lazy dog, twice: 🦊🦊!"
    panel.get_by_label("Text", exact=True).fill(sentence)
    panel.get_by_role("button", name="Tokenize", exact=True).click()
    result = panel.locator('.tok-result[data-tokenizer="gpt2"]')
    expected = len(tiktoken.get_encoding("gpt2").encode(sentence))
    result.locator(".tok-count").filter(has_text=str(expected)).wait_for(timeout=60_000)
    assert int(result.locator(".tok-count").inner_text()) == expected
    assert result.get_attribute("data-count") == str(expected)
    first = result.locator(".tok").first
    assert first.get_attribute("data-tip") == f"#0 · id 464 · bytes 54 68 65 · 'The'"
    first.hover()
    shoot(page, "1-tokenize")


def test_generate_streams_text_into_the_output(page):
    panel = open_tab(page, "Generate", "generate")
    panel.get_by_label("Prompt", exact=True).fill("Name three colours.")
    panel.get_by_label("Max new tokens", exact=True).fill("16")
    panel.get_by_role("button", name="Generate", exact=True).click()
    output = panel.get_by_label("Output", exact=True)
    seen: list[str] = []
    deadline = time.monotonic() + MODEL_TIMEOUT / 1000
    stats = panel.locator("#generate-stats")
    while time.monotonic() < deadline:
        value = output.input_value()
        if value and (not seen or seen[-1] != value):
            seen.append(value)
        if "finished" in stats.inner_text():
            break
        time.sleep(0.05)
    assert "finished" in stats.inner_text(), "generation did not finish in time"
    final = output.input_value()
    assert final and len(seen) >= 2, seen  # the text arrived in pieces: streamed
    assert all(final.startswith(partial) for partial in seen)
    count = int(stats.inner_text().split(" token")[0])
    assert panel.locator("#generate-tokens span.gen-tok").count() == count
    assert "tokens/s" in stats.inner_text()
    token = panel.locator("#generate-tokens span.gen-tok").nth(1)
    assert "model's top:" in token.get_attribute("data-tip")
    token.hover()  # its alternatives show in the screenshot
    shoot(page, "4-generate")


def test_stop_ends_a_long_generation(page):
    panel = open_tab(page, "Generate", "generate")
    panel.get_by_label("Prompt", exact=True).fill("Write a long story about a dragon who learns to bake bread.")
    panel.get_by_label("Max new tokens", exact=True).fill("400")
    output = panel.get_by_label("Output", exact=True)
    before = output.input_value()  # the previous test's text: wait for new text, not this
    panel.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function("([out, stats, before]) => out.value.length > 0 && out.value !== before"
                           " && !stats.innerText.includes('finished')",
                           arg=[output.element_handle(), panel.locator("#generate-stats").element_handle(), before],
                           timeout=MODEL_TIMEOUT)
    panel.get_by_role("button", name="Stop", exact=True).click()
    panel.locator(".llmpg-info").filter(has_text="stopped").wait_for(timeout=10_000)
    time.sleep(1.0)
    stopped_at = output.input_value()
    time.sleep(2.0)
    assert output.input_value() == stopped_at  # no more tokens arrive
    assert "finished" not in panel.locator("#generate-stats").inner_text()


def test_bad_input_shows_an_inline_message_and_the_server_keeps_running(page):
    panel = open_tab(page, "Generate", "generate")
    panel.get_by_label("Prompt", exact=True).fill("")
    panel.get_by_role("button", name="Generate", exact=True).click()
    panel.locator(".llmpg-error").filter(has_text="the prompt is empty").wait_for(timeout=30_000)
    panel.get_by_label("Prompt", exact=True).fill("Hi")
    panel.get_by_label("sample", exact=True).check()
    panel.get_by_label("Temperature", exact=True).fill("-3")
    panel.get_by_role("button", name="Generate", exact=True).click()
    panel.locator(".llmpg-error").filter(has_text="temperature must be ≥ 0 (got -3").wait_for(timeout=30_000)
    shoot(page, "4-generate-error")
    panel.get_by_label("Temperature", exact=True).fill("0.8")
    panel.get_by_label("greedy", exact=True).check()


def test_next_token_click_a_candidate_appends_it(page):
    panel = open_tab(page, "Next token", "next_token")
    prompt = panel.get_by_label("Prompt", exact=True)
    prompt.fill("The capital of France is")
    panel.get_by_role("button", name="Show next tokens", exact=True).click()
    first = panel.get_by_role("radio").first
    first.wait_for(timeout=MODEL_TIMEOUT)
    assert panel.get_by_role("radio").count() == 10
    first.check()
    page.wait_for_function("el => el.value === 'The capital of France is Paris'", arg=prompt.element_handle(),
                           timeout=MODEL_TIMEOUT)
    panel.get_by_role("radio").first.wait_for()
    page.wait_for_timeout(1500)  # the recomputed chart
    shoot(page, "3-next-token")


def test_inspect_compare_and_attention_fill_in(page):
    panel = open_tab(page, "Inspect", "inspect")
    panel.get_by_role("button", name="Inspect", exact=True).click()
    panel.get_by_text("134,515,008", exact=False).first.wait_for(timeout=MODEL_TIMEOUT)
    panel.get_by_role("button", name="Size it", exact=True).click()
    panel.get_by_text("6,738,415,616", exact=False).first.wait_for(timeout=30_000)
    shoot(page, "2-inspect")

    panel = open_tab(page, "Attention", "attention")
    panel.get_by_role("button", name="Show attention", exact=True).click()
    links = panel.get_by_label("Where each token looks most")
    page.wait_for_function("el => el.value.includes('layer 0, head 0')", arg=links.element_handle(),
                           timeout=MODEL_TIMEOUT)
    panel.locator("img").first.wait_for(timeout=30_000)
    shoot(page, "6-attention")

    panel = open_tab(page, "Compare", "compare")
    panel.get_by_label("Max new tokens", exact=True).fill("8")
    panel.get_by_role("button", name="Compare", exact=True).click()
    panel.locator(".cmp-cell").nth(1).filter(has_text="finished").wait_for(timeout=MODEL_TIMEOUT)
    assert panel.locator(".cmp-cell").count() == 2
    assert "<|im_start|>" in panel.locator('.cmp-cell[data-model="smollm2-135m-instruct"] .cmp-input').inner_text()
    assert panel.locator(".llmpg-info").filter(has_text="Gemma Terms of Use").count() == 1
    shoot(page, "5-compare")


def test_evaluate_runs_a_task_shows_the_board_and_opens_an_item(page):
    panel = open_tab(page, "Evaluate", "evaluate")
    panel.get_by_label("Items per task", exact=True).fill("3")
    panel.get_by_role("button", name="Evaluate", exact=True).click()
    panel.locator("#eval-board table").wait_for(timeout=MODEL_TIMEOUT)
    assert "arithmetic acc_norm" in panel.locator("#eval-board").inner_text()
    assert panel.locator(".eval-progress").get_attribute("data-done") == "3"
    panel.locator("#eval-item table").wait_for(timeout=30_000)  # the first item opens by itself
    assert "Σ ln p" in panel.locator("#eval-item").inner_text()
    assert panel.locator(".llmpg-error").count() == 0
    shoot(page, "7-evaluate")


def test_chat_holds_a_two_turn_conversation_and_stop_keeps_the_partial_answer(page):
    panel = open_tab(page, "Chat", "chat")
    conversation = panel.locator("#chat-conversation")
    message = panel.get_by_label("Message", exact=True)
    panel.get_by_label("Max new tokens", exact=True).fill("24")
    message.fill("What is the capital of France?")
    panel.get_by_role("button", name="Send", exact=True).click()
    conversation.locator('.chat-assistant[data-turn="0"] .chat-finish').wait_for(timeout=MODEL_TIMEOUT)
    assert "Paris" in conversation.locator('.chat-assistant[data-turn="0"]').inner_text()
    message.fill("And what language do people speak there?")
    panel.get_by_role("button", name="Send", exact=True).click()
    conversation.locator('.chat-assistant[data-turn="1"] .chat-finish').wait_for(timeout=MODEL_TIMEOUT)
    assert "French" in conversation.locator('.chat-assistant[data-turn="1"]').inner_text()  # "there" = France
    panel.get_by_text("Exact model input of the last answer", exact=False).click()  # open the accordion
    model_input = panel.locator("#chat-model-input textarea").input_value(timeout=10_000)
    assert "<|im_start|>user\nWhat is the capital of France?" in model_input and "Paris" in model_input
    token = conversation.locator('.chat-assistant[data-turn="0"] .chat-tok').nth(5)
    assert "model's top:" in token.get_attribute("data-tip")
    token.click()  # branching: the alternatives of that token appear
    panel.locator("#chat-alternatives").get_by_role("radio").first.wait_for(timeout=30_000)
    shoot(page, "7-chat")

    panel.get_by_label("Max new tokens", exact=True).fill("400")
    message.fill("Write a long story about a dragon who learns to bake bread.")
    panel.get_by_role("button", name="Send", exact=True).click()
    writing = conversation.locator('.chat-assistant[data-turn="2"] .chat-tok')
    writing.nth(3).wait_for(timeout=MODEL_TIMEOUT)
    panel.get_by_role("button", name="Stop", exact=True).click()
    panel.locator("#chat-status .llmpg-info").filter(has_text="stopped").wait_for(timeout=10_000)
    time.sleep(1.0)
    count = writing.count()
    time.sleep(2.0)
    assert writing.count() == count and 0 < count < 400  # no more tokens arrive
    assert "finished: stopped" in conversation.locator('.chat-assistant[data-turn="2"]').inner_text()


def test_prompt_lab_runs_a_small_task_set_and_shows_the_table(page):
    panel = open_tab(page, "Prompt lab", "prompt_lab")
    panel.get_by_label("Items", exact=True).fill("2")
    for name in ("few-shot", "constrained"):  # keep zero-shot only, then add constrained back
        panel.get_by_label(name, exact=True).click()
    panel.get_by_label("constrained", exact=True).click()
    panel.get_by_role("button", name="Run on the task set", exact=True).click()
    panel.locator("#lab-progress").filter(has_text="done:").wait_for(timeout=MODEL_TIMEOUT * 2)
    table = panel.locator("#lab-table table")
    assert table.locator("tr").count() == 3  # header + zero-shot + constrained
    assert "constrained" in table.inner_text() and "%" in table.inner_text()
    panel.locator("img").first.wait_for(timeout=30_000)
    shoot(page, "8-prompt-lab")


def test_two_users_generating_at_once_are_queued_and_both_finish(page, server):
    url, _ = server
    second = page.context.new_page()
    second.goto(url)
    panels = []
    for user in (page, second):
        panel = open_tab(user, "Generate", "generate")
        panel.get_by_label("Prompt", exact=True).fill("Say hello.")
        panel.get_by_label("Max new tokens", exact=True).fill("6")
        panels.append(panel)
    for panel in panels:  # both click before either finishes
        panel.get_by_role("button", name="Generate", exact=True).click()
    for panel in panels:
        panel.locator("#generate-stats").filter(has_text="finished").wait_for(timeout=MODEL_TIMEOUT)
        assert panel.get_by_label("Output", exact=True).input_value()
        assert panel.locator(".llmpg-error").count() == 0
    second.close()


def test_stop_during_a_64_beam_search_frees_the_engine_for_another_user(page, server):
    """One page runs a 64-beam search and presses Stop while a second page waits in the queue with
    a greedy 8-token request: the second answer is complete within 5 s of the Stop."""
    url, _ = server
    beam = open_tab(page, "Generate", "generate")
    beam.get_by_label("beam", exact=True).check()
    beam.get_by_label("Beams", exact=True).fill("64")
    beam.get_by_label("Max new tokens", exact=True).fill("200")
    beam.get_by_label("Prompt", exact=True).fill("Write a long story about a dragon who learns to bake bread.")
    beam.get_by_role("button", name="Generate", exact=True).click()
    beam.locator(".llmpg-busy").filter(has_text="beam search:").wait_for(timeout=MODEL_TIMEOUT)
    other = page.context.new_page()
    other.goto(url)
    waiting = open_tab(other, "Generate", "generate")
    waiting.get_by_label("Prompt", exact=True).fill("Say hello.")
    waiting.get_by_label("Max new tokens", exact=True).fill("8")
    waiting.get_by_role("button", name="Generate", exact=True).click()
    other.wait_for_timeout(1500)  # queued behind the beam search
    assert "finished" not in waiting.locator("#generate-stats").inner_text()
    stopped = time.monotonic()
    beam.get_by_role("button", name="Stop", exact=True).click()
    waiting.locator("#generate-stats").filter(has_text="finished").wait_for(timeout=30_000)
    seconds = time.monotonic() - stopped
    assert waiting.get_by_label("Output", exact=True).input_value()
    assert seconds < 5.0, f"the waiting request finished {seconds:.1f} s after Stop"
    other.close()
    beam.get_by_label("greedy", exact=True).check()
    beam.get_by_label("Max new tokens", exact=True).fill("16")


def test_sixteen_users_generate_at_once_and_none_is_lost(page, server):
    """Four pages in the browser and twelve API clients (gradio_client, through the same queue) ask
    for a generation at once: every one finishes with its text. (Sixteen headless pages cost the
    browser about a core while idle, which is not what this test is about.)"""
    from gradio_client import Client

    url, _ = server
    pages, panels = [], []
    try:
        for user in range(4):
            other = page.context.new_page()
            other.goto(url, timeout=MODEL_TIMEOUT)
            panel = open_tab(other, "Generate", "generate", timeout=MODEL_TIMEOUT)
            panel.get_by_label("Prompt", exact=True).fill(f"Say the number {user}.")
            panel.get_by_label("Max new tokens", exact=True).fill("4")
            pages.append(other)
            panels.append(panel)
        client = Client(url, verbose=False)
        for panel in panels:
            panel.get_by_role("button", name="Generate", exact=True).click()
        jobs = [client.submit("smollm2-135m-instruct", "greedy", 0.8, 0, 0.95, 0.0, 1.0, 4, 0, 4, "",
                              f"Say the number {user}.", False, "none", "", api_name="/generate")
                for user in range(4, 16)]
        for panel in panels:
            panel.locator("#generate-stats").filter(has_text="finished").wait_for(timeout=4 * MODEL_TIMEOUT)
            assert panel.get_by_label("Output", exact=True).input_value()
            assert panel.locator(".llmpg-error").count() == 0
        for job in jobs:
            text, _tokens, stats, _model_input, status = job.result(timeout=4 * MODEL_TIMEOUT / 1000)
            assert text and "finished" in stats and "llmpg-error" not in (status or ""), (text, stats, status)
    finally:
        for other in pages:
            other.close()


def test_one_progress_indicator_while_generating(page):
    """Gradio draws its queue/progress indicator on one output only (it used to appear three times)."""
    panel = open_tab(page, "Generate", "generate")
    panel.get_by_label("Prompt", exact=True).fill("Write a poem about the sea.")
    panel.get_by_label("Max new tokens", exact=True).fill("40")
    panel.get_by_role("button", name="Generate", exact=True).click()
    counts = []
    for _ in range(20):
        counts.append(page.locator("#tab-generate .progress-text").count())
        page.wait_for_timeout(100)
    panel.get_by_role("button", name="Stop", exact=True).click()
    assert max(counts) <= 1, counts


def test_token_pieces_cover_exactly_the_bytes_of_the_text(page):
    """A byte-level token that holds part of an emoji is drawn as those bytes: the pieces of every
    tokenizer kind, read back from the page, spell the text's UTF-8 bytes exactly."""
    text = "ok 😀 12 naïve 日本語 e\u0301"
    panel = open_tab(page, "Tokenize", "tokenize")
    panel.get_by_label("Text", exact=True).fill(text)
    for name in ("smollm2-135m-instruct", "gemma3-270m", "minilm-l6", "cl100k_base"):
        box = panel.get_by_label(name, exact=True)
        if not box.is_checked():
            box.check()
    panel.get_by_role("button", name="Tokenize", exact=True).click()
    section = panel.locator('section[data-tokenizer="smollm2-135m-instruct"]')
    section.locator(".tok-spans").filter(has_text="12").wait_for(timeout=MODEL_TIMEOUT)  # the new text's result
    for name in ("smollm2-135m-instruct", "gemma3-270m", "minilm-l6", "cl100k_base", "gpt2"):
        pieces = panel.locator(f'section[data-tokenizer="{name}"] .tok-spans > span')
        data = "".join(pieces.nth(i).get_attribute("data-bytes") for i in range(pieces.count()))
        assert bytes.fromhex(data) == text.encode("utf-8"), name
    emoji_tokens = section.locator("span.tok")
    tips = [emoji_tokens.nth(i).get_attribute("data-tip") for i in range(emoji_tokens.count())]
    assert any("bytes 20 F0 9F 98" in tip for tip in tips) and any("bytes 80 " in tip for tip in tips)
    shoot(page, "1-tokenize-bytes")


def test_rag_ingest_search_and_ask_with_citations(page, tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n\nRun `make test` to run the whole test suite.\n\nRefunds take 30 days.\n")
    panel = open_tab(page, "RAG", "rag")
    panel.get_by_label("Or paths on this computer", exact=True).fill(str(guide))
    panel.get_by_role("button", name="Ingest", exact=True).click()
    panel.locator("#rag-ingest-report").filter(has_text="added").wait_for(timeout=MODEL_TIMEOUT)
    panel.get_by_label("Question", exact=True).fill("How do I run the tests?")
    panel.get_by_role("button", name="Search only", exact=True).click()
    panel.locator(".rag-doc mark").first.wait_for(timeout=MODEL_TIMEOUT)
    assert "make test" in panel.locator(".rag-doc mark").first.inner_text()
    panel.get_by_label("Max new tokens", exact=True).fill("16")
    panel.get_by_role("button", name="Ask", exact=True).click()
    panel.locator("#rag-answer").filter(has_text="Sources").wait_for(timeout=MODEL_TIMEOUT)
    assert "guide.md" in panel.locator("#rag-answer").inner_text()
    assert panel.locator(".llmpg-error").count() == 0
    shoot(page, "7-rag")


def test_every_tab_opens_without_a_console_error(page):
    for title, name in (("Tokenize", "tokenize"), ("Inspect", "inspect"), ("Next token", "next_token"),
                        ("Generate", "generate"), ("Compare", "compare"), ("Attention", "attention"),
                        ("Embeddings", "embeddings"), ("Block", "block"), ("Chat", "chat"), ("Prompt lab", "prompt_lab"),
                        ("Evaluate", "evaluate"), ("Fine-tune", "finetune"), ("RAG", "rag")):
        open_tab(page, title, name)
        page.wait_for_timeout(300)
    assert page.console_errors == []


def test_every_request_stays_on_the_local_server(page, server):
    url, _ = server
    hosts = {urlparse(request).hostname for request in page.requests if not request.startswith(("data:", "blob:"))}
    assert page.requests and hosts == {"127.0.0.1"}, sorted(set(page.requests))[:20]
