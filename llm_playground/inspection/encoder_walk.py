"""The block walk for encoders (BERT / MiniLM) and encoder-decoders (T5), one operation at a time.

`llmpg block` walks a decoder's first block with our own engine (`block_walk`). Encoders and T5 run
in transformers' classes, so their walks redo the first block by hand with that block's own
modules, record every tensor's shape, and check the result against the model's own output:

- BERT layer 0 (post-norm): word + position + token-type embeddings → LayerNorm → q, k, v → heads →
  softmax(q kᵀ/√hs) with no mask (bidirectional: every token sees every token) → weighted values →
  output dense → LayerNorm(x + attention) → intermediate (GELU, 4× wider) → output dense →
  LayerNorm(x + MLP).
- T5 encoder block 0 (pre-norm, RMS norms without bias): shared embedding → norm → q, k, v →
  scores q kᵀ (T5 does not divide by √hs) + a learned relative-position bias → softmax → weighted
  values → o → residual → norm → wi → ReLU → wo → residual.
- T5 decoder block 0: the same self-attention with a causal mask and one-directional position
  buckets, then the cross-attention: queries from the decoder's tokens, keys and values from the
  encoder's final output, so its weights are (target tokens × source tokens); then the MLP. Last,
  the tied output head (T5 scales the decoder output by d_model^-0.5 before it).

Every section ends with max |walk − model| (0 up to float rounding proves the walk is the real computation).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.inspection.block_walk import Step, _step


@dataclass
class WalkSection:
    """One part of a walk (embeddings, a block, the cross-attention …) with its check."""

    title: str
    steps: list[Step] = field(default_factory=list)
    max_abs_diff: float | None = None
    """max |hand walk − the model's own output| for this section (None: nothing to compare)."""
    reference: str = ""
    """What the walk was compared with, e.g. "model.encoder(ids).hidden_states[1]"."""


@dataclass
class FamilyWalk:
    """Everything `llmpg block` shows for an encoder or an encoder-decoder."""

    model: str
    family: str
    """"encoder-only" or "encoder-decoder"."""
    prompt: str
    tokens: list[str]
    ids: list[int]
    config: dict
    sections: list[WalkSection] = field(default_factory=list)
    target: str = ""
    """Encoder-decoder: the decoder's text (its tokens are `target_tokens`)."""
    target_tokens: list[str] = field(default_factory=list)
    target_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def max_abs_diff(self) -> float:
        return max((s.max_abs_diff for s in self.sections if s.max_abs_diff is not None), default=0.0)

    def to_dict(self) -> dict:
        return {**asdict(self), "max_abs_diff": self.max_abs_diff}


def _heads(x: torch.Tensor, n_head: int, head_dim: int) -> torch.Tensor:
    B, T, _ = x.shape
    return x.view(B, T, n_head, head_dim).transpose(1, 2)  # (B, nh, T, hs)


def _merge(x: torch.Tensor) -> torch.Tensor:
    B, nh, T, hs = x.shape
    return x.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, nh·hs)


# --------------------------------------------------------------------------------------------
# BERT (MiniLM)

