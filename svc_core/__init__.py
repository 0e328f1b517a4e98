"""What every Virtual Tutor service stands on: serving, settings, logs, telemetry, audio, errors."""

from svc_core.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceError,
    Unauthenticated,
    Unavailable,
)
from svc_core.server import GrpcServer, ServiceBinding, StartupError, run_service, serve
from svc_core.settings import ServiceSettings
from svc_core.streams import split_config

__all__ = [
    "AlreadyExists",
    "DeadlineExceeded",
    "FailedPrecondition",
    "GrpcServer",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "ServiceBinding",
    "ServiceError",
    "ServiceSettings",
    "StartupError",
    "Unauthenticated",
    "Unavailable",
    "run_service",
    "serve",
    "split_config",
]
