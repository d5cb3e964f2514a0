"""Training lab: n-gram baselines, the cross-entropy / perplexity explainer, and (later) the
neural trainer, its data, checkpoints and experiments."""
