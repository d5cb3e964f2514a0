"""`llmpg` commands that look inside a model: next-token tables, the block walk, and more."""
from __future__ import annotations

from typing import Literal

from llm_playground.cli.render import dim, print_json, table, visible


def next_token(*, model: str = "smollm2-135m-instruct", prompt: str, top_k: int = 10,
               backend: Literal["native", "hf"] = "native", json: bool = False, allow_special: bool = False) -> int:
    """The top-K next tokens after a prompt, with logit, probability and cumulative probability.

    The prompt is sent as raw text (no chat template). `--backend native` runs our own transformer,
    `--backend hf` runs transformers' model: the two tables agree.

    Args:
        model: a zoo model (llmpg models) or a local model folder.
        prompt: the text whose next token to predict, e.g. "Hello my name".
        top_k: how many candidates to list (1–200).
        backend: native (our engine) or hf (transformers).
        json: print the table as JSON.
        allow_special: text that spells a special token (<bos>) becomes that control token; by default it stays plain text.
    """
    from llm_playground.inspection.next_token import next_token_table

    result = next_token_table(model, prompt, top_k, backend, allow_special=allow_special)
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

    if plot:
        from llm_playground.checks import png_path

        png_path(plot, "residual.png")  # a bad path fails now, not after the model ran
    walk = block_walk(model, prompt)
    written = plot_residual_norms(walk, plot) if plot else None
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
    if written:
        print(dim(f"plot saved to {written}"))
    return 0


def inspect(*, model: str | None = None, config: str | None = None, n_layer: int | None = None,
            d_model: int | None = None, n_head: int | None = None, n_kv_head: int | None = None,
            head_dim: int | None = None, d_ff: int | None = None, vocab_size: int | None = None,
            context_length: int | None = None, mlp: Literal["swiglu", "geglu", "gelu"] | None = None,
            norm: Literal["rmsnorm", "layernorm"] | None = None,
            position: Literal["rope", "learned"] | None = None, bias: bool | None = None,
            tied_embeddings: bool | None = None, depth: int | None = None, json: bool = False) -> int:
    """Look inside a model: module tree, parameters per kind, memory (fp32/bf16/int8/int4, KV cache,
    training) and FLOPs per token.

    Either a real model (--model NAME), or a model known only by its dimensions: a preset
    (--config llama2-7b) and/or the numbers themselves, e.g.
    llmpg inspect --n-layer 32 --d-model 4096 --n-head 32 --d-ff 11008 --vocab-size 32000
    (dimension flags given with a preset replace the preset's values).

    Args:
        model: a zoo model (llmpg models) or a local model folder to load and inspect.
        config: size a model from its dimensions: a preset (gpt2, gpt2-xl, smollm2-135m, gemma3-270m,
            minilm-l6, llama2-7b, llama2-70b, llama3-8b) or "custom" (the dimension flags alone).
        n_layer: number of transformer blocks.
        d_model: width of the residual stream (hidden size).
        n_head: query heads per attention layer.
        n_kv_head: key/value heads (grouped-query attention); default n_head.
        head_dim: width of one head; default d_model / n_head.
        d_ff: hidden width of the MLP; default 4 × d_model.
        vocab_size: number of token ids.
        context_length: context in tokens (sizes the KV cache); default 2048 or the preset's.
        mlp: swiglu / geglu (three matrices) or gelu (two); default swiglu.
        norm: rmsnorm or layernorm; default rmsnorm.
        position: rope (no parameters) or learned (a context_length × d_model table); default rope.
        bias: the attention and MLP linear layers have biases (GPT-2, BERT).
        tied_embeddings: the output head reuses the embedding matrix (counted once).
        depth: show the module tree only this many levels deep.
        json: print the report as JSON.
    """
    from llm_playground.errors import PlaygroundError
    from llm_playground.inspection.counts import check_depth, format_inspection, inspect_zoo_model
    from llm_playground.inspection.sizing import format_sizing, resolve_dimensions, size_model

    dimensions = dict(n_layer=n_layer, d_model=d_model, n_head=n_head, n_kv_head=n_kv_head, head_dim=head_dim,
                      d_ff=d_ff, vocab_size=vocab_size, context_length=context_length, mlp=mlp, norm=norm,
                      position=position, bias=bias, tied_embeddings=tied_embeddings)
    check_depth(depth)
    if model and (config or any(value is not None for value in dimensions.values())):
        raise PlaygroundError("give either --model NAME or a model's dimensions (--config / --n-layer …), not both")
    if model:
        report = inspect_zoo_model(model)
        print_json(report) if json else print(format_inspection(report, depth))
        return 0
    sizing = size_model(resolve_dimensions(config, **dimensions))
    print_json(sizing) if json else print(format_sizing(sizing))
    return 0


def attention(*, model: str = "smollm2-135m-instruct", prompt: str, layer: int = 0, head: int | None = None,
              out: str | None = None, json: bool = False) -> int:
    """Attention maps: how much each token looks at every other token, in one layer.

    Saves a heat map (one head, or a grid of all heads of the layer) with the tokens on both axes.
    A decoder (smollm2-135m-instruct) only looks back; the encoder (minilm-l6) looks both ways.

    Args:
        model: a zoo model, e.g. smollm2-135m-instruct (causal) or minilm-l6 (bidirectional).
        prompt: the text to look at (keep it short: a few dozen tokens stay readable).
        layer: which layer, from 0; -1 is the last.
        head: one head (from 0); all heads of the layer when left out.
        out: save the heat map as a PNG here.
        json: print tokens and weights as JSON ([heads][query][key], or [query][key] for one head).
    """
    from llm_playground.inspection.attention_maps import format_strongest_links, plot_attention, zoo_attention_maps

    if out:
        from llm_playground.checks import png_path

        png_path(out, "attention.png")  # a bad path fails now, not after the model ran
    maps = zoo_attention_maps(model, prompt, layer=layer, head=head)
    written = plot_attention(maps, out, head=head) if out else None
    if json:
        print_json(maps.to_dict(head=head))
        return 0
    print(format_strongest_links(maps, head))
    print(dim(f"heat map saved to {written}" if written else "add --out FILE.png for the heat map"))
    return 0


def moe_demo(*, steps: int = 300, experts: int = 8, top_k: int = 2, aux_weight: float = 0.05, seed: int = 0,
             out: str = "moe-load.png", json: bool = False) -> int:
    """Train a tiny mixture-of-experts model twice, without and with the load-balancing loss, and
    compare how evenly the experts are used (coefficient of variation of tokens per expert).

    Args:
        steps: training steps per run.
        experts: number of experts.
        top_k: experts per token.
        aux_weight: weight of the Switch Transformer balancing loss in the second run.
        seed: seed for weights and data.
        out: save the bar chart of tokens per expert here.
        json: print the loads and CVs as JSON.
    """
    from llm_playground.inspection.moe_demo import MoEDemoConfig, format_moe_demo, plot_moe_demo, run_moe_demo

    config = MoEDemoConfig(steps=steps, n_experts=experts, top_k=top_k, aux_loss_weight=aux_weight, seed=seed)
    result = run_moe_demo(config, progress=not json)
    out = plot_moe_demo(result, out)
    if json:
        print_json(result)
        return 0
    print(format_moe_demo(result))
    print(dim(f"CV of expert load: {result['cv_without_balancing']:.2f} without the balancing loss → "
              f"{result['cv_with_balancing']:.2f} with it; chart saved to {out}"))
    return 0


COMMANDS: dict = {
    "next-token": next_token,
    "block": block,
    "inspect": inspect,
    "attention": attention,
    "moe-demo": moe_demo,
}
