"""Chat: a multi-turn conversation that streams, stops, regenerates, edits a past turn, and branches.

Every answer token is coloured by its probability, with the model's alternatives on hover. Click a
token and pick one of its alternatives: the answer continues from there as a new branch; the old
one is kept and "Answers of this turn" switches back. The exact templated input of the last answer
is shown below. The conversation itself lives in `generation.conversation.ChatSession`.
"""
from __future__ import annotations

import gradio as gr

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig
from llm_playground.generation.conversation import ChatSession, Reply, make_reply
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, REMOTE_MODEL_INFO, RedrawPacer, escape,
                                      inline_errors,
                                      loading_note, message, messages, model_choices, prob_colour, probability_note,
                                      require_number)
from llm_playground.ui.tabs.generate import MAX_NEW_TOKENS, alternatives_text, optional_seed

TITLE = "Chat"

CLICK_JS = """
element.addEventListener('click', (event) => {
  const token = event.target.closest('.chat-tok');
  if (token) trigger('click', {turn: Number(token.dataset.turn), index: Number(token.dataset.index)});
});
"""


def chat_config(strategy: str, temperature, max_new_tokens, seed) -> GenerationConfig:
    if strategy not in ("greedy", "sample"):
        raise PlaygroundError("choose greedy or sample")
    max_new_tokens = require_number(max_new_tokens, "Max new tokens", integer=True)
    if max_new_tokens > MAX_NEW_TOKENS:
        raise PlaygroundError(f"Max new tokens is {max_new_tokens}; the playground allows at most {MAX_NEW_TOKENS}")
    if strategy == "greedy":
        return GenerationConfig(max_new_tokens=max_new_tokens)
    return GenerationConfig(strategy="sample", temperature=require_number(temperature, "Temperature"),
                            max_new_tokens=max_new_tokens, seed=optional_seed(seed))


def reply_html(turn: int, reply: Reply) -> str:
    spans = []
    for step in reply.steps:
        shown = step.text or step.token
        extra = "" if step.text else " tok-special"
        spans.append(f'<span class="gen-tok chat-tok{extra}" data-turn="{turn}" data-index="{step.index}" '
                     f'style="background:{prob_colour(step.prob)}" data-prob="{f"{step.prob:.4f}" if step.has_logprob else ""}" '
                     f'data-tip="{escape(alternatives_text(step))}">{escape(shown)}</span>')
    return "".join(spans)


def conversation_html(session: ChatSession, streaming: Reply | None = None) -> str:
    """The conversation: user messages, and each answer as clickable tokens (the active branch)."""
    parts = []
    for index, turn in enumerate(session.turns):
        parts.append(f'<div class="chat-msg chat-user" data-turn="{index}"><b>you · turn {index + 1}</b>'
                     f'<div>{escape(turn.user)}</div></div>')
        reply = streaming if streaming is not None and index == len(session.turns) - 1 else turn.reply
        if reply is None:
            continue
        label = f"assistant · answer {turn.active + 1} of {len(turn.replies)}" if len(turn.replies) > 1 else "assistant"
        if reply is streaming:
            label = "assistant · writing…"
        elif reply.branched_from is not None:
            label += f" · branched at token {reply.branched_from[1]}"
        finish = f'<div class="chat-finish">finished: {escape(reply.finish)}</div>' if reply.finish else ""
        parts.append(f'<div class="chat-msg chat-assistant" data-turn="{index}"><b>{escape(label)}</b>'
                     f'<div class="gen-tokens">{reply_html(index, reply)}</div>{finish}</div>')
    if not parts:
        return '<div class="chat-empty">Say something to start. Click any word of an answer to branch there.</div>'
    return "".join(parts)


def _check_model(model: str) -> None:
    if not model:
        raise PlaygroundError("choose a model")
    spec = zoo.resolve(model)
    if spec.kind != "chat":
        raise PlaygroundError(f"{spec.name} is a {spec.label} model without a chat template; pick a chat model")


