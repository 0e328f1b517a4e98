"""What the application holds for its lifetime: settings, database, gateway, background work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from web_backend.app.core.config import Settings
from web_backend.app.core.gateway import GatewayClient
from web_backend.app.core.login_throttle import LoginThrottle
from web_backend.app.core.pdf_worker import PdfTextReader

if TYPE_CHECKING:
    from web_backend.app.core.avatar_jobs import AvatarJobRunner
    from web_backend.app.core.turn_recorder import SessionTurnRecorder


@dataclass
class AppContext:
    """Everything routes reach through dependencies (kept on ``app.state.ctx``)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    gateway: GatewayClient
    jwt_secret: str
    avatar_jobs: AvatarJobRunner
    turn_recorder: SessionTurnRecorder
    login_throttle: LoginThrottle
    pdfs: PdfTextReader
