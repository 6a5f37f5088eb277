"""Prometheus metrics on a per-app registry (no import-time globals): requests, latency, model versions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _ModelCollector(Collector):
    """Reads the store at scrape time, so a reload shows up without bookkeeping."""

    def __init__(self, describe: Callable[[], list[dict[str, Any]]]):
        self._describe = describe

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily(
            "meterwise_model_info", "loaded model version per kind (value 1)", labels=["kind", "version", "source"]
        )
        ready = GaugeMetricFamily("meterwise_model_ready", "1 when the kind is loaded", labels=["kind"])
        for m in self._describe():
            ready.add_metric([m["kind"]], 1.0 if m["ready"] else 0.0)
            if m["ready"]:
                info.add_metric([m["kind"], str(m["version"]), str(m["source"])], 1.0)
        yield info
        yield ready


class _MonitoringCollector(Collector):
    """Reads the latest monitoring status at scrape time (``meterwise monitor`` writes it)."""

    def __init__(self, read_status: Callable[[], dict[str, Any] | None]):
        self._read = read_status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        codes = {"unavailable": -1.0, "ok": 0.0, "warn": 1.0, "alert": 2.0}
        status = GaugeMetricFamily(
            "meterwise_monitoring_status", "monitoring status per kind: -1 unavailable, 0 ok, 1 warn, 2 alert",
            labels=["kind"],
        )  # fmt: skip
        value = GaugeMetricFamily(
            "meterwise_monitoring_metric",
            "latest monitoring figure (PSI, AUC, MAPE, coverage...)",
            labels=["kind", "metric"],
        )
        breaches = GaugeMetricFamily("meterwise_monitoring_breaches", "open breaches", labels=["kind", "severity"])
        latest = self._read() or {}
        for kind, model in latest.get("models", {}).items():
            status.add_metric([kind], codes.get(model.get("status"), -1.0))
            for name, v in model.get("metrics", {}).items():
                value.add_metric([kind, name], float(v))
            for severity in ("warn", "alert"):
                n = sum(b.get("severity") == severity for b in model.get("breaches", []))
                breaches.add_metric([kind, severity], float(n))
        inputs = latest.get("inputs", {})
        for table in inputs.get("tables", []):
            value.add_metric(["inputs", f"rejection_rate_{table['table']}"], float(table["rejection_rate"]))
        yield status
        yield value
        yield breaches


class Metrics:
    """Request counters and latency histograms, labelled by route template (bounded cardinality)."""

    def __init__(self, describe_models: Callable[[], list[dict[str, Any]]]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "meterwise_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "meterwise_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter("meterwise_scored_rows", "rows scored", ["kind", "source"], registry=self.registry)
        self.reloads = Counter(
            "meterwise_model_reloads", "reload attempts", ["kind", "outcome"], registry=self.registry
        )
        self.registry.register(_ModelCollector(describe_models))
        self._children: dict[tuple[str, str, int], tuple] = {}  # labels() takes a lock: resolve once

    def watch_monitoring(self, read_status: Callable[[], dict[str, Any] | None]) -> None:
        """Expose the latest monitoring status (``meterwise_monitoring_*`` gauges), read at scrape time."""
        self.registry.register(_MonitoringCollector(read_status))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