@torch.inference_mode()
def walk_bert(model, input_ids: torch.Tensor) -> list[WalkSection]:
    """Embeddings and layer 0 of a transformers `BertModel`, by hand; ids (1, T)."""
    config = model.config
    emb, layer = model.embeddings, model.encoder.layer[0]
    attn, attn_out = layer.attention.self, layer.attention.output
    nh, hs = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    B, T = input_ids.shape
    embed = WalkSection("embeddings", reference="model.embeddings(ids)")
    s = embed.steps
    _step(s, "token ids", input_ids, "(B, T)", f"{T} WordPiece tokens, [CLS] first and [SEP] last")
    words = _step(s, "word embedding[ids]", emb.word_embeddings(input_ids), "(B, T, C)",
                  f"one row of the {config.vocab_size} × {config.hidden_size} table per token")
    positions = _step(s, "+ position embedding[0..T-1]", words + emb.position_embeddings(torch.arange(T))[None],
                      "(B, T, C)", f"learned positions ({config.max_position_embeddings} rows) are added")
    types = _step(s, "+ token type embedding[0]", positions + emb.token_type_embeddings(torch.zeros_like(input_ids)),
                  "(B, T, C)", "segment A (BERT's sentence-pair marker)")
    x = _step(s, "LayerNorm", emb.LayerNorm(types), "(B, T, C)", "BERT normalises the embeddings (post-norm model)")
    embed.max_abs_diff = float((x - model.embeddings(input_ids=input_ids)).abs().max())

    block = WalkSection("encoder layer 0 (bidirectional self-attention, post-norm)",
                        reference="model(ids).hidden_states[1]")
    s = block.steps
    q = _step(s, "q = query(x)", attn.query(x), "(B, T, nh·hs)", f"{nh} heads of {hs}")
    k = _step(s, "k = key(x)", attn.key(x), "(B, T, nh·hs)")
    v = _step(s, "v = value(x)", attn.value(x), "(B, T, nh·hs)")
    q, k, v = (_step(s, f"{name} split into heads", _heads(t, nh, hs), "(B, nh, T, hs)")
               for name, t in (("q", q), ("k", k), ("v", v)))
    scores = _step(s, "scores = q kᵀ / √hs", q @ k.transpose(-2, -1) / hs ** 0.5, "(B, nh, T, T)",
                   "no causal mask: an encoder token looks both ways")
    weights = _step(s, "weights = softmax(scores)", torch.softmax(scores, dim=-1), "(B, nh, T, T)",
                    "row i: how much token i looks at every token (rows sum to 1)")
    y = _step(s, "weights @ v", weights @ v, "(B, nh, T, hs)")
    y = _step(s, "heads merged", _merge(y), "(B, T, nh·hs)")
    y = _step(s, "output dense(heads)", attn_out.dense(y), "(B, T, C)")
    x = _step(s, "LayerNorm(x + attention)", attn_out.LayerNorm(y + x), "(B, T, C)",
              "post-norm: the residual sum is normalised (decoders normalise before each branch)")
    up = _step(s, "intermediate dense(x)", layer.intermediate.dense(x), "(B, T, I)",
               f"{config.intermediate_size // config.hidden_size}× wider")
    hidden = _step(s, "gelu", layer.intermediate.intermediate_act_fn(up), "(B, T, I)")
    down = _step(s, "output dense(hidden)", layer.output.dense(hidden), "(B, T, C)")
    x = _step(s, "LayerNorm(x + MLP) = output of layer 0", layer.output.LayerNorm(down + x), "(B, T, C)")
    reference = model(input_ids=input_ids, output_hidden_states=True).hidden_states[1]
    block.max_abs_diff = float((x - reference).abs().max())
    return [embed, block]


# --------------------------------------------------------------------------------------------
# T5

def _t5_attention(s: list[Step], attention, h: torch.Tensor, kv_source: torch.Tensor, bias: torch.Tensor | None,
                  *, causal: bool, label: str) -> torch.Tensor:
    """One T5 attention by hand: (B, Tq, C) queries over kv_source (B, Tk, C) → (B, Tq, C)."""
    nh, hs = attention.n_heads, attention.key_value_proj_dim
    source = "the encoder's output" if label == "cross" else "the same tokens"
    q = _step(s, "q = q(h)", attention.q(h), "(B, Tq, nh·hs)", f"{nh} heads of {hs}")
    k = _step(s, f"k = k({'encoder output' if label == 'cross' else 'h'})", attention.k(kv_source), "(B, Tk, nh·hs)",
              f"keys from {source}")
    v = _step(s, f"v = v({'encoder output' if label == 'cross' else 'h'})", attention.v(kv_source), "(B, Tk, nh·hs)",
              f"values from {source}")
    q, k, v = _heads(q, nh, hs), _heads(k, nh, hs), _heads(v, nh, hs)
    _step(s, "q, k, v split into heads", q, "(B, nh, Tq, hs)")
    scores = _step(s, "scores = q kᵀ", q @ k.transpose(-2, -1), "(B, nh, Tq, Tk)",
                   "T5 does not divide by √hs (its initialisation accounts for it)")
    if bias is not None:
        scores = _step(s, "+ relative position bias", scores + bias, "(B, nh, Tq, Tk)",
                       "a learned number per (head, distance bucket): T5's only position signal")
    if causal:
        Tq, Tk = scores.shape[-2:]
        allowed = torch.ones(Tq, Tk, dtype=torch.bool).tril()
        scores = _step(s, "causal mask", scores.masked_fill(~allowed, float("-inf")), "(B, nh, Tq, Tk)",
                       "a target token sees itself and earlier target tokens only")
    weights = _step(s, "weights = softmax(scores)", torch.softmax(scores.float(), dim=-1).type_as(scores),
                    "(B, nh, Tq, Tk)",
                    "row i: how much target token i reads each source token" if label == "cross" else
                    "rows sum to 1")
    y = _step(s, "weights @ v", weights @ v, "(B, nh, Tq, hs)")
    y = _step(s, "heads merged", _merge(y), "(B, Tq, nh·hs)")
    return _step(s, "o(heads)", attention.o(y), "(B, Tq, C)")


