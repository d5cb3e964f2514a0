"""Count what is inside any torch model: a module tree with shapes, and parameters per kind.

Works on a transformers model from the zoo and on our own `Transformer` alike, because it only
reads `named_modules` / `named_parameters`. Every parameter is sorted into one kind by its name
(`classify_parameter`): embeddings, attention, mlp, norms, head, or other. A weight shared by two
modules (the tied embedding and output head) is one tensor and is counted once, under the name
that comes first; the second name is reported as tied to the first.

>>> from transformers import GPT2Config, GPT2LMHeadModel
>>> parameter_counts(GPT2LMHeadModel(GPT2Config()))["total"]
124439808
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import nn

from llm_playground.checks import require_range
from llm_playground.errors import PlaygroundError
from llm_playground.inspection.sizing import (
    KINDS, ModelDimensions, format_memory, format_table, from_hf_config, from_transformer_config, human_count, memory_report,
)

# Name patterns, tried in this order; the first that matches a parameter's full name decides.
# Norms come first so that `self_attn.q_norm` counts as a norm and `embeddings.LayerNorm` too.
_KIND_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("norms", re.compile(r"norm|(^|\.)ln_?\w*(\.|$)", re.IGNORECASE)),
    ("embeddings", re.compile(r"embed|(^|\.)wte\.|(^|\.)wpe\.|position|token_type|tok_emb|pos_emb")),
    ("head", re.compile(r"(^|\.)(lm_head|head|output_head|classifier|pooler|score)(\.|$)")),
    ("attention", re.compile(r"attn|attention|(^|\.)(q|k|v|o|qkv|wq|wk|wv|wo)(_proj)?\.|(^|\.)(query|key|value)\.")),
    ("mlp", re.compile(r"mlp|ffn|feed_?forward|intermediate|(^|\.)c?_?fc\d*\.|experts?|router|"
                       r"(gate|up|down)_proj|(^|\.)w[123]\.|(^|\.)output\.dense\.")),
)


def classify_parameter(name: str) -> str:
    """The kind of a parameter, from its full dotted name.

    >>> classify_parameter("model.layers.0.self_attn.q_proj.weight")
    'attention'
    >>> classify_parameter("transformer.h.3.ln_2.bias")
    'norms'
    >>> classify_parameter("encoder.layer.1.output.dense.weight")
    'mlp'
    """
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(name):
            return kind
    return "other"


def _tensor_key(tensor: torch.Tensor) -> tuple:
    """Identifies the memory a tensor occupies, so two names for one weight count once."""
    if tensor.is_meta:  # meta tensors have no storage; shared ones are the same Parameter object
        return ("id", id(tensor))
    return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))


def unique_parameters(model: nn.Module) -> tuple[dict[str, nn.Parameter], dict[str, str]]:
    """(name → parameter for each distinct tensor, first name wins; alias name → the name it ties to)."""
    owners: dict[tuple, str] = {}
    unique: dict[str, nn.Parameter] = {}
    tied: dict[str, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        key = _tensor_key(param)
        if key in owners:
            tied[name] = owners[key]
        else:
            owners[key] = name
            unique[name] = param
    return unique, tied


def parameter_counts(model: nn.Module) -> dict:
    """Total parameters (each tensor once), the count per kind, and which names are tied.

    Returns {"total": int, "by_kind": {kind: int for kind in KINDS}, "tied": {alias: owner}}.
    The kinds add up to the total.
    """
    unique, tied = unique_parameters(model)
    by_kind = {kind: 0 for kind in KINDS}
    for name, param in unique.items():
        by_kind[classify_parameter(name)] += param.numel()
    return {"total": sum(by_kind.values()), "by_kind": by_kind, "tied": tied}


@dataclass
class ModuleNode:
    """One module of the tree: its own parameters and its children."""

    name: str
    """Attribute name under its parent ("" for the root)."""
    path: str
    """Full dotted path from the root ("" for the root)."""
    type: str
    """Class name, e.g. "LlamaAttention"."""
    n_params: int
    """Parameters in this module and below, each tensor once."""
    params: list[dict] = field(default_factory=list)
    """Its own parameters: name, shape, numel, kind, and tied_to (the owner's name) for an alias."""
    children: list["ModuleNode"] = field(default_factory=list)
    """Sub-modules, in registration order."""
    output_shape: list[int] | None = None
    """Shape of the tensor it returned for a sample input (None when not traced or not called)."""

    def to_dict(self) -> dict:
        """A JSON-ready nested dict."""
        return {"name": self.name, "path": self.path, "type": self.type, "n_params": self.n_params,
                "params": self.params, "output_shape": self.output_shape,
                "children": [child.to_dict() for child in self.children]}

    def signature(self) -> tuple:
        """What makes two modules look the same: type, parameter shapes, children's signatures."""
        return (self.type, tuple((p["name"], tuple(p["shape"])) for p in self.params), self.output_shape,
                tuple((child.name, child.signature()) for child in self.children))


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):  # transformers' ModelOutput is a dict
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