def _stream(session: ChatSession, turn: int, run, prefix, branched_from, status_notes=()):
    """Stream a run into a new reply of `turn`, yielding (html, session, model input, status)."""
    reply = Reply(model_input=run.prompt.text, branched_from=branched_from)
    session.add_reply(turn, reply)  # kept as it grows: Stop leaves the partial answer in place
    reply.steps = list(prefix)
    yield conversation_html(session), session, run.prompt.text, messages(*status_notes, ("generating…", "busy"))
    generated, pacer = [], RedrawPacer()
    for step in run.steps:
        generated.append(step)
        finished = make_reply(list(prefix), list(generated), finish="", model_input=run.prompt.text,
                              branched_from=branched_from)
        reply.steps, reply.text = finished.steps, finished.text
        if step.finish_reason:
            reply.finish = "length, output incomplete" if step.incomplete else step.finish_reason
        if step.finish_reason:
            pacer.due(final=True)
            note = probability_note(reply.steps)  # a remote server without logprobs: say so
            yield conversation_html(session), session, gr.skip(), messages(*status_notes, (note, "info"))
        elif pacer.due():
            yield conversation_html(session), session, gr.skip(), gr.skip()
    if pacer.pending:  # stopped between two redraws: show what was made
        yield conversation_html(session), session, gr.skip(), gr.skip()


def _settings(model, strategy, temperature, max_new_tokens, seed):
    _check_model(model)
    return chat_config(strategy, temperature, max_new_tokens, seed)


def _notes(model: str):
    note = loading_note([model])
    return [(note, "busy")] if note else []


@inline_errors(4)
def send(model, strategy, temperature, max_new_tokens, seed, system, text, session: ChatSession | None):
    """Handler: a new user message and its streamed answer → (conversation, session, model input, status)."""
    config = _settings(model, strategy, temperature, max_new_tokens, seed)
    session = session or ChatSession()
    session.system = (system or "").strip() or None
    session.ask(text or "")
    turn = len(session.turns) - 1
    try:
        run = session.reply_run(model, config, turn=turn)
    except PlaygroundError:
        session.turns.pop()  # the message is not kept when it cannot be answered
        raise
    yield from _stream(session, turn, run, [], None, _notes(model))


@inline_errors(4)
def regenerate(model, strategy, temperature, max_new_tokens, seed, system, session: ChatSession | None):
    """Handler: another answer to the last message (kept as a new branch)."""
    config = _settings(model, strategy, temperature, max_new_tokens, seed)
    if not session or not session.turns:
        raise PlaygroundError("there is nothing to regenerate yet; send a message first")
    session.system = (system or "").strip() or None
    turn = len(session.turns) - 1
    yield from _stream(session, turn, session.reply_run(model, config, turn=turn), [], None)


@inline_errors(4)
def edit(model, strategy, temperature, max_new_tokens, seed, system, turn_number, text, session: ChatSession | None):
    """Handler: replace a past user message (the turns after it go) and answer it again."""
    config = _settings(model, strategy, temperature, max_new_tokens, seed)
    if not session or not session.turns:
        raise PlaygroundError("there is no message to edit yet; send one first")
    turn = require_number(turn_number, "Turn to edit", integer=True) - 1
    session.system = (system or "").strip() or None
    session.edit(turn, text or "")
    yield from _stream(session, turn, session.reply_run(model, config, turn=turn), [], None)


@inline_errors(4)
def select_token(session: ChatSession | None, event: gr.EventData):
    """Handler of a click on a token → (alternatives radio, answers radio, selection, status)."""
    data = getattr(event, "_data", None) or {}
    turn, index = int(data.get("turn", -1)), int(data.get("index", -1))
    return token_choices(session, turn, index)


def token_choices(session: ChatSession | None, turn: int, index: int):
    """(alternatives radio, answers-of-the-turn radio, selection, status) for token `index` of `turn`."""
    if not session or not 0 <= turn < len(session.turns) or session.turns[turn].reply is None:
        raise PlaygroundError("click a token of an answer")
    reply = session.turns[turn].reply
    if not 0 <= index < len(reply.steps):
        raise PlaygroundError("click a token of an answer")
    step = reply.steps[index]
    choices = [(f"{a.text!r}  p = {a.prob:.3f}" + ("  (chosen)" if a.id == step.id else ""), a.id)
               for a in step.top_before]
    answers = [(f"answer {i + 1}" + (f" (branched at token {r.branched_from[1]})" if r.branched_from else ""), i)
               for i, r in enumerate(session.turns[turn].replies)]
    return (gr.update(choices=choices, value=None, label=f"Alternatives at token {index} of turn {turn + 1}",
                      visible=True),
            gr.update(choices=answers, value=session.turns[turn].active, visible=len(answers) > 1),
            {"turn": turn, "index": index},
            message(f"turn {turn + 1}, token {index}: {step.token!r} (p = {step.prob:.3f}). Pick an alternative "
                    "and press Continue from here.", "info"))