def _t5_ff(s: list[Step], layer_ff, x: torch.Tensor, d_ff: int) -> torch.Tensor:
    h = _step(s, "layer_norm (RMS)", layer_ff.layer_norm(x), "(B, T, C)")
    up = _step(s, "wi(h)", layer_ff.DenseReluDense.wi(h), "(B, T, I)", f"up to d_ff = {d_ff}")
    hidden = _step(s, "relu", torch.relu(up), "(B, T, I)")
    down = _step(s, "wo(hidden)", layer_ff.DenseReluDense.wo(hidden), "(B, T, C)")
    return _step(s, "x + MLP", x + down, "(B, T, C)", "residual add")


@torch.inference_mode()
def walk_t5(model, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor) -> list[WalkSection]:
    """Encoder block 0, decoder block 0 (self-attention, cross-attention, MLP) and the output head of a
    transformers `T5ForConditionalGeneration`, by hand; ids (1, Ts) and decoder ids (1, Tt)."""
    config = model.config
    outputs = model(input_ids=input_ids, decoder_input_ids=decoder_input_ids, output_hidden_states=True)
    enc_block, dec_block = model.encoder.block[0], model.decoder.block[0]
    Ts, Tt = input_ids.shape[1], decoder_input_ids.shape[1]

    encoder = WalkSection("encoder block 0 (bidirectional self-attention)",
                          reference="model(...).encoder_hidden_states[1]")
    s = encoder.steps
    _step(s, "source ids", input_ids, "(B, Ts)", f"{Ts} source tokens")
    x = _step(s, "shared embedding[ids]", model.shared(input_ids), "(B, Ts, C)",
              f"one {config.vocab_size} × {config.d_model} table for encoder, decoder and output head")
    self_attention = enc_block.layer[0]
    h = _step(s, "layer_norm (RMS)", self_attention.layer_norm(x), "(B, Ts, C)", "pre-norm, weight only")
    bias = self_attention.SelfAttention.compute_bias(Ts, Ts)  # (1, nh, Ts, Ts)
    _step(s, "relative position bias", bias, "(1, nh, Ts, Ts)",
          f"bucket of (key − query) distance, both directions, {config.relative_attention_num_buckets} buckets")
    y = _t5_attention(s, self_attention.SelfAttention, h, h, bias, causal=False, label="self")
    x = _step(s, "x + attention", x + y, "(B, Ts, C)", "residual add")
    x = _t5_ff(s, enc_block.layer[1], x, config.d_ff)
    encoder.max_abs_diff = float((x - outputs.encoder_hidden_states[1]).abs().max())
    encoder_output = outputs.encoder_last_hidden_state  # (B, Ts, C) after every block and the final norm
    _step(s, f"… blocks 1–{config.num_layers - 1}, final_layer_norm = encoder output", encoder_output, "(B, Ts, C)",
          "computed once; every decoder block's cross-attention reads it")

    decoder = WalkSection("decoder block 0: causal self-attention", reference="model(...).decoder_hidden_states[1]")
    s = decoder.steps
    _step(s, "target ids (shifted right)", decoder_input_ids, "(B, Tt)",
          f"{Tt} tokens: the start token (the pad token, id {config.pad_token_id}, as in T5) then the target so far")
    y = _step(s, "shared embedding[ids]", model.shared(decoder_input_ids), "(B, Tt, C)")
    self_attention = dec_block.layer[0]
    h = _step(s, "layer_norm (RMS)", self_attention.layer_norm(y), "(B, Tt, C)")
    bias = self_attention.SelfAttention.compute_bias(Tt, Tt)
    _step(s, "relative position bias (one direction)", bias, "(1, nh, Tt, Tt)",
          "the decoder's own table; only distances to earlier tokens")
    a = _t5_attention(s, self_attention.SelfAttention, h, h, bias, causal=True, label="self")
    y = _step(s, "y + self-attention", y + a, "(B, Tt, C)", "residual add")

    cross = WalkSection("decoder block 0: cross-attention to the encoder", reference="(continued in the next section)")
    s = cross.steps
    cross_layer = dec_block.layer[1]
    h = _step(s, "layer_norm (RMS)", cross_layer.layer_norm(y), "(B, Tt, C)")
    a = _t5_attention(s, cross_layer.EncDecAttention, h, encoder_output, None, causal=False, label="cross")
    y = _step(s, "y + cross-attention", y + a, "(B, Tt, C)",
              "residual add: the source's information enters the target stream here")

    mlp = WalkSection("decoder block 0: MLP", reference="model(...).decoder_hidden_states[1]")
    y = _t5_ff(mlp.steps, dec_block.layer[2], y, config.d_ff)
    mlp.max_abs_diff = float((y - outputs.decoder_hidden_states[1]).abs().max())

    head = WalkSection("output head", reference="model(...).logits")
    s = head.steps
    decoder_output = model.decoder(input_ids=decoder_input_ids, encoder_hidden_states=encoder_output).last_hidden_state
    last = _step(s, f"… blocks 1–{config.num_decoder_layers - 1}, final_layer_norm", decoder_output, "(B, Tt, C)")
    if config.tie_word_embeddings:
        last = _step(s, "× d_model^-0.5", last * config.d_model ** -0.5, "(B, Tt, C)",
                     "T5 rescales before its head, which is the embedding table itself")
    logits = _step(s, "logits = lm_head(y)", model.lm_head(last), "(B, Tt, V)", "a next-token distribution per target position")
    head.max_abs_diff = float((logits - outputs.logits).abs().max())
    return [encoder, decoder, cross, mlp, head]


