"""`llmpg generate` and `llmpg chat`: stream tokens to the terminal as the generator yields them."""
from __future__ import annotations

import sys

from llm_playground import zoo
from llm_playground.cli.render import dim, print_json, probability_colour, visible
from llm_playground.generation import Completion, GenerationConfig, Message, start_generation
from llm_playground.generation.api import BackendChoice, GenerationRun
from llm_playground.structured import Constraint


def _notice(model: str) -> None:
    notice = zoo.licence_notice(zoo.resolve(model))
    if notice:
        print(dim(notice), file=sys.stderr)


def _stream(run: GenerationRun, *, show_probs: bool, echo: bool = True) -> Completion:
    """Print each step's text as it arrives; Ctrl-C stops cleanly with what was generated so far."""
    completion = Completion.of(run)
    try:
        for step in run.steps:
            completion.add(step)
            if echo:
                coloured = show_probs and step.has_logprob  # a remote piece without logprobs stays plain
                print(probability_colour(step.text, step.prob) if coloured else step.text, end="", flush=True)
    except KeyboardInterrupt:
        completion.finish_reason = "interrupted"
        if echo:
            print(dim("  [stopped]"), end="")
    if echo:
        print()
    return completion


def _print_probability_table(completion: Completion) -> None:
    if completion.probability_note:  # a remote server without logprobs: say so, draw no zeros
        print(dim(f"note: {completion.probability_note}"), file=sys.stderr)
        return
    masked = completion.constraint is not None
    print(dim("\n#    token            p(after)  p(model)" + ("  masked" if masked else "")
              + "  top alternatives before → after processors"))
    for step in completion.steps:
        before = ", ".join(f"{visible(a.text)!s} {a.prob:.2f}" for a in step.top_before[:3])
        after = ", ".join(f"{visible(a.text)!s} {a.prob:.2f}" for a in step.top_after[:3])
        token = probability_colour(f"{visible(step.token):<16}", step.prob)
        removed = f"  {step.masked_mass:>6.3f}" if masked and step.masked_mass is not None else ""
        print(f"{step.index:<4} {token} {step.prob:>8.3f}  {2.718281828 ** step.raw_logprob:>8.3f}{removed}  "
              f"{before}  →  {after}")


def generate(*, model: str = "smollm2-135m-instruct", prompt: str, config: GenerationConfig,
             system: str | None = None, raw: bool = False, backend: BackendChoice = "auto",
             json_schema: str | None = None, json_object: bool = False, regex: str | None = None,
             grammar: str | None = None, choices: str | None = None,
             show_probs: bool = False, json: bool = False, allow_special: bool = False) -> int:
    """Generate text from a prompt, streaming tokens as they are produced.

    Chat models get their chat template (use --raw to send the text as-is); base models continue
    the text. Ctrl-C stops and keeps what was generated.

    Args:
        model: a zoo model (llmpg models), a local model folder, a hub id in the local cache, or a remote model: openai:gpt-4o-mini, anthropic:claude-haiku-4-5, openai@http://127.0.0.1:8000/v1:NAME (any OpenAI-compatible server), anthropic@http://127.0.0.1:8000:NAME; keys from OPENAI_API_KEY / ANTHROPIC_API_KEY (docs/remote-backends.md).
        prompt: the text to start from.
        system: system prompt (chat models).
        raw: send the prompt as-is, without the chat template.
        backend: auto (the fast fp32 engine where its kernels build, else our readable engine, else transformers), native (the readable engine), hf, fast (our fast decoder, same text as native), or fast-bf16 / fast-int8 / fast-int4 (reduced-precision weights: faster, text may differ).
        json_schema: constrain the output to this JSON schema: inline JSON or the path of a .json file.
        json_object: constrain the output to any JSON object.
        regex: constrain the output to match this regular expression (\\d means [0-9]).
        grammar: constrain the output to this grammar: GBNF/EBNF as llama.cpp writes it (root ::= ...) or Lark; text or a file.
        choices: constrain the output to one of these comma-separated strings, e.g. positive,negative,neutral.
        show_probs: colour each token by its probability and list its top alternatives (and, with a constraint, the probability it masked).
        json: print one JSON object at the end instead of streaming (with a JSON constraint it holds the parsed value).
        allow_special: text that spells a special token (<|im_end|>, <bos>) becomes that control token; by default it stays plain text.
    """
    constraint = Constraint.from_options(json_schema=json_schema, json_object=json_object, regex=regex,
                                         grammar=grammar, choices=choices)
    if constraint is not None:
        config = config.replace(constraint=constraint)
    _notice(model)
    run = start_generation(model, prompt, config, system=system, raw=raw, backend=backend,
                           allow_special=allow_special)
    if run.prompt.special_text_as_text:
        print(dim(f"note: {', '.join(run.prompt.special_text_as_text)} in the prompt sent as plain text "
                  "(--allow-special sends control tokens)"), file=sys.stderr)
    completion = _stream(run, show_probs=show_probs, echo=not json)
    if json:
        print_json(completion.to_dict())
        return 0
    if show_probs:
        _print_probability_table(completion)
    engine = f"{run.backend} backend" if run.remote is None else f"remote: {run.remote.target.base_url}"
    print(dim(f"[{completion.token_count} tokens, {completion.tokens_per_second:.1f} tok/s, "
              f"first token {completion.time_to_first_token * 1000:.0f} ms, finished: {completion.finish_text}, "
              f"{engine}]"), file=sys.stderr)
    return 130 if completion.finish_reason == "interrupted" else 0


