"""`llmpg models` and `llmpg doctor`."""
from __future__ import annotations

from llm_playground.cli.render import print_json, table
from llm_playground.zoo.status import doctor_report, model_rows


def models(*, json: bool = False) -> None:
    """List the models in the zoo: name, kind, exact parameter count, licence, cache state.

    Args:
        json: print machine-readable JSON instead of a table.
    """
    rows = model_rows()
    if json:
        return print_json(rows)
    for row in rows:
        row["params"] = f"{row['parameters']:,}"
    for row in rows:
        row["weights"] = row["weights"].removeprefix("weights: ")
    print(table(rows, ["name", "label", "params", "context_length", "weights", "licence", "state"],
                ["name", "kind", "parameters", "context", "weights (default engine)", "licence", "state"]))


def doctor(*, json: bool = False, load: bool = False) -> None:
    """Check the installation: versions, threads, cache paths, every asset's state with its fix, and
    the models this process holds with their memory.

    Args:
        json: print machine-readable JSON.
        load: first load every zoo model the way the web page's tabs use them, then list what is held and the process's resident memory (what a playground server holds once every tab was used).
    """
    if load:
        from llm_playground.store.usage import hold_face_models

        hold_face_models(progress=not json)
    report = doctor_report()
    if json:
        return print_json(report)
    print(f"python {report['python']}  " + "  ".join(f"{k} {v}" for k, v in report["versions"].items()))
    threads = report["threads"]
    print(f"threads: torch uses {threads['torch']} of {threads['usable_cores']} usable cores "
          f"(override with {threads['override']}=N)")
    print(f"offline: HF_HUB_OFFLINE={report['offline']['HF_HUB_OFFLINE']} "
          f"(set LLMPG_ONLINE=1 to allow the network)")
    for name, path in report["paths"].items():
        print(f"{name}: {path}")
    fast = report["fast_kernels"]
    print(f"fast kernels: {fast['in_use'] or 'none'} (this CPU runs: {', '.join(fast['supported'])}; "
          f"force one with {fast['force_with']}) — {fast['status']}")
    problems = 0
    print("\nmodels:")
    for name, info in report["models"].items():
        print(f"  {name:24} {info['state']}")
        problems += info["state"].startswith(("missing", "corrupt"))
    print("packages:")
    for name, info in report["packages"].items():
        print(f"  {name:24} {info['state']}" + (f"   fix: {info['fix']}" if "fix" in info else ""))
        problems += info["state"] == "missing"
    print("tokenizer vocabularies:")
    for name, state in report["tokenizer_vocabularies"].items():
        print(f"  {name:24} {state}")
    print("corpora:")
    for name, info in report["corpora"].items():
        print(f"  {name:24} {info['state']}" + (f"   fix: {info['fix']}" if "fix" in info else ""))
        problems += info["state"] == "missing"
    memory = report["memory"]
    print(f"\nheld in this process (the model store; budget {memory['budget_bytes'] / 2**30:.1f} GiB, "
          "LLMPG_MEMORY_GB):")
    if not memory["held"]:
        print("  nothing (each command loads what it needs; `llmpg doctor --load` loads what the page uses)")
    for row in memory["held"]:
        label = f"{row['model']} ({row['engine']}, {row['precision']})"
        print(f"  {label:52} {row['bytes'] / 1e6:9,.1f} MB  loaded in {row['load_seconds']:.1f} s")
    print(f"  total held {memory['held_bytes'] / 1e6:,.0f} MB; process resident memory {memory['rss_bytes'] / 1e6:,.0f} MB")
    print("\nall good" if not problems else f"\n{problems} problem(s): run the fix commands above, or: make setup")
    return 1 if problems else 0


COMMANDS = {"models": models, "doctor": doctor}
