"""Task pipelines named as transformers names them, run three ways on the models we have offline.

transformers' `pipeline("sentiment-analysis")` downloads a fine-tuned DistilBERT; `pipeline("summarization")`
a BART or T5. None of those installs offline (ASSETS.md), so each task here runs with what we
have, and says which method it used:

| task | methods |
|---|---|
| text-classification (alias sentiment-analysis) | `embeddings-logreg`: MiniLM sentence embeddings + a logistic-regression head trained on our labelled set; `embeddings-zero-shot`: similarity to label descriptions; `llm-few-shot`: SmolLM2 scores each label's log-likelihood after a few-shot prompt |
| zero-shot-classification | `embeddings` (similarity to "This text is about {label}.") or `llm` (label log-likelihood) |
| summarization | `llm`: the instruct model with a summarization prompt and a length limit, scored with ROUGE |
| feature-extraction | `tokens` (one vector per token, transformers' default) or `sentence` (mean-pooled, unit length) |
| text-generation | `llm`: our generator over a zoo model |

`tasks.get_task` resolves names and aliases (an unknown name lists the known ones); `run.run_task`
is what the CLI calls; `bench.sentiment_bench` measures every classification method side by side.
"""
