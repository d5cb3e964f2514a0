"""Look inside a model: module tree, parameter counts, memory and FLOPs sizing, attention maps."""
