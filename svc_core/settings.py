"""Settings base shared by every service: pydantic-settings with one env prefix per service."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ServiceSettings(BaseSettings):
    """Settings every gRPC service reads.

    Subclasses set their own prefix, for example
    ``model_config = SettingsConfigDict(env_prefix="ASR_")``, so ``ASR_PORT`` sets ``port``.
    """

    model_config = SettingsConfigDict(env_prefix="SVC_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    log_level: LogLevel = "INFO"
    data_dir: Path = Path("var")
    # Seconds in-flight calls get to finish after SIGTERM before they are cancelled.
    grace_period_s: float = Field(default=5.0, ge=0)
    # Seconds health reports NOT_SERVING, while still serving, before the server stops
    # accepting calls: lets load balancers and clients watching health move away first.
    drain_period_s: float = Field(default=0.0, ge=0)
    max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    keepalive_time_s: float = Field(default=30.0, gt=0)
    keepalive_timeout_s: float = Field(default=10.0, gt=0)
    # Before ending a streaming call with an error, the server reads what the client is still
    # sending until it pauses this long (or half-closes), at most reject_drain_max_s (0: no
    # drain): a client whose write is in flight when the call ends reads "INTERNAL" instead of
    # the real status.
    reject_drain_pause_s: float = Field(default=0.1, ge=0)
    reject_drain_max_s: float = Field(default=0.5, ge=0)
    # Blocking inference runs in a pool of this many threads.
    worker_threads: int = Field(default=4, ge=1, le=64)

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, port: int) -> int:
        # A validator rather than Field bounds: subclasses redeclare `port` with their own
        # default, which would drop Field constraints.
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is outside 0-65535")
        return port

    @property
    def bind_address(self) -> str:
        """The host:port the server listens on."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
