"""Serving our models to other programs: continuous batching over the fast engine (`batching`)."""
