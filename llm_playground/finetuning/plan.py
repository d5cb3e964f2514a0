"""`plan`: what fine-tuning a model costs, before anything is loaded — exact parameter counts,
memory per component and precision, and a throughput estimate from a step measured here.

Worked example (the seeds' Llama-2-7B, LoRA): an adapter on a d_in → d_out linear layer adds two
matrices, A (r × d_in) and B (d_out × r), so r · (d_in + d_out) parameters.

    r = 8 on q_proj, v_proj:       32 layers · 2 modules · 8 · (4096 + 4096)  =  4,194,304
    r = 16 on q, k, v, o_proj:     32 layers · 4 modules · 16 · (4096 + 4096) = 16,777,216

The base model has 6,738,415,616 parameters (`inspection.sizing`), so PEFT prints "all params"
6,742,609,920 and 6,755,192,832. The seeds printed the first pair next to a config of the second.

Memory is counted per component (the rule of thumb "16 bytes per parameter" is full fine-tuning
with fp32 AdamW, no activations):

    frozen weights      stored precision (fp32 4 B, bf16 2 B, NF4 ≈ 0.52 B with its scales)
    trainable weights   fp32 (adapters are kept in fp32 even when the base is not)
    gradients           one fp32 per trainable parameter
    AdamW state         two fp32 per trainable parameter (first and second moment)
    activations         what autograd saves for the backward pass, counted on a meta-device
                        forward of the real transformers model (no memory, no compute)
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from llm_playground.errors import PlaygroundError, unknown_name
from llm_playground.inspection import sizing
from llm_playground.inspection.sizing import ModelDimensions, human_bytes, human_count

METHODS = ("full", "lora", "qlora")
TARGET_ALIASES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
                  "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
"""Short names users type → the module names of Llama-family models (Llama, Mistral, Qwen2, Gemma 3)."""
LINEAR_MODULES = tuple(TARGET_ALIASES.values())
LORA_FAMILIES = ("llama", "mistral", "qwen2", "gemma3_text")

# NF4 (bitsandbytes, QLoRA): 4 bits a weight, one absmax per 64 weights. With double quantization
# the absmax is itself 8-bit, with one fp32 scale per 256 absmax values (Dettmers et al. 2023, §3).
NF4_BLOCK = 64
NF4_BYTES_PER_PARAM = 0.5 + 1 / NF4_BLOCK + 4 / (NF4_BLOCK * 256)  # ≈ 0.5159 bytes (4.127 bits)
PRECISION_BYTES = {"fp32": 4, "bf16": 2}
ADAMW_STATE_BYTES = 8  # exp_avg + exp_avg_sq, fp32


def normalise_targets(targets: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`"q,k,v,o"` → `("q_proj", "k_proj", "v_proj", "o_proj")`; full names pass through; order kept."""
    items = targets.split(",") if isinstance(targets, str) else list(targets)
    names = []
    for item in (t.strip() for t in items):
        if not item:
            continue
        name = TARGET_ALIASES.get(item, item)
        if name not in names:
            names.append(name)
    if not names:
        raise PlaygroundError("targets is empty; name the layers to adapt, e.g. q,k,v,o "
                              f"(known: {', '.join(TARGET_ALIASES)} or {', '.join(LINEAR_MODULES)})")
    unknown = [name for name in names if name not in LINEAR_MODULES]
    if unknown:
        raise PlaygroundError(f"targets {', '.join(unknown)} do not exist in this model; the linear layers "
                              f"that do are: {', '.join(LINEAR_MODULES)} (short: {', '.join(TARGET_ALIASES)})")
    return tuple(names)