# --------------------------------------------------------------------------------------------
# By name

T5_TOKENIZER_NOTE = ("T5's own SentencePiece vocabulary (32,128 pieces) is not installable offline: the text is cut "
                     "with MiniLM's WordPiece tokenizer (30,522 ids, all inside T5's table). With random weights only "
                     "the shapes and the computation mean something, not the numbers.")


def _labels(tokenizer, ids: list[int]) -> list[str]:
    return tokenizer.convert_ids_to_tokens(ids)


def family_walk(model_name: str, prompt: str, target: str = "") -> FamilyWalk:
    """The walk of an encoder (minilm-l6, a BERT folder) or an encoder-decoder (t5-small, t5-base).

    `target` is the decoder's text for T5 (default: the first words of the prompt)."""
    from llm_playground import zoo
    from llm_playground.inspection.families import ENCODER_DECODER_MODELS, RANDOM_SEED, random_t5

    if not prompt or not prompt.strip():
        raise PlaygroundError("the prompt is empty; give some text to push through the model")
    if model_name in ENCODER_DECODER_MODELS:
        tokenizer = zoo.load_tokenizer("minilm-l6")
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        target = target.strip() or " ".join(prompt.split()[:4])
        target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        if len(ids) > 512 or len(target_ids) > 512:
            raise PlaygroundError(f"the walk takes up to 512 tokens (got {len(ids)} source, {len(target_ids)} target); "
                                  "shorten the text")
        model = random_t5(model_name)
        decoder_ids = [model.config.pad_token_id] + target_ids  # T5 starts decoding from its pad token
        sections = walk_t5(model, torch.tensor([ids]), torch.tensor([decoder_ids]))
        return FamilyWalk(model=model_name, family="encoder-decoder", prompt=prompt, tokens=_labels(tokenizer, ids),
                          ids=ids, config=model.config.to_diff_dict(), sections=sections, target=target,
                          target_tokens=["<pad>"] + _labels(tokenizer, target_ids), target_ids=decoder_ids,
                          notes=[f"{model_name}: transformers' T5 architecture with random weights (seed {RANDOM_SEED})",
                                 T5_TOKENIZER_NOTE])
    spec = zoo.resolve(model_name)
    if spec.kind != "encoder" and spec.architecture != "bert":
        raise PlaygroundError(f"{spec.name} is a decoder: walk it with block_walk (llmpg block)")
    if spec.architecture != "bert":
        raise PlaygroundError(f"the encoder walk covers BERT-architecture models (minilm-l6), not {spec.architecture}")
    loaded = zoo.load_model(model_name)
    ids = loaded.tokenizer(prompt)["input_ids"]
    if len(ids) > spec.context_length:
        raise PlaygroundError(f"the prompt is {len(ids)} tokens, but {spec.name} reads at most {spec.context_length}; "
                              "shorten it")
    sections = walk_bert(loaded.model, torch.tensor([ids]))
    return FamilyWalk(model=spec.name, family="encoder-only", prompt=prompt, tokens=_labels(loaded.tokenizer, ids),
                      ids=ids, config=loaded.model.config.to_diff_dict(), sections=sections)


