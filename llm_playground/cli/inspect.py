"""`llmpg` commands that look inside a model: next-token tables, the block walk, and more."""
from __future__ import annotations

from typing import Literal

from llm_playground.cli.render import dim, print_json, table, visible


def next_token(*, model: str = "smollm2-135m-instruct", prompt: str, top_k: int = 10,
               backend: Literal["native", "hf"] = "native", json: bool = False) -> int:
    """The top-K next tokens after a prompt, with logit, probability and cumulative probability.

    The prompt is sent as raw text (no chat template). `--backend native` runs our own transformer,
    `--backend hf` runs transformers' model: the two tables agree.

    Args:
        model: a zoo model (llmpg models) or a local model folder.
        prompt: the text whose next token to predict, e.g. "Hello my name".
        top_k: how many candidates to list.
        backend: native (our engine) or hf (transformers).
        json: print the table as JSON.
    """
    from llm_playground.inspection.next_token import next_token_table

    result = next_token_table(model, prompt, top_k, backend)
    if json:
        print_json(result.to_dict())
        return 0
    rows = [{"rank": r.rank, "id": r.id, "token": repr(r.token), "logit": f"{r.logit:.3f}",
             "prob": f"{r.prob:.4f}", "cumulative": f"{r.cumulative_prob:.4f}"} for r in result.rows]
    print(dim(f"{result.model} ({result.backend}), {len(result.prompt_ids)} prompt tokens: {visible(prompt)}"))
    print(table(rows, ["rank", "id", "token", "logit", "prob", "cumulative"]))
    return 0


def block(*, model: str = "smollm2-135m-instruct", prompt: str, plot: str | None = None, json: bool = False) -> int:
    """Run the embeddings and the first block by hand, showing the shape at every step, then the
    residual stream's norm through all the layers (our engine).

    Args:
        model: a zoo model with a GPT-2 or Llama architecture, or a local model folder.
        prompt: the text to push through the model.
        plot: also save a PNG of the residual norm per layer to this path.
        json: print everything as JSON.
    """
    from llm_playground.inspection.block_walk import block_walk, plot_residual_norms

    walk = block_walk(model, prompt)
    if plot:
        plot_residual_norms(walk, plot)
    if json:
        print_json(walk.to_dict())
        return 0
    c = walk.config
    print(dim(f"{walk.model}: {c['n_layer']} layers, C={c['n_embd']}, nh={c['n_head']}, nkv={c['n_kv_head']}, "
              f"hs={c['head_dim']}, I={c['intermediate_size']}, V={c['vocab_size']}; "
              f"B=1, T={len(walk.ids)}: {' | '.join(visible(t) for t in walk.tokens)}"))
    print("\nEmbeddings and block 0, step by step")
    rows = [{"step": s.name, "shape": "(" + ", ".join(map(str, s.shape)) + ")", "dims": s.dims,
             "rms": f"{s.rms:.4f}" if s.rms else "", "note": s.note} for s in walk.steps]
    print(table(rows, ["step", "shape", "dims", "rms", "note"]))
    print(dim(f"hand walk vs model.blocks[0]: max |difference| = {walk.max_abs_diff_vs_block:.2e}"))
    print("\nResidual stream: L2 norm of each token's vector")
    rows = [{"after": r.label, "mean": f"{r.mean_norm:.2f}", "first token": f"{r.first_norm:.2f}",
             "last token": f"{r.last_norm:.2f}"} for r in walk.residual]
    print(table(rows, ["after", "mean", "first token", "last token"]))
    if plot:
        print(dim(f"plot saved to {plot}"))
    return 0


COMMANDS: dict = {
    "next-token": next_token,
    "block": block,
}