def parse_layers(layers: str | None, n_layer: int) -> tuple[int, ...] | None:
    """`None`/"" or "all" → every layer (None); "last:10" → the top 10; "20-29,3" → those indices."""
    if layers is None or str(layers).strip() in ("", "all"):
        return None
    text = str(layers).strip()
    chosen: list[int] = []
    try:
        if text.startswith("last:"):
            count = int(text[5:])
            if not 1 <= count <= n_layer:
                raise ValueError
            return tuple(range(n_layer - count, n_layer))
        for part in text.split(","):
            if "-" in part:
                start, end = (int(x) for x in part.split("-"))
                chosen.extend(range(start, end + 1))
            else:
                chosen.append(int(part))
    except ValueError:
        raise PlaygroundError(f"layers {layers!r} is not understood; write all, last:N (N from 1 to {n_layer}) "
                              f"or indices and ranges such as 20-29,3") from None
    bad = [i for i in chosen if not 0 <= i < n_layer]
    if bad or not chosen:
        raise PlaygroundError(f"layers {layers!r} names layer {bad[0] if bad else '(none)'}, but this model's "
                              f"layers are 0 to {n_layer - 1}")
    return tuple(sorted(set(chosen)))


def linear_shapes(dims: ModelDimensions) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of each adaptable linear layer in one block of a Llama-family model."""
    q_width, kv_width = dims.n_head * dims.head_dim, dims.n_kv_head * dims.head_dim
    return {"q_proj": (dims.d_model, q_width), "k_proj": (dims.d_model, kv_width),
            "v_proj": (dims.d_model, kv_width), "o_proj": (q_width, dims.d_model),
            "gate_proj": (dims.d_model, dims.d_ff), "up_proj": (dims.d_model, dims.d_ff),
            "down_proj": (dims.d_ff, dims.d_model)}


def lora_parameter_count(dims: ModelDimensions, r: int, targets: tuple[str, ...],
                         layers: tuple[int, ...] | None = None) -> int:
    """Σ over adapted layers and modules of r · (d_in + d_out) (A is r × d_in, B is d_out × r)."""
    shapes = linear_shapes(dims)
    n_layers = dims.n_layer if layers is None else len(layers)
    return n_layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


@dataclass
class ModelSource:
    """What the plan sizes: dimensions plus where they came from."""

    name: str
    dims: ModelDimensions
    architecture: str
    hf_config: dict | None = None
    """The transformers config (as a dict) when known: used for the meta-device activation count."""


def _llama_config_dict(dims: ModelDimensions) -> dict:
    return {"model_type": "llama", "vocab_size": dims.vocab_size, "hidden_size": dims.d_model,
            "intermediate_size": dims.d_ff, "num_hidden_layers": dims.n_layer,
            "num_attention_heads": dims.n_head, "num_key_value_heads": dims.n_kv_head,
            "head_dim": dims.head_dim, "max_position_embeddings": dims.context_length,
            "tie_word_embeddings": dims.tied_embeddings, "rms_norm_eps": 1e-5}


def model_source(config: str) -> ModelSource:
    """A sizing preset (llama2-7b, …), a zoo model or a model folder → its dimensions, without weights."""
    if config in sizing.PRESETS:
        dims = sizing.PRESETS[config]
        if dims.mlp != "swiglu" or dims.norm != "rmsnorm":
            raise PlaygroundError(f"{config} is not a Llama-family model; LoRA plans cover "
                                  f"{', '.join(p for p, d in sizing.PRESETS.items() if d.mlp == 'swiglu')} and zoo models")
        return ModelSource(name=config, dims=dims, architecture="llama", hf_config=_llama_config_dict(dims))
    from llm_playground import zoo

    try:
        spec = zoo.resolve(config)
    except PlaygroundError:
        raise unknown_name("model or preset", config, [*sizing.PRESETS, *(s.name for s in zoo.list_models())]) from None
    if spec.architecture not in LORA_FAMILIES:
        raise PlaygroundError(f"{spec.name} is a {spec.architecture} model; fine-tuning here covers the Llama family "
                              f"and Gemma 3 ({', '.join(LORA_FAMILIES)})")
    config_dict = json.loads((zoo.model_dir(spec.name) / "config.json").read_text())
    from transformers import AutoConfig

    hf = AutoConfig.for_model(**config_dict)
    return ModelSource(name=spec.name, dims=sizing.from_hf_config(hf), architecture=spec.architecture,
                       hf_config=config_dict)


# --- activations: counted, not guessed ------------------------------------------------------------
COUNTED_ATTENTION = "llmpg_cpu_sdpa"


def _register_counted_attention() -> None:
    """On the meta device PyTorch's attention dispatch falls back to the math kernel, which keeps the
    B·H·T² attention probabilities; training on CPU runs the fused kernel, which keeps only q, k, v,
    the output and a log-sum-exp per row. This attention function calls that fused kernel directly,
    so the meta-device count matches what a CPU run keeps (tested equal)."""
    import torch
    from transformers import AttentionInterface

    def cpu_fused_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        output, _ = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, dropout, True,
                                                                               scale=scaling)
        return output.transpose(1, 2).contiguous(), None  # (B, T, H, head_dim) as transformers expects

    AttentionInterface.register(COUNTED_ATTENTION, cpu_fused_attention)

def saved_activation_bytes(config_dict: dict, n_layer: int, method: str, r: int, targets: tuple[str, ...],
                           batch_size: int, seq_len: int, device: str = "meta") -> int:
    """Bytes autograd keeps for backward during one forward of `n_layer` blocks (parameters excluded).
    On the meta device shapes and dtypes are real but nothing is allocated or computed; on "cpu" the
    same count runs for real (what the test compares it with)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    hf = AutoConfig.for_model(**{**config_dict, "num_hidden_layers": n_layer})
    if hasattr(hf, "layer_types") and hf.layer_types:
        hf.layer_types = hf.layer_types[:n_layer]
    if device == "meta":
        _register_counted_attention()
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(hf, dtype=torch.float32,
                                                 attn_implementation=COUNTED_ATTENTION if device == "meta" else None)
    if method == "full":
        model.requires_grad_(True)
    else:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets),
                                                 lora_dropout=0.0))
    model.train()
    def storage_key(tensor) -> int:  # meta storages have no address; their storage objects are distinct
        storage = tensor.untyped_storage()
        return storage._cdata if device == "meta" else storage.data_ptr()

    parameters = {storage_key(p) for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor):
        key = storage_key(tensor)
        if key not in parameters:
            saved[key] = max(saved.get(key, 0), tensor.untyped_storage().nbytes())
        return tensor

    ids = torch.zeros((batch_size, seq_len), dtype=torch.long, device=device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(input_ids=ids, labels=ids)
    return sum(saved.values())


def activation_bytes(source: ModelSource, method: str, r: int, targets: tuple[str, ...], batch_size: int,
                     seq_len: int, checkpointing: bool = False, lowest_layer: int = 0) -> dict[str, int]:
    """{"per_layer", "outside_layers", "total"}: bytes saved for backward for one micro-batch, from
    meta-device forwards of 1 and 2 blocks (every block of these models is the same shape).

    With gradient checkpointing each block keeps only its input (B·T·d fp32) and one block's
    activations are alive at a time (recomputed during backward). With adapters only from block
    `lowest_layer` up, the blocks below keep nothing: no gradient flows through them."""
    one = saved_activation_bytes(source.hf_config, 1, method, r, targets, batch_size, seq_len)
    two = saved_activation_bytes(source.hf_config, 2, method, r, targets, batch_size, seq_len)
    per_layer, outside = two - one, 2 * one - two
    layers_kept = source.dims.n_layer - lowest_layer
    if checkpointing:
        kept_per_layer = batch_size * seq_len * source.dims.d_model * 4
        total = outside + layers_kept * kept_per_layer + per_layer
    else:
        total = outside + layers_kept * per_layer
    return {"per_layer": per_layer, "outside_layers": outside, "total": total}


# --- throughput: one LoRA step measured here --------------------------------------------------------
def measure_step_flops(batch_size: int = 4, seq_len: int = 64, repeats: int = 2) -> dict:
    """Train a probe (2 Llama blocks shaped like SmolLM2's, LoRA on q,v) for a few steps on this CPU
    and return the achieved FLOP/s (4 N per token: forward 2 N plus the input-gradient half of backward)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=8192, hidden_size=576, intermediate_size=1536, num_hidden_layers=2,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
        ids = torch.randint(0, config.vocab_size, (batch_size, seq_len))
    model.train()
    times = []
    for _ in range(repeats + 1):  # the first step warms up the allocator and kernels
        started = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        times.append(time.perf_counter() - started)
    seconds = sorted(times[1:])[len(times[1:]) // 2]
    n = sum(p.numel() for p in model.base_model.model.model.layers.parameters()) + 2 * 8192 * 576  # blocks + embed/head
    flops = 4 * n * batch_size * seq_len
    return {"flops_per_second": flops / seconds, "seconds_per_step": seconds, "probe_tokens": batch_size * seq_len,
            "threads": torch.get_num_threads()}


def training_flops_per_token(dims: ModelDimensions, method: str, layers: tuple[int, ...] | None = None) -> int:
    """≈ FLOPs a token for one training step. Forward: 2 N. Full fine-tuning: backward 4 N (gradients
    for activations and for weights). LoRA: backward 2 × (the vocabulary head + the blocks from the
    lowest adapted one up), since frozen weights need no gradient and nothing below the lowest adapter
    needs one either."""
    breakdown = sizing.parameter_breakdown(dims)
    total = sum(breakdown.values())
    if method == "full":
        return 6 * total
    per_block = (breakdown["attention"] + breakdown["mlp"]) // dims.n_layer
    lowest = 0 if layers is None else min(layers)
    head = dims.vocab_size * dims.d_model
    return 2 * total + 2 * (head + per_block * (dims.n_layer - lowest))


# --- the plan ---------------------------------------------------------------------------------------
@dataclass
class FinetunePlan:
    """Everything `llmpg finetune plan` prints."""

    model: str
    method: str
    r: int
    targets: tuple[str, ...]
    layers: tuple[int, ...] | None
    total_parameters: int
    """Parameters of the model being trained, adapters included (what PEFT prints as "all params")."""
    trainable_parameters: int
    base_parameters: int
    batch_size: int
    seq_len: int
    memory: dict[str, dict[str, float]]
    """precision → {frozen_weights, trainable_weights, gradients, optimizer, activations, total} in bytes."""
    activations: dict[str, int]
    throughput: dict = field(default_factory=dict)
    """measured probe step and the tokens/s estimate for this model (empty when not measured)."""
    available_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def trainable_percent(self) -> float:
        return 100 * self.trainable_parameters / self.total_parameters

    def peft_line(self) -> str:
        """The line PEFT's `print_trainable_parameters()` prints for this configuration."""
        return (f"trainable params: {self.trainable_parameters:,} || all params: {self.total_parameters:,} || "
                f"trainable%: {self.trainable_percent:.4f}")

    def total_bytes(self, precision: str) -> float:
        return self.memory[precision]["total"]

    def fits(self, precision: str) -> bool:
        return self.available_bytes is None or self.total_bytes(precision) <= self.available_bytes

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["trainable_percent"] = round(self.trainable_percent, 4)
        data["peft_line"] = self.peft_line()
        return data


def available_memory_bytes() -> int:
    """What a training run may use: the model store's budget (`LLMPG_MEMORY_GB`) or, if lower, the
    memory the kernel says is available now."""
    from llm_playground.store.store import default_budget_bytes

    budget = default_budget_bytes()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return min(budget, int(line.split()[1]) * 1024)
    except OSError:
        pass
    return budget


def make_plan(config: str, *, method: str = "lora", r: int = 16, targets: str | tuple[str, ...] = "q,k,v,o",
              layers: str | None = None, batch_size: int = 4, seq_len: int = 256, checkpointing: bool = False,
              measure: bool = False) -> FinetunePlan:
    """The plan for fine-tuning `config` (a sizing preset, zoo model or folder) with `method`."""
    if method not in METHODS:
        raise PlaygroundError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    if method != "full" and (not isinstance(r, int) or r <= 0):
        raise PlaygroundError(f"r (the LoRA rank) must be a positive integer (got {r}); typical values are 8 to 64")
    if batch_size < 1 or seq_len < 1:
        raise PlaygroundError(f"batch_size and seq_len must be at least 1 (got {batch_size} and {seq_len})")
    target_names = normalise_targets(targets) if method != "full" else ()
    source = model_source(config)
    dims = source.dims
    layer_ids = parse_layers(layers, dims.n_layer) if method != "full" else None
    base = sizing.parameter_count(dims)
    adapters = lora_parameter_count(dims, r, target_names, layer_ids) if method != "full" else 0
    trainable = base if method == "full" else adapters
    total = base + adapters

    # The linear layers inside the blocks (what QLoRA stores in NF4); embeddings, head and norms are not.
    block_linear = dims.n_layer * sum(i * o for i, o in linear_shapes(dims).values())
    acts = activation_bytes(source, method, r, target_names or ("q_proj",), batch_size, seq_len, checkpointing,
                            lowest_layer=min(layer_ids) if layer_ids else 0)
    memory: dict[str, dict[str, float]] = {}
    for precision, width in PRECISION_BYTES.items():
        if method == "full":
            frozen, trainable_weights = 0.0, float(base * 4)  # fp32 master weights (bf16 autocasts the compute)
        elif method == "lora":
            frozen, trainable_weights = float(base * width), float(adapters * 4)
        else:
            frozen = block_linear * NF4_BYTES_PER_PARAM + (base - block_linear) * width
            trainable_weights = float(adapters * 4)
        activation_total = acts["total"] * (width / 4)
        parts = {"frozen_weights": frozen, "trainable_weights": trainable_weights,
                 "gradients": float(trainable * 4), "optimizer": float(trainable * ADAMW_STATE_BYTES),
                 "activations": float(activation_total)}
        parts["total"] = sum(parts.values())
        memory[precision] = parts

    plan = FinetunePlan(model=source.name, method=method, r=r if method != "full" else 0, targets=target_names,
                        layers=layer_ids, total_parameters=total, trainable_parameters=trainable,
                        base_parameters=base, batch_size=batch_size, seq_len=seq_len, memory=memory,
                        activations=acts, available_bytes=available_memory_bytes())
    if measure:
        probe = measure_step_flops()
        flops_per_token = training_flops_per_token(dims, method, layer_ids)
        probe["flops_per_token"] = flops_per_token
        probe["tokens_per_second"] = probe["flops_per_second"] / flops_per_token
        plan.throughput = probe
    plan.notes = _notes(plan, dims)
    return plan


def _notes(plan: FinetunePlan, dims: ModelDimensions) -> list[str]:
    notes = []
    if plan.method != "full":
        notes.append(f"LoRA adds r·(d_in + d_out) per adapted layer: {plan.r}·(…) over {len(plan.targets)} module(s) "
                     f"× {dims.n_layer if plan.layers is None else len(plan.layers)} block(s) = "
                     f"{plan.trainable_parameters:,}; PEFT prints: {plan.peft_line()}")
    if plan.model == "llama2-7b" and plan.method == "lora":
        notes.append("The seeds print 'trainable params: 4,194,304 || all params: 6,742,609,920' next to r=16 on "
                     "q,k,v,o; those figures are r=8 on q_proj,v_proj. r=16 on q,k,v,o gives 16,777,216 of "
                     "6,755,192,832 (4× as many: twice the rank, twice the modules).")
    if plan.method == "qlora":
        notes.append(f"QLoRA stores the blocks' linear layers in NF4: 4 bits + an 8-bit absmax per {NF4_BLOCK} weights "
                     f"+ an fp32 scale per 256 absmax values = {NF4_BYTES_PER_PARAM * 8:.3f} bits a weight; "
                     "embeddings, head and norms stay in the compute precision.")
    notes.append("Activations are counted on a meta-device forward of the transformers model (tensors autograd "
                 "saves for backward, parameters excluded) with the loss on every position; TRL's fused head "
                 "scores only completion tokens, so real runs keep less.")
    if plan.layers is not None:
        notes.append(f"Adapters only on blocks {plan.layers[0]}–{plan.layers[-1]}: backward stops at the lowest "
                     "adapted block, so the blocks below run forward only.")
    if plan.throughput:
        t = plan.throughput
        notes.append(f"Throughput: a probe LoRA step ran at {t['flops_per_second'] / 1e9:.1f} GFLOP/s here "
                     f"({t['threads']} thread(s)); {human_count(t['flops_per_token'])}FLOP a token "
                     f"({'6 N' if plan.method == 'full' else '2 N forward + 2 × (head + adapted blocks and above) backward'}) "
                     f"→ ≈ {t['tokens_per_second']:,.1f} tokens/s. "
                     "An estimate: attention, the vocabulary head and a busy machine move it.")
    return notes


def format_plan(plan: FinetunePlan) -> str:
    """The plan as text: counts, the PEFT line, a memory table per precision, fit, throughput, notes."""
    layers = "all" if plan.layers is None else f"{plan.layers[0]}–{plan.layers[-1]} ({len(plan.layers)})"
    head = [f"{plan.model}: {plan.method}" + (f", r={plan.r} on {','.join(plan.targets)}, layers {layers}"
                                              if plan.method != "full" else ""),
            f"trainable parameters  {plan.trainable_parameters:>16,}",
            f"total parameters      {plan.total_parameters:>16,}   (base {plan.base_parameters:,})",
            f"trainable share       {plan.trainable_percent:>15.4f}%",
            plan.peft_line()]
    components = ("frozen_weights", "trainable_weights", "gradients", "optimizer", "activations", "total")
    rows = [(name.replace("_", " "), *(human_bytes(plan.memory[p][name]) for p in PRECISION_BYTES))
            for name in components]
    table = sizing.format_table(rows, ("memory (batch %d × %d tokens)" % (plan.batch_size, plan.seq_len),
                                       *(f"{p} base" for p in PRECISION_BYTES)))
    lines = ["\n".join(head), table]
    if plan.available_bytes is not None:
        verdict = ", ".join(f"{p}: {'fits' if plan.fits(p) else 'DOES NOT FIT'}" for p in PRECISION_BYTES)
        lines.append(f"memory available here: {human_bytes(plan.available_bytes)} → {verdict}")
    if plan.throughput:
        lines.append(f"estimated speed here: ≈ {plan.throughput['tokens_per_second']:,.1f} tokens/s")
    lines.append("\n".join(f"note: {note}" for note in plan.notes))
    return "\n\n".join(lines)


def check_fits(plan: FinetunePlan, precision: str) -> None:
    """Raise before training when the plan says the run will not fit in memory."""
    if not plan.fits(precision):
        raise PlaygroundError(
            f"fine-tuning {plan.model} ({plan.method}, batch {plan.batch_size} × {plan.seq_len} tokens, {precision}) "
            f"needs about {human_bytes(plan.total_bytes(precision))} but {human_bytes(plan.available_bytes)} is "
            "available (LLMPG_MEMORY_GB or free memory); lower batch_size or max_length, adapt fewer layers, "
            "or use method qlora")


__all__ = ["FinetunePlan", "METHODS", "TARGET_ALIASES", "LINEAR_MODULES", "NF4_BYTES_PER_PARAM", "make_plan",
           "format_plan", "check_fits", "normalise_targets", "parse_layers", "lora_parameter_count",
           "linear_shapes", "model_source", "activation_bytes", "measure_step_flops", "available_memory_bytes",
           "training_flops_per_token"]
