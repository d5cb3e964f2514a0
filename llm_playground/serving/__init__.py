"""Serving our models to other programs: an OpenAI- and Anthropic-compatible API server (`app`,
started by `llmpg serve`), behind one narrow generation interface (`engine.Engine`) that the
continuous-batching scheduler also implements."""
