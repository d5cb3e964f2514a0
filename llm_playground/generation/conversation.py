"""A multi-turn chat that keeps every answer it ever gave: regenerate, edit a past turn, and branch
at any generated token (pick one of its alternatives, and the answer continues from there).

    session = ChatSession(system="Be brief.")
    session.ask("What is the capital of France?")
    run = session.reply_run("smollm2-135m-instruct", config)   # stream run.steps, then:
    session.finish(run, completion)
    run = session.branch_run("smollm2-135m-instruct", config, turn=0, token_index=5, token_id=12345)

Each user turn holds its replies (branches); one is active and is what later turns see. A branch made
at token i of a reply keeps that reply's first i tokens, puts the chosen token in place of token i,
and continues with the model. Faces only draw this and call it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation.api import BackendChoice, GenerationRun, choose_backend
from llm_playground.generation.backends import make_backend
from llm_playground.generation.chat import Message, prepare_prompt
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.generator import Step, generate_steps


@dataclass
class Reply:
    """One answer of the assistant (a branch)."""

    steps: list[Step] = field(default_factory=list)
    text: str = ""
    finish: str = ""
    """How it ended ("eos", "length", "stop", "stopped", or "length, output incomplete")."""
    model_input: str = ""
    """The exact templated text the model received (special tokens written out)."""
    branched_from: tuple[int, int] | None = None
    """(reply index, token index) this branch was made at; None for a first answer or a regeneration."""

    @property
    def token_ids(self) -> list[int]:
        return [step.id for step in self.steps]


@dataclass
class ChatTurn:
    user: str
    replies: list[Reply] = field(default_factory=list)
    active: int = 0
    """Which reply later turns see (and the page shows)."""

    @property
    def reply(self) -> Reply | None:
        return self.replies[self.active] if self.replies else None


@dataclass
class ChatSession:
    system: str | None = None
    turns: list[ChatTurn] = field(default_factory=list)

    def ask(self, text: str) -> ChatTurn:
        """A new user turn (the previous one must have an answer)."""
        if not text or not text.strip():
            raise PlaygroundError("the message is empty; type something to say")
        if self.turns and not self.turns[-1].replies:
            raise PlaygroundError("the last message has no answer yet; generate it (or edit it) first")
        turn = ChatTurn(user=text)
        self.turns.append(turn)
        return turn

    def edit(self, turn: int, text: str) -> ChatTurn:
        """Change a past user message: the turns after it are dropped, its answers too."""
        self._check_turn(turn)
        if not text or not text.strip():
            raise PlaygroundError("the edited message is empty; type the new text")
        del self.turns[turn + 1:]
        self.turns[turn] = ChatTurn(user=text)
        return self.turns[turn]

    def messages(self, turn: int) -> list[Message]:
        """The conversation the model sees when answering `turn`: the system prompt, earlier turns
        with their active replies, and this turn's user message."""
        self._check_turn(turn)
        messages = [Message("system", self.system)] if self.system else []
        for earlier in self.turns[:turn]:
            messages.append(Message("user", earlier.user))
            messages.append(Message("assistant", earlier.reply.text if earlier.reply else ""))
        messages.append(Message("user", self.turns[turn].user))
        return messages

    def reply_run(self, model: str, config: GenerationConfig, *, turn: int | None = None,
                  backend: BackendChoice = "auto") -> GenerationRun:
        """A fresh answer to `turn` (default: the last one); becomes a new branch when finished."""
        turn = len(self.turns) - 1 if turn is None else turn
        self._check_turn(turn)
        return continue_reply(model, self.messages(turn), [], config, backend=backend)

    def branch_run(self, model: str, config: GenerationConfig, *, turn: int, token_index: int, token_id: int,
                   backend: BackendChoice = "auto") -> tuple[GenerationRun, list[Step]]:
        """Continue the active reply of `turn` from its first `token_index` tokens plus `token_id` (one of
        the alternatives the model listed at that token).

        Returns the run (its steps come after the chosen token) and the steps kept before them: the
        prefix and the chosen token (with the alternatives of its position)."""
        self._check_turn(turn)
        spec = zoo.resolve(model)
        if spec.remote is not None:
            raise PlaygroundError(f"branching at a token is unavailable for remote model {spec.name}: continuing "
                                  "from a chosen token needs the model's tokenizer, which stays on the server; "
                                  "regenerate instead")
        reply = self.turns[turn].reply
        if reply is None or not 0 <= token_index < len(reply.steps):
            raise PlaygroundError(f"turn {turn + 1} has no generated token #{token_index}; click a token of an answer")
        original = reply.steps[token_index]
        alternative = next((a for a in original.top_before if a.id == int(token_id)), None)
        if alternative is None:
            raise PlaygroundError(f"token {token_id} is not one of the alternatives the model listed at #{token_index}")
        kept = [dataclasses.replace(step) for step in reply.steps[:token_index]]
        prefix = [step.id for step in kept] + [alternative.id]
        run = continue_reply(model, self.messages(turn), prefix, config, backend=backend)
        tokenizer = zoo.load_tokenizer(model)
        before = tokenizer.decode([s.id for s in kept], skip_special_tokens=False)
        text = tokenizer.decode(prefix, skip_special_tokens=False)[len(before):]
        logprob = math.log(alternative.prob) if alternative.prob > 0 else -math.inf
        chosen = Step(index=token_index, id=alternative.id, text=text, token=alternative.text, logprob=logprob,
                      raw_logprob=logprob, top_before=list(original.top_before), top_after=list(original.top_before))
        return run, kept + [chosen]

    def add_reply(self, turn: int, reply: Reply) -> None:
        """Record a finished (or stopped) answer as the turn's newest branch, and make it active."""
        self._check_turn(turn)
        self.turns[turn].replies.append(reply)
        self.turns[turn].active = len(self.turns[turn].replies) - 1

    def switch(self, turn: int, reply: int) -> None:
        """Show another branch of a turn (the turns after it keep their text: they were answered with
        the branch active then)."""
        self._check_turn(turn)
        if not 0 <= reply < len(self.turns[turn].replies):
            raise PlaygroundError(f"turn {turn + 1} has {len(self.turns[turn].replies)} answers; pick one of them")
        self.turns[turn].active = reply

    def _check_turn(self, turn: int) -> None:
        if not 0 <= turn < len(self.turns):
            raise PlaygroundError(f"there is no turn {turn + 1}; the conversation has {len(self.turns)}")