@inline_errors(4)
def branch(model, strategy, temperature, max_new_tokens, seed, system, selection, alternative,
           session: ChatSession | None):
    """Handler: continue the selected answer from the selected token, with the picked alternative."""
    config = _settings(model, strategy, temperature, max_new_tokens, seed)
    if not selection or alternative is None or alternative == "":
        raise PlaygroundError("click a token of an answer, then pick one of its alternatives")
    turn, index = int(selection["turn"]), int(selection["index"])
    session.system = (system or "").strip() or None
    run, kept = session.branch_run(model, config, turn=turn, token_index=index, token_id=int(alternative))
    branched_from = (session.turns[turn].active, index)
    yield from _stream(session, turn, run, kept, branched_from)


@inline_errors(2)
def switch(session: ChatSession | None, selection, answer):
    """Handler: show another answer (branch) of the selected turn → (conversation, status)."""
    if not session or not selection or answer is None:
        raise PlaygroundError("click a token of the turn whose answers you want to switch")
    session.switch(int(selection["turn"]), int(answer))
    return conversation_html(session), ""


def clear():
    return conversation_html(ChatSession()), ChatSession(), "", "", gr.update(visible=False), gr.update(visible=False)


def stopped(session: ChatSession | None):
    """Stop: the partial answer stays, marked as stopped."""
    if session and session.turns and session.turns[-1].reply and not session.turns[-1].reply.finish:
        session.turns[-1].reply.finish = "stopped"
    return (conversation_html(session) if session else gr.skip()), message("stopped: the answer so far is kept", "info")


def build() -> None:
    session = gr.State(None)
    selection = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            model = gr.Dropdown(model_choices(("chat",)), value=DEFAULT_CHAT_MODEL, label="Model",
                                allow_custom_value=True, info=REMOTE_MODEL_INFO)
            strategy = gr.Radio(["greedy", "sample"], value="greedy", label="Strategy")
            with gr.Row():
                temperature = gr.Number(label="Temperature", value=0.8, info="sample", min_width=90)
                seed = gr.Number(label="Seed", value=None, precision=None, info="empty = random", min_width=90)
            max_new_tokens = gr.Number(label="Max new tokens", value=128, precision=None, info=f"1–{MAX_NEW_TOKENS}")
            system = gr.Textbox(label="System prompt", placeholder="(optional)", lines=2)
            with gr.Accordion("Edit a past message", open=False):
                edit_turn = gr.Number(label="Turn to edit", value=1, precision=None)
                edit_text = gr.Textbox(label="New text", lines=2)
                edit_button = gr.Button("Save and answer again")
        with gr.Column(scale=2):
            conversation = gr.HTML(conversation_html(ChatSession()), js_on_load=CLICK_JS, elem_id="chat-conversation")
            text = gr.Textbox(label="Message", placeholder="Type a message and press Enter", lines=2)
            with gr.Row():
                send_button = gr.Button("Send", variant="primary")
                stop = gr.Button("Stop", variant="stop")
                regenerate_button = gr.Button("Regenerate")
                clear_button = gr.Button("Clear")
            status = gr.HTML(elem_id="chat-status")
            alternatives = gr.Radio([], label="Alternatives", visible=False, elem_id="chat-alternatives")
            continue_button = gr.Button("Continue from here")
            answers = gr.Radio([], label="Answers of this turn", visible=False, elem_id="chat-answers")
            with gr.Accordion("Exact model input of the last answer (chat template applied)", open=False):
                model_input = gr.Textbox(label="Model input", lines=6, interactive=False, buttons=["copy"],
                                         elem_id="chat-model-input")
    knobs = [model, strategy, temperature, max_new_tokens, seed, system]
    outputs = [conversation, session, model_input, status]
    sending = send_button.click(send, [*knobs, text, session], outputs, concurrency_id=MODEL_CONCURRENCY, api_name="chat")
    sending.then(lambda: "", None, text)
    submitting = text.submit(send, [*knobs, text, session], outputs, concurrency_id=MODEL_CONCURRENCY)
    submitting.then(lambda: "", None, text)
    regenerating = regenerate_button.click(regenerate, [*knobs, session], outputs, concurrency_id=MODEL_CONCURRENCY)
    editing = edit_button.click(edit, [*knobs, edit_turn, edit_text, session], outputs, concurrency_id=MODEL_CONCURRENCY)
    branching = continue_button.click(branch, [*knobs, selection, alternatives, session], outputs,
                                      concurrency_id=MODEL_CONCURRENCY)
    conversation.click(select_token, [session], [alternatives, answers, selection, status])
    answers.input(switch, [session, selection, answers], [conversation, status])
    stop.click(stopped, [session], [conversation, status], cancels=[sending, submitting, regenerating, editing, branching],
               queue=False)
    clear_button.click(clear, None, [conversation, session, model_input, status, alternatives, answers])
