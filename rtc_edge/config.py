"""Edge settings (prefix ``RTC_``): HTTP port, gateway address, TURN, ICE and peer limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from rtc_edge.video_encoding import VIDEO_CODECS, VideoCodecName
from svc_core.settings import ServiceSettings

# Equals static-auth-secret in deploy/coturn/dev.conf: used only with RTC_DEVELOPMENT=1 (what
# `make dev` sets). It is public, so outside development the edge refuses to start with it or
# with no secret at all (issue 21, item 8), as the gateway does without its API key.
DEV_TURN_SECRET = "dev-turn-secret"


class EdgeSettings(ServiceSettings):
    """Everything ``python -m rtc_edge`` reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="RTC_", extra="ignore")

    port: int = 8080
    # The event loop: uvloop's costs less per packet and timer than asyncio's (the edge sends
    # and receives ~125 RTP packets a second per student, issue 20); asyncio if it is missing.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    # The gateway serving Converse (host:port).
    gateway_address: str = "127.0.0.1:50051"
    # Service credential for StreamIdleFrames (the avatar's idle loop is a control-plane call).
    # Empty: the peer's engine token is tried, then a plain still frame is shown.
    gateway_api_key: SecretStr = SecretStr("")
    # Seconds to wait for the gateway's `ready` (or its refusal) when a peer offers.
    gateway_ready_timeout_s: float = Field(default=10.0, gt=0)

    # A developer's machine (`make dev`): the public development TURN secret is allowed.
    development: bool = False
    # TURN REST credentials: the secret shared with coturn (static-auth-secret), the URLs handed
    # to browsers, and the credential lifetime. Required unless `development`.
    turn_secret: SecretStr = SecretStr("")
    turn_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["turn:127.0.0.1:3478?transport=udp"]
    )
    turn_ttl_s: int = Field(default=3600, ge=60, le=86400)
    # Tell browsers to use relayed candidates only (hosts where only the TURN ports are open).
    relay_only: bool = True
    # The address the edge's own host candidates use: one coturn can reach, so the edge itself
    # spends no relay ports. Loopback matches deploy/coturn/dev.conf; empty uses every
    # non-loopback interface (aioice's default).
    host_candidate_ip: str = "127.0.0.1"

    # Origins whose pages may frame the student page (the web_backend's), comma-separated.
    frame_ancestors: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )

    # Peers served at once; more are refused with 503.
    max_peers: int = Field(default=20, ge=1)
    # Seconds a peer may take to connect after its answer before it is dropped.
    connect_timeout_s: float = Field(default=30.0, gt=0)

    # Outgoing media. Size and rate are defaults: a student's offer may ask for others
    # ({"video": {"width": W, "height": H, "fps": F}}); width/height 0: the avatar's own.
    video_fps: int = Field(default=25, ge=1, le=60)
    video_width: int = Field(default=0, ge=0, le=1920, multiple_of=2)
    video_height: int = Field(default=0, ge=0, le=1080, multiple_of=2)
    # Codecs offered to browsers, most preferred first (RTC_VIDEO_CODECS=h264,vp8).
    video_codecs: Annotated[list[VideoCodecName], NoDecode] = Field(
        default_factory=lambda: list(VIDEO_CODECS), min_length=1
    )
    video_bitrate_kbps: int = Field(default=800, ge=50, le=20000)
    # A key frame at least this often (aiortc does not forward a browser's key-frame requests
    # to pre-encoded streams; periodic key frames recover a picture after loss).
    video_keyframe_interval_s: float = Field(default=2.0, gt=0, le=30)
    # H.264 on an NVIDIA GPU (NVENC) instead of libx264; falls back to libx264 if unavailable.
    video_hardware_encoder: bool = False
    # At most this many idle frames are fetched; an avatar's loop is fetched whole when shorter
    # (its period comes from GetAvatar), so it plays round without a seam.
    idle_max_frames: int = Field(default=500, ge=1, le=1000)
    # The student's microphone after this many seconds of quiet goes to the gateway in
    # messages of microphone_quiet_batch_ms instead of 20 ms (0: never batched); sound flushes
    # at once. Longer than any silence that ends a turn (smart turn waits up to 2.5 s).
    microphone_quiet_after_s: float = Field(default=3.0, gt=0, le=60)
    microphone_quiet_batch_ms: int = Field(default=200, ge=0, le=1000)
    # Ask the student's browser for Opus DTX (usedtx=1 in the answer): in silence it sends a
    # 1-byte packet every 400 ms instead of 50 packets a second, and the edge makes the
    # silence for ASR itself (rtc_edge.microphone_dtx). False: silence packets throughout.
    microphone_dtx: bool = True
    # Opus DTX between turns: after 200 ms of silence the tutor's audio is one 1-byte packet
    # every 400 ms instead of a packet every 20 ms, as a browser's own Opus sends silence
    # (two thirds of a listening student's packets; false: 20 ms silence packets throughout).
    audio_dtx: bool = True
    # Seconds of the tutor's media held per peer; the gateway sends at most ~1.5 s ahead.
    media_buffer_s: float = Field(default=4.0, gt=0)
    # Size of the still frame shown when the idle loop is unavailable.
    fallback_width: int = Field(default=512, ge=16)
    fallback_height: int = Field(default=512, ge=16)

    @field_validator("video_codecs", mode="before")
    @classmethod
    def _split_codecs(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [name.strip().lower() for name in value.split(",") if name.strip()]
        return value

    @field_validator("turn_urls", "frame_ancestors", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        # RTC_TURN_URLS=turn:a:3478,turn:b:3478 as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @model_validator(mode="after")
    def _turn_secret_outside_development(self) -> EdgeSettings:
        secret = self.turn_secret.get_secret_value()
        if self.development:
            if not secret:
                self.turn_secret = SecretStr(DEV_TURN_SECRET)
        elif not secret:
            raise ValueError(
                "RTC_TURN_SECRET is not set: set it to coturn's static-auth-secret "
                "(RTC_DEVELOPMENT=1 uses deploy/coturn/dev.conf's public one)"
            )
        elif secret == DEV_TURN_SECRET:
            raise ValueError(
                "RTC_TURN_SECRET is the public development secret: set coturn's real "
                "static-auth-secret, or RTC_DEVELOPMENT=1 on a developer's machine"
            )
        return self


@dataclass(frozen=True)
class VideoFormat:
    """One session's outgoing video: size (0: the avatar's own) and frame rate."""

    width: int
    height: int
    fps: int

    @classmethod
    def parse(cls, requested: object, settings: EdgeSettings) -> VideoFormat:
        """The format a student's offer asks for (``{"width", "height", "fps"}``), or the default.

        Raises:
            ValueError: The request is not such an object or its values are out of range.
        """
        if requested is None:
            return cls(settings.video_width, settings.video_height, settings.video_fps)
        if not isinstance(requested, dict) or set(requested) - {"width", "height", "fps"}:
            raise ValueError('video must be an object with "width", "height" and "fps"')
        values = {
            "width": requested.get("width", settings.video_width),
            "height": requested.get("height", settings.video_height),
            "fps": requested.get("fps", settings.video_fps),
        }
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"video {name} must be an integer")
        width, height, fps = values["width"], values["height"], values["fps"]
        if (width == 0) != (height == 0):
            raise ValueError("give both video width and height, or neither")
        if width and not (16 <= width <= 1920 and 16 <= height <= 1080):
            raise ValueError("video size must be within 16x16 and 1920x1080")
        if width % 2 or height % 2:
            raise ValueError("video width and height must be even")
        if not 1 <= fps <= 60:
            raise ValueError("video fps must be 1-60")
        return cls(width, height, fps)