def make_reply(prefix: list[Step], steps: list[Step], *, finish: str, model_input: str,
               branched_from: tuple[int, int] | None = None) -> Reply:
    """A Reply from the kept steps of a branch (if any) and the steps generated after them (re-indexed)."""
    offset = len(prefix)
    for i, step in enumerate(steps):
        step.index = offset + i
    every = [*prefix, *steps]
    return Reply(steps=every, text="".join(step.text for step in every), finish=finish, model_input=model_input,
                 branched_from=branched_from)


def continue_reply(model: str, messages: list[Message], prefix_ids: list[int], config: GenerationConfig, *,
                   backend: BackendChoice = "auto") -> GenerationRun:
    """Generate the assistant's answer to `messages`, starting after the tokens `prefix_ids` (already
    part of the answer). With no prefix this is what `start_generation` does for a chat."""
    spec = zoo.resolve(model)
    if spec.kind != "chat":
        raise PlaygroundError(f"{spec.name} is a {spec.label} model without a chat template; chat with a chat "
                              "model such as smollm2-135m-instruct")
    if config.strategy == "beam":
        raise PlaygroundError("a chat streams its answer token by token; use greedy or sample (beam search finds "
                              "its best answer only at the end)")
    if spec.remote is not None:
        if prefix_ids:
            raise PlaygroundError(f"branching at a token is unavailable for remote model {spec.name}: it needs the "
                                  "model's tokenizer, which stays on the server")
        from llm_playground.generation.api import start_remote_generation

        return start_remote_generation(spec, messages, config, backend=backend)
    if prefix_ids and config.constraint is not None:
        raise PlaygroundError("branching at a token is not available with a constraint: the chosen token may "
                              "break it; clear the constraint")
    chosen = choose_backend(spec, backend, config.strategy)
    tokenizer = zoo.load_tokenizer(model)
    prepared = prepare_prompt(tokenizer, messages, chat=True)
    prepared.ids = prepared.ids + list(prefix_ids)
    if prefix_ids:
        prepared.text = prepared.text + tokenizer.decode(prefix_ids, skip_special_tokens=False)
    zoo.check_prompt_fits(spec, len(prepared.ids), config.max_new_tokens)
    engine = make_backend(model, chosen)
    steps = generate_steps(engine, tokenizer, prepared.ids, config, eos_ids=zoo.eos_token_ids(model))
    return GenerationRun(model=spec.name, backend=chosen, prompt=prepared, steps=steps, constraint=config.constraint)
