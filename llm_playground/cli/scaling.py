"""`llmpg scaling …`: Kaplan and Chinchilla scaling laws, compute-optimal allocation, plots."""
from __future__ import annotations

import json as _json


def optimal(*, params: str | None = None, flops: str | None = None, json: bool = False) -> int:
    """Compute-optimal parameters and tokens for a model size or a FLOP budget.

    Prints every approach: Chinchilla Approach 1 (the paper's Table 3, ≈20 tokens/param) first,
    then the 20-tokens rule, Chinchilla Approach 3 (parametric fit) and Kaplan et al. 2020.

    Args:
        params: model size, e.g. 1B, 70B, 175e9 (give this or --flops)
        flops: training compute budget in FLOPs, e.g. 5.76e23 (give this or --params)
        json: print machine-readable JSON
    """
    from llm_playground.errors import PlaygroundError
    from llm_playground.scaling import all_allocations, allocation_table, format_count, format_flops, parse_quantity

    if (params is None) == (flops is None):
        raise PlaygroundError("give exactly one of --params N (e.g. 7B) or --flops C (e.g. 1e23)")
    n = parse_quantity(params, what="--params") if params is not None else None
    c = parse_quantity(flops, what="--flops") if flops is not None else None
    allocations = all_allocations(params=n, flops=c)
    if json:
        print(_json.dumps({"params": n, "flops": c, "allocations": [a.to_dict() for a in allocations]}, indent=2))
        return 0
    given = f"a {format_count(n)}-parameter model" if n is not None else f"a budget of {format_flops(c)} FLOPs"
    print(f"Compute-optimal training for {given} (C = 6ND; loss from Chinchilla's L(N, D), nats/token):")
    print(allocation_table(allocations))
    return 0


def check(*, params: str, tokens: str, json: bool = False) -> int:
    """How far a model trained on N parameters × D tokens is from compute-optimal.

    Example: llmpg scaling check --params 175B --tokens 300B   (GPT-3)

    Args:
        params: the model's parameter count, e.g. 175B
        tokens: the tokens it was trained on, e.g. 300B
        json: print machine-readable JSON
    """
    from llm_playground.scaling import check_model, parse_quantity

    result = check_model(parse_quantity(params, what="--params"), parse_quantity(tokens, what="--tokens"))
    print(_json.dumps(result.to_dict(), indent=2) if json else result.summary())
    return 0


def table(*, json: bool = False) -> int:
    """The Chinchilla paper's Table 3 next to this calculator's Approach 1 numbers.

    Args:
        json: print machine-readable JSON
    """
    from llm_playground.scaling import CHINCHILLA_TABLE_3, format_count, format_flops, optimal_allocation

    rows = [(row, optimal_allocation(params=row.params)) for row in CHINCHILLA_TABLE_3]
    if json:
        print(_json.dumps([{"params": r.params, "paper_flops": r.flops, "paper_tokens": r.tokens,
                            "flops": a.flops, "tokens": a.tokens} for r, a in rows], indent=2))
        return 0
    print("Hoffmann et al. 2022, Table 3 (Approach 1) vs this calculator:")
    print(f"{'params':>8} {'paper FLOPs':>12} {'ours':>10} {'paper tokens':>13} {'ours':>8} {'diff':>7}")
    for row, ours in rows:
        print(f"{format_count(row.params):>8} {format_flops(row.flops):>12} {format_flops(ours.flops):>10} "
              f"{format_count(row.tokens):>13} {format_count(ours.tokens):>8} {ours.tokens / row.tokens - 1:>+7.1%}")
    return 0


def plot(*, out: str = "scaling_laws.png") -> int:
    """Plot Kaplan vs Chinchilla: optimal model size, tokens and loss against compute (PNG).

    Args:
        out: where to write the PNG
    """
    from llm_playground.scaling import plot_laws

    print(f"wrote {plot_laws(out)}")
    return 0


def fit(*, data: str | None = None, size: list[str] | None = None, tokens_per_param: float = 10.0,
        tokenizer: str = "char", out: str = "runs/scaling-fit", json: bool = False) -> int:
    """Train a sweep of tiny models on your corpus and fit a power law L(C) = E + A·C^-α to their losses.

    Each model gets the compute its size calls for: D = tokens-per-param × N tokens, C = 6·N·D.
    Writes OUT/scaling_fit.png (your points and the fit) and OUT/scaling_fit.json.

    Args:
        data: a UTF-8 text file (default: the Shakespeare corpus)
        size: a model as LAYERSxWIDTH, e.g. 2x32; repeat for each (default: 2x16 2x24 2x32 2x48 2x64)
        tokens_per_param: training tokens per parameter for every model (Chinchilla-optimal is ≈20)
        tokenizer: char, bpe:N, or a tokenizer name
        out: output folder
        json: print machine-readable JSON
    """
    from llm_playground.errors import PlaygroundError
    from llm_playground.training.experiments import DEFAULT_SIZES, scaling_sweep

    sizes = DEFAULT_SIZES
    if size:
        try:
            sizes = tuple(tuple(int(part) for part in s.lower().split("x")) for s in size)
        except ValueError:
            raise PlaygroundError(f"--size takes LAYERSxWIDTH, e.g. 2x32 (got {size})") from None
        if any(len(s) != 2 for s in sizes):
            raise PlaygroundError(f"--size takes LAYERSxWIDTH, e.g. 2x32 (got {size})")
    sweep = scaling_sweep(data=data, sizes=sizes, tokens_per_param=tokens_per_param, tokenizer=tokenizer, out=out,
                          progress=not json)
    print(_json.dumps(sweep.to_dict(), indent=2) if json else sweep.summary())
    return 0


COMMANDS: dict = {
    "scaling": ("Scaling laws: Kaplan vs Chinchilla, compute-optimal allocation, plots.",
                {"optimal": optimal, "check": check, "table": table, "plot": plot, "fit": fit}),
}
