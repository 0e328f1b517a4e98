"""Backend settings (env prefix ``WEB_``), and the development JWT secret kept in the data dir."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Everything ``python -m web_backend`` reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    # Where `make dev` keeps the backend's data, so `python -m web_backend.cli` run from the
    # repository root writes the same database the running backend reads (issue 22).
    data_dir: Path = Path("var/dev/web")
    # Empty: SQLite under data_dir. PostgreSQL: postgresql+psycopg://user:pass@host/db.
    database_url: str = ""

    # Empty: a random secret is generated once and kept in data_dir/jwt_secret (development);
    # deployments set it so every replica signs and checks with the same key.
    jwt_secret: SecretStr = SecretStr("")
    access_token_ttl_s: int = Field(default=8 * 3600, ge=60)

    gateway_address: str = "127.0.0.1:50051"
    gateway_api_key: SecretStr = SecretStr("")
    gateway_timeout_s: float = Field(default=30.0, gt=0)
    # Avatar creation decodes and analyses a whole video: minutes on a CPU.
    avatar_create_timeout_s: float = Field(default=900.0, gt=0)
    # Lifetime asked for each live session's engine token (0: the gateway's default).
    session_ttl_s: int = Field(default=3600, ge=0, le=86400)

    rtc_edge_url: str = "http://127.0.0.1:8080"
    # The backend's address as browsers reach it, for the join links it hands out (empty: the
    # address the admin's request came to; the CLI then uses http://<host>:<port>).
    public_url: str = ""
    # How long a student's join link stays valid.
    join_link_ttl_s: int = Field(default=7 * 86400, ge=60, le=365 * 86400)
    # TURN REST credentials (username "<expiry>:<user>", password base64(HMAC-SHA1(secret,
    # username))), computed here with the secret coturn shares, so the backend can hand the
    # student page its ICE servers without asking the edge.
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: SecretStr = SecretStr("")
    turn_ttl_s: int = Field(default=3600, ge=60)
    stun_urls: list[str] = Field(default_factory=list)
    ice_relay_only: bool = False

    # Failed logins allowed per account and per client address, in `limits` notation; tiers
    # make the wait grow with the failures. The storage is memory:// (one process) or a shared
    # store such as redis://host:6379 when several replicas serve logins.
    login_limits_per_account: str = "5/minute;20/hour;100/day"
    login_limits_per_address: str = "30/minute;300/hour;1000/day"
    login_throttle_storage: str = "memory://"

    # Documents: a PDF is read in a worker process with these limits, so one huge or
    # malicious file cannot stall the backend.
    max_pdf_pages: int = Field(default=2000, ge=1)
    pdf_timeout_s: float = Field(default=30.0, gt=0)
    pdf_memory_mb: int = Field(default=1024, ge=64)
    # Characters of text a document may yield (what the knowledge base indexes).
    max_document_chars: int = Field(default=5_000_000, ge=1)
    # PDFs read at once; more wait their turn.
    pdf_workers: int = Field(default=2, ge=1, le=32)

    max_video_bytes: int = Field(default=100 * MIB, ge=1)
    max_voice_bytes: int = Field(default=50 * MIB, ge=1)
    max_document_bytes: int = Field(default=10 * MIB, ge=1)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, SQLite under the data dir unless one is configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'web_backend.sqlite3').resolve()}"

    def resolved_jwt_secret(self) -> str:
        """The JWT signing secret: configured, or generated once and kept under the data dir."""
        configured = self.jwt_secret.get_secret_value()
        if configured:
            return configured
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        # Owner-only from the first byte: the secret signs every session's token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        logger.warning("WEB_JWT_SECRET is not set: generated one in %s (development only)", path)
        return secret
