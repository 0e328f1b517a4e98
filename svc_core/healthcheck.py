"""`python -m svc_core.healthcheck [ADDRESS]`: exits 0 when a server reports it is healthy.

ADDRESS is ``host:port`` for a gRPC server (its standard health service must say SERVING) or
an ``http://`` URL (it must answer 200). Used by container health checks and the dev
supervisor. It defaults to ``HEALTHCHECK_ADDRESS``, else 127.0.0.1:50051.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def is_serving(address: str, *, service: str = "", timeout_s: float = 2.0) -> bool:
    """Whether the gRPC health service at ``address`` reports ``service`` as SERVING."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def is_http_ok(url: str, *, timeout_s: float = 2.0) -> bool:
    """Whether GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "address", nargs="?", default=os.environ.get("HEALTHCHECK_ADDRESS", "127.0.0.1:50051")
    )
    parser.add_argument("--service", default="", help="service name; empty for the server")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds")
    args = parser.parse_args()
    if args.address.startswith(("http://", "https://")):
        serving = is_http_ok(args.address, timeout_s=args.timeout)
    else:
        serving = is_serving(args.address, service=args.service, timeout_s=args.timeout)
    print("SERVING" if serving else "NOT_SERVING")
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
