"""Look inside a model.

- `sizing`: a model known only by its dimensions (`ModelDimensions`, presets such as llama2-7b) →
  exact parameter count per kind, memory (weights, KV cache, training) and FLOPs per token.
- `counts`: any torch model → module tree with shapes, parameters per kind (tied weights once).
- `attention_maps`: attention weights per layer and head for a prompt, as data and heat maps.
- `moe_demo`: expert load of a tiny mixture-of-experts model, without and with the balancing loss.
- `next_token`, `block_walk`: the next-token table and a step-by-step walk through a block.

Modules are imported on use, so `import llm_playground.inspection` stays light.
"""