def chat(*, model: str = "smollm2-135m-instruct", config: GenerationConfig, system: str | None = None,
         backend: BackendChoice = "auto", show_probs: bool = False, allow_special: bool = False) -> int:
    """Talk with a chat model: multi-turn, with its chat template and the whole history.

    Type a message and press Enter. Commands: /reset clears the history, /exit (or Ctrl-D) quits.
    Ctrl-C stops the current answer.

    Args:
        model: a chat model (llmpg models), or a remote one: openai:NAME, anthropic:NAME, openai@URL:NAME, anthropic@URL:NAME.
        system: system prompt for the whole conversation.
        backend: auto, native, hf, fast, or fast-bf16 / fast-int8 / fast-int4 (reduced precision).
        show_probs: colour each token by its probability.
        allow_special: text that spells a special token (<|im_end|>) becomes that control token; by default it stays plain text, so a message cannot end its own turn.
    """
    spec = zoo.resolve(model)
    if spec.kind != "chat":
        from llm_playground.errors import PlaygroundError
        raise PlaygroundError(f"{spec.name} is a {spec.label} model without a chat template; "
                              f"use llmpg generate --model {spec.name}, or chat with smollm2-135m-instruct")
    _notice(model)
    print(dim(f"chatting with {spec.name} ({spec.description}). /reset clears the history, /exit quits."),
          file=sys.stderr)
    history: list[Message] = [Message("system", system)] if system else []
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("you> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        command = line.strip()
        if command in ("/exit", "/quit"):
            return 0
        if command == "/reset":
            history = history[:1] if system else []
            print(dim("history cleared"))
            continue
        if command.startswith("/") and not command.startswith("//"):
            print(dim(f"unknown command {command.split()[0]}; commands: /reset, /exit "
                      "(start a message with // to send one that begins with /)"), file=sys.stderr)
            continue
        if not command:
            continue
        history.append(Message("user", line[1:] if command.startswith("//") else line))
        run = start_generation(spec, history, config, backend=backend, allow_special=allow_special)
        if interactive:
            print("assistant> ", end="", flush=True)
        completion = _stream(run, show_probs=show_probs)
        history.append(Message("assistant", completion.text))


def compare(*, models: str = "gemma3-270m,smollm2-135m-instruct", strategies: str = "greedy,top_p", prompt: str,
            config: GenerationConfig, system: str | None = None, json: bool = False) -> int:
    """The same prompt through every model × strategy, side by side, with the exact model input.

    The completion-vs-instruction-tuned lesson: a base model continues your text, a chat model
    answers it, because its chat template wraps the text in special tokens (shown here).
    Strategies: greedy, sample, top_k, top_p, min_p, beam (sampling ones use --seed, default 0).

    Args:
        models: comma-separated model names (remote ones too: openai@http://127.0.0.1:8000/v1:NAME).
        strategies: comma-separated strategy names.
        prompt: the prompt every cell receives.
        system: system prompt for chat models.
        json: print JSON.
    """
    from llm_playground.generation.compare import compare_runs

    names = [m.strip() for m in models.split(",") if m.strip()]
    for name in names:
        _notice(name)
    cells = compare_runs(names, [s.strip() for s in strategies.split(",") if s.strip()], prompt, config,
                         system=system)
    results = []
    for cell in cells:
        if not json:
            print(f"\n══ {cell.model} × {cell.strategy} " + "═" * 20)
            print(dim("model input: ") + dim(cell.run.prompt.text.replace("\n", "↵\n")))
            print(dim("output:"))
        completion = _stream(cell.run, show_probs=False, echo=not json)
        results.append({"model": cell.model, "strategy": cell.strategy, **completion.to_dict()})
    if json:
        print_json(results)
    return 0


COMMANDS = {"generate": generate, "chat": chat, "compare": compare}