@torch.no_grad()
def output_shapes(model: nn.Module, n_tokens: int = 8) -> dict[str, list[int]]:
    """Trace one forward pass on a batch of 1 × n_tokens token ids (all 0) and record the shape of
    the tensor each module returns, by module path ("" is the whole model). A model on the meta
    device traces too: shapes propagate without any memory or arithmetic."""
    shapes: dict[str, list[int]] = {}
    handles = []
    for path, module in model.named_modules():
        def record(_module, _inputs, output, path=path):
            tensor = _first_tensor(output)
            if tensor is not None and path not in shapes:  # first call: a block reused later keeps its first shape
                shapes[path] = list(tensor.shape)
        handles.append(module.register_forward_hook(record))
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, n_tokens, dtype=torch.long, device=device))
    except (TypeError, ValueError, RuntimeError, IndexError, NotImplementedError, StopIteration):
        return {}  # a model that wants other inputs: the tree is shown without shapes
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def module_tree(model: nn.Module, shapes: dict[str, list[int]] | None = None) -> ModuleNode:
    """The module tree with parameter shapes and counts (tied aliases marked, counted once per subtree);
    `shapes` (from `output_shapes`) adds each module's output shape."""
    _, tied = unique_parameters(model)
    shapes = shapes or {}

    def build(module: nn.Module, name: str, path: str) -> ModuleNode:
        params = []
        for param_name, param in module.named_parameters(recurse=False):
            full = f"{path}.{param_name}" if path else param_name
            entry = {"name": param_name, "shape": list(param.shape), "numel": param.numel(),
                     "kind": classify_parameter(tied.get(full, full))}
            if full in tied:
                entry["tied_to"] = tied[full]
            params.append(entry)
        children = [build(child, child_name, f"{path}.{child_name}" if path else child_name)
                    for child_name, child in module.named_children()]
        seen: set[tuple] = set()
        n_params = 0
        for param in module.parameters():  # this subtree's distinct tensors
            key = _tensor_key(param)
            if key not in seen:
                seen.add(key)
                n_params += param.numel()
        return ModuleNode(name, path, type(module).__name__, n_params, params, children, shapes.get(path))

    return build(model, "", "")


MAX_DEPTH = 50
"""Deeper than any model's module tree."""


def check_depth(depth: int | None) -> None:
    """A tree depth to show: None (all of it) or 0 … MAX_DEPTH (0 shows the root only)."""
    if depth is not None:
        require_range("depth", depth, 0, MAX_DEPTH, why="0 shows the model only, 1 its children, …")


