"""GET /metrics: the edge's load in Prometheus' text format, for scraping and autoscaling.

The edge scales on connected peers (deploy/k8s/rtc_edge.yaml): video encoding makes peers, not
requests, what costs CPU here.
"""

from __future__ import annotations

from aiohttp import web

CONTENT_TYPE = "text/plain; version=0.0.4"


def render_metrics(*, connected_peers: int, max_peers: int) -> str:
    """The exposition text for the edge's gauges."""
    return (
        "# HELP vtutor_rtc_edge_connected_peers WebRTC peers this edge serves now.\n"
        "# TYPE vtutor_rtc_edge_connected_peers gauge\n"
        f"vtutor_rtc_edge_connected_peers {connected_peers}\n"
        "# HELP vtutor_rtc_edge_max_peers Peers this edge accepts at most (RTC_MAX_PEERS).\n"
        "# TYPE vtutor_rtc_edge_max_peers gauge\n"
        f"vtutor_rtc_edge_max_peers {max_peers}\n"
    )


def metrics_response(*, connected_peers: int, max_peers: int) -> web.Response:
    body = render_metrics(connected_peers=connected_peers, max_peers=max_peers)
    return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})
