"""Runs the test EchoService as a service process: `python echo_process.py GENERATED_DIR`.

Used to check what `python -m <service>` does on SIGTERM; settings come from ECHO_* variables.
"""

from __future__ import annotations

import importlib
import sys

from pydantic_settings import SettingsConfigDict

from svc_core.server import ServiceBinding, run_service
from svc_core.settings import ServiceSettings


class EchoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ECHO_", extra="ignore")


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    pb2 = importlib.import_module("echo_pb2")
    pb2_grpc = importlib.import_module("echo_pb2_grpc")
    from tests.svc_core.conftest import make_echo_servicer

    def bindings():
        servicer = make_echo_servicer(pb2, pb2_grpc)
        return [ServiceBinding.of(servicer, pb2_grpc, pb2)], None, None

    run_service("echo", EchoSettings(), bindings)


if __name__ == "__main__":
    main()