def format_tree(node: ModuleNode, max_depth: int | None = None) -> str:
    """The tree as indented text with a count column. Runs of identical siblings (the blocks of a
    `ModuleList`) collapse into one entry, `0…29 × 30`, with the first one expanded."""
    check_depth(max_depth)
    rows: list[tuple[str, str]] = []

    def describe(node: ModuleNode) -> str:
        own = ", ".join(
            f"{p['name']} {list(p['shape'])}" + (f" tied to {p['tied_to']}" if "tied_to" in p else "")
            for p in node.params)
        shape = f"  → ({', '.join(map(str, node.output_shape))})" if node.output_shape else ""
        return f"{node.type}" + (f"  {own}" if own else "") + shape

    def walk(node: ModuleNode, label: str, indent: str, depth: int, repeat: int = 1) -> None:
        count = f"{node.n_params:,}" if repeat == 1 else f"{repeat} × {node.n_params:,}"
        rows.append((f"{indent}{label}{describe(node)}", count))
        if max_depth is not None and depth >= max_depth:
            return
        index = 0
        while index < len(node.children):
            child = node.children[index]
            run = 1
            while (index + run < len(node.children)
                   and node.children[index + run].signature() == child.signature()):
                run += 1
            child_label = (f"{child.name}: " if run == 1
                           else f"{child.name}…{node.children[index + run - 1].name}: ")
            walk(child, child_label, indent + "  ", depth + 1, run)
            index += run

    walk(node, "", "", 0)
    width = max(len(text) for text, _ in rows)
    count_width = max(len(count) for _, count in rows)
    return "\n".join(f"{text.ljust(width)}  {count.rjust(count_width)}" for text, count in rows)


def model_dimensions(model: nn.Module) -> ModelDimensions | None:
    """The model's dimensions when they can be read from its config (transformers or ours), else None."""
    config = getattr(model, "config", None)
    if config is None:
        return None
    from llm_playground.models.config import TransformerConfig

    if isinstance(config, TransformerConfig):
        return from_transformer_config(config)
    try:
        return from_hf_config(config)
    except (PlaygroundError, TypeError, AttributeError):
        return None


def inspect_model(model: nn.Module, name: str | None = None, *, sample_tokens: int = 8) -> dict:
    """Everything `llmpg inspect --model` shows, as a JSON-ready dict.

    The tree carries each module's output shape for a sample of `sample_tokens` tokens (0: no trace).

    Keys: model, class, total_parameters, parameters_by_kind, tied, sum_numel (the plain
    `sum(p.numel() for p in model.parameters())` to check against), dimensions (or None), memory, tree.
    """
    counts = parameter_counts(model)
    dims = model_dimensions(model)
    return {
        "model": name or type(model).__name__,
        "class": type(model).__name__,
        "total_parameters": counts["total"],
        "parameters_by_kind": counts["by_kind"],
        "tied": counts["tied"],
        "sum_numel": sum(p.numel() for p in model.parameters()),
        "dimensions": dims.to_dict() if dims else None,
        "memory": memory_report(counts["total"], dims).to_dict(),
        "sample_tokens": sample_tokens,
        "tree": module_tree(model, output_shapes(model, sample_tokens) if sample_tokens else None).to_dict(),
    }


def _node_from_dict(data: dict) -> ModuleNode:
    return ModuleNode(data["name"], data["path"], data["type"], data["n_params"], data["params"],
                      [_node_from_dict(child) for child in data["children"]], data.get("output_shape"))


def format_inspection(report: dict, max_depth: int | None = None) -> str:
    """`inspect_model(...)` as text: tree, counts per kind, memory and FLOPs."""
    total = report["total_parameters"]
    rows = [(kind, f"{count:,}", f"{100 * count / total:.1f}%")
            for kind, count in report["parameters_by_kind"].items() if count]
    rows.append(("total", f"{total:,}", f"≈ {human_count(total)}"))
    traced = f"; → output shapes for 1 × {report['sample_tokens']} tokens" if report.get("sample_tokens") else ""
    parts = [f"{report['model']} ({report['class']}){traced}",
             format_tree(_node_from_dict(report["tree"]), max_depth),
             format_table(rows, ("kind", "parameters", "share"))]
    if report["tied"]:
        parts.append("\n".join(f"tied: {alias} is {owner} (counted once)" for alias, owner in report["tied"].items()))
    parts.append(format_memory(report["memory"]))
    return "\n\n".join(parts)


def inspect_zoo_model(name: str) -> dict:
    """`inspect_model` for a zoo model (or local model folder) by name.

    It inspects the transformers architecture built from the model's config on the meta device:
    the same tree, shapes and counts as the loaded model (a test checks it), without holding its
    weights in memory."""
    from llm_playground import zoo

    spec = zoo.resolve(name)
    return inspect_model(zoo.meta_model(spec), spec.name)
