"""Prometheus metrics of a worker (`metrics` extra): requests, errors, latency, bytes."""

from __future__ import annotations

from typing import Any

from skyline.errors import ConfigError


class WorkerMetrics:
    """Counters and a latency histogram in a private registry, served at /metrics on demand."""

    def __init__(self, node: str) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:
            raise ConfigError(
                "worker metrics need prometheus-client", fix="pip install 'skyline[metrics]'"
            ) from exc
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        self.node = node
        labels = ["node"]
        self.requests = prom.Counter(
            "skyline_requests",
            "Requests handled, by outcome",
            [*labels, "outcome"],
            registry=self.registry,
        )
        self.errors = prom.Counter(
            "skyline_errors", "Error replies, by kind", [*labels, "kind"], registry=self.registry
        )
        self.latency = prom.Histogram(
            "skyline_request_latency_seconds",
            "Time to handle a request on this worker",
            labels,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.bytes_in = prom.Counter(
            "skyline_bytes_received", "Frame bytes received", labels, registry=self.registry
        )
        self.bytes_out = prom.Counter(
            "skyline_bytes_sent", "Frame bytes sent", labels, registry=self.registry
        )
        self._server: Any = None

    def observe(self, outcome: str, seconds: float, bytes_in: int, bytes_out: int) -> None:
        self.requests.labels(self.node, outcome).inc()
        self.latency.labels(self.node).observe(seconds)
        self.bytes_in.labels(self.node).inc(bytes_in)
        self.bytes_out.labels(self.node).inc(bytes_out)

    def error(self, kind: str) -> None:
        self.errors.labels(self.node, kind).inc()

    def serve_http(self, port: int = 0, addr: str = "127.0.0.1") -> int:
        """Start the /metrics endpoint; returns the port (0 picks a free one)."""
        server, _thread = self._prom.start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def text(self) -> str:
        return self._prom.generate_latest(self.registry).decode()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