def walk_any(model_name: str, prompt: str, target: str = ""):
    """The walk that fits the model: `block_walk.block_walk` (a `BlockWalk`) for a decoder, `family_walk`
    (a `FamilyWalk`) for an encoder or an encoder-decoder."""
    from llm_playground import zoo
    from llm_playground.inspection.block_walk import block_walk
    from llm_playground.inspection.families import ENCODER_DECODER_MODELS, check_walkable

    check_walkable(model_name)
    if model_name in ENCODER_DECODER_MODELS or zoo.resolve(model_name).kind == "encoder":
        return family_walk(model_name, prompt, target)
    if target:
        raise PlaygroundError("a target text is for encoder-decoder models (t5-small, t5-base); "
                              f"{model_name} is a decoder: put all the text in the prompt")
    return block_walk(model_name, prompt)


def step_rows(steps: list[Step]) -> list[dict]:
    """Steps as table rows: step, shape, dims, rms, note."""
    return [{"step": s.name, "shape": "(" + ", ".join(map(str, s.shape)) + ")", "dims": s.dims,
             "rms": f"{s.rms:.4f}" if s.rms else "", "note": s.note} for s in steps]


def text_table(rows: list[dict], columns: list[str]) -> str:
    """A left-aligned text table with a header rule."""
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(r[i]) for r in cells]) for i, column in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def format_family_walk(walk: FamilyWalk) -> str:
    """A `FamilyWalk` as text: header, one table per section with its check, notes."""
    shown = lambda tokens: " | ".join(tokens)  # noqa: E731
    lines = [f"{walk.model} ({walk.family}): B=1, T={len(walk.ids)}: {shown(walk.tokens)}"]
    if walk.family == "encoder-decoder":
        lines.append(f"decoder input, T={len(walk.target_ids)}: {shown(walk.target_tokens)}")
    for section in walk.sections:
        lines += ["", section.title, text_table(step_rows(section.steps), ["step", "shape", "dims", "rms", "note"])]
        if section.max_abs_diff is not None:
            lines.append(f"hand walk vs {section.reference}: max |difference| = {section.max_abs_diff:.2e}")
    lines += [""] + [f"note: {note}" for note in walk.notes]
    return "\n".join(lines).rstrip()
