"""`/metrics` in Prometheus' text format (prometheus_client, one registry per app):

    llmpg_requests_total{endpoint="/v1/chat/completions",status="200"}
    llmpg_prompt_tokens_total{model=…}, llmpg_generation_tokens_total{model=…}
    llmpg_time_to_first_token_seconds (histogram, per model)
    llmpg_queue_depth (requests waiting for a generation slot), llmpg_requests_running
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("llmpg_requests", "HTTP requests answered, by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.prompt_tokens = Counter("llmpg_prompt_tokens", "Prompt tokens read", ["model"], registry=self.registry)
        self.generation_tokens = Counter("llmpg_generation_tokens", "Tokens generated", ["model"],
                                         registry=self.registry)
        self.time_to_first_token = Histogram("llmpg_time_to_first_token_seconds",
                                             "Seconds from a request's arrival to its first generated token",
                                             ["model"], buckets=TTFT_BUCKETS, registry=self.registry)
        queue = Gauge("llmpg_queue_depth", "Generations waiting for a slot", registry=self.registry)
        queue.set_function(lambda: engine.queue_depth())
        running = Gauge("llmpg_requests_running", "Generations running now", registry=self.registry)
        running.set_function(lambda: engine.running())

    def render(self) -> bytes:
        return generate_latest(self.registry)
