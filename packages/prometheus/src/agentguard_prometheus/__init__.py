"""agentguard-prometheus: agentguard events as Prometheus metrics, and ``/metrics`` in-process.

Example::

    from agentguard_prometheus import PrometheusSubscriber, start_http_server

    PrometheusSubscriber().attach()  # the default bus, prometheus-client's REGISTRY
    start_http_server(9464)  # http://127.0.0.1:9464/metrics
"""

from __future__ import annotations

from agentguard_prometheus.server import MetricsServer, start_http_server
from agentguard_prometheus.subscriber import PrometheusSubscriber

__all__ = ["MetricsServer", "PrometheusSubscriber", "start_http_server"]
