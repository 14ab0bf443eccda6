"""CloudWatch metrics of each request, as EMF lines in the function's log (Powertools Metrics).

Per request: `Latency` (ms), `Requests` and, in a new container, `ColdStart`, by `endpoint`;
`StoreTime` (ms) by `endpoint` and `store` (`pg`, `ch`: the same figures as `Server-Timing`);
and for an error answer `4xx` or `5xx` by `endpoint` and `cause` (the error's class, e.g.
`StoreTimeout`, `Forbidden`, `NotFound`). Powertools' `service` dimension
(POWERTOOLS_SERVICE_NAME) is on every line. Powertools Metrics is already loaded with the Logger,
so this adds no import to a cold start. POWERTOOLS_METRICS_DISABLED=true turns it off (`make run`).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import Metrics, MetricUnit, single_metric

from analytics_common import config

DEFAULT_NAMESPACE = "PlatformAnalytics"


class _Container:
    """Module state: a container serves one request at a time."""

    def __init__(self) -> None:
        self.cold_start = True
        self.cause: str | None = None  # why the current request gets an error answer


_container = _Container()


def namespace() -> str:
    return config.env("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE


def note_cause(cause: str) -> None:
    """Why the current request gets an error answer (set where the error is mapped to HTTP)."""
    _container.cause = cause


def reset() -> None:
    _container.cause = None


def emit_request(endpoint: str, status: int, latency_ms: float, store_seconds: Mapping[str, float]) -> None:
    metrics = Metrics(namespace=namespace())
    metrics.add_dimension("endpoint", endpoint)
    metrics.add_metric("Latency", MetricUnit.Milliseconds, latency_ms)
    metrics.add_metric("Requests", MetricUnit.Count, 1)
    if _container.cold_start:
        metrics.add_metric("ColdStart", MetricUnit.Count, 1)
        _container.cold_start = False
    metrics.flush_metrics()
    metrics.clear_metrics()  # flush clears only what it prints: disabled (make run), the set would keep growing
    for store, seconds in store_seconds.items():
        _single("StoreTime", MetricUnit.Milliseconds, round(seconds * 1000, 1), endpoint=endpoint, store=store)
    if status >= 400:
        _single(f"{status // 100}xx", MetricUnit.Count, 1, endpoint=endpoint, cause=_container.cause or "Unknown")


def _single(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    with single_metric(name=name, unit=unit, value=value, namespace=namespace()) as metric:
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(dimension, dimension_value)
