"""Gateway settings (prefix ``GATEWAY_``): upstream addresses, credentials, limits, deadlines."""

from __future__ import annotations

import socket
import uuid

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from svc_core.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Everything ``python -m gateway`` reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = Field(default=50051, ge=0, le=65535)

    # Upstreams (host:port), one per inference service.
    asr_address: str = "127.0.0.1:50052"
    llm_address: str = "127.0.0.1:50053"
    tts_address: str = "127.0.0.1:50054"
    lipsync_address: str = "127.0.0.1:50055"

    # The service credential the backend sends for the control plane; the gateway refuses to
    # start without one rather than serve sessions to anyone.
    api_key: SecretStr = SecretStr("")
    # Address clients reach this instance's Converse at (the engine URL handed out with each
    # session); empty means host:port as bound.
    public_address: str = ""

    # Sessions.
    max_sessions: int = Field(default=200, ge=1)
    idle_timeout_s: float = Field(default=600.0, gt=0)
    token_ttl_s: int = Field(default=3600, ge=1, le=86400)
    # Ended and expired sessions stay readable (GetSession, ListSessions) this long.
    ended_retention_s: float = Field(default=3600.0, ge=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)
    # Where sessions live so a restarted gateway, or another replica, resumes them: "" (or
    # "sqlite") for a SQLite file under GATEWAY_DATA_DIR, "sqlite:///<path>" for another
    # file, or a "redis://host:port/db" URL in deployment (replicas share it).
    session_store: str = ""
    # This gateway's name in the session store; keep it stable across restarts of the same
    # replica (it takes its own streams over at once). Empty: <hostname>:<port>.
    instance_id: str = ""
    # A gateway counts as alive this long after its last heartbeat (one per sweep); the
    # stream of a session whose gateway died is taken over by another after this long.
    instance_ttl_s: float = Field(default=10.0, gt=0)
    # A session whose Converse stream closed ends when no client reconnects within this long.
    disconnect_grace_s: float = Field(default=30.0, ge=0)
    # Failed engine-token checks (CheckEngineToken, Converse) allowed per minute for one
    # session id and for one peer address; past either, RESOURCE_EXHAUSTED.
    token_failures_per_session_per_minute: int = Field(default=10, ge=1)
    token_failures_per_peer_per_minute: int = Field(default=120, ge=1)
    # Turns of history sent to the LLM with each new question.
    max_history_turns: int = Field(default=20, ge=0)

    # Barge-in: speech must last this long past its onset (on the input audio timeline) before
    # it interrupts a playing turn. The ASR confirms an onset after 150 ms of speech (and its
    # VAD does not take coughs or noise for speech), so by default the confirmation is the
    # guard: the 200 ms this was before waited 40 ms more without ending any false start
    # first (the ASR reports a sound's end only after a pause), and stopped the tutor 250-260 ms
    # after the onset at p95 (issue 19's target: 250).
    false_start_guard_ms: int = Field(default=150, ge=0)
    # A final transcript that arrives while a turn plays, without a barge-in before it, starts
    # a new turn only with at least this many words (shorter ones are backchannel).
    false_start_min_words: int = Field(default=2, ge=1)

    # A student who pauses mid-question may be taken as finished ("what happens when you
    # mix ... red and blue paint"). When they go on within this long of the last word and the
    # answer to the first part has not played out, both parts are one question; 0: never.
    continuation_gap_ms: int = Field(default=1500, ge=0, le=10_000)

    # Speculative answers: when the interim transcript has not changed for this long and the
    # student is quiet, the answer to it is prepared (hidden) before the final transcript;
    # 0 turns speculation off. Short, so the answer is ready when the end-of-turn model's
    # verdict comes (~200 ms after the last word): the last interim before the end of speech
    # is the final transcript in nearly every turn, and a wrong guess costs only CPU.
    speculation_stable_ms: int = Field(default=100, ge=0)
    # Interim transcripts shorter than this many words are not answered speculatively.
    speculation_min_words: int = Field(default=2, ge=1)
    # A final transcript the ASR is less confident of than this is not answered by a
    # speculation (prepared without its confidence) but afresh, so the tutor can ask back;
    # keep it at llm_svc's LLM_CLARIFY_BELOW_CONFIDENCE.
    confident_transcript: float = Field(default=0.5, ge=0.0, le=1.0)

    # Media is sent at most this far ahead of real-time playback, so the client's buffer stays
    # small (barge-in silences it quickly) and upstream work stops when a turn is cut short.
    # 0 sends as fast as upstreams produce.
    media_lead_ms: int = Field(default=1500, ge=0)
    # About how long after a turn is planned its first frame replaces the client's idle loop:
    # the turn asks lip-sync to start from the idle frame on screen then (issue 14).
    first_frame_delay_ms: int = Field(default=250, ge=0, le=5000)

    # Deadlines.
    upstream_connect_timeout_s: float = Field(default=3.0, gt=0)
    first_response_timeout_s: float = Field(default=15.0, gt=0)
    turn_timeout_s: float = Field(default=180.0, gt=0)
    admin_timeout_s: float = Field(default=30.0, gt=0)
    avatar_create_timeout_s: float = Field(default=900.0, gt=0)

    # Bounded queues between pipeline stages (messages).
    stage_queue_size: int = Field(default=64, ge=1)
    output_queue_size: int = Field(default=256, ge=1)
    # TTS audio waiting for lip-sync or the client (chunks of 20-40 ms): room for a whole
    # answer, so TTS is read as it speaks and its word timings arrive before playback.
    speech_queue_size: int = Field(default=3000, ge=1)

    # Reconnect backoff of upstream channels: short, so a restarted upstream is used again
    # within about a second.
    reconnect_backoff_min_ms: int = Field(default=200, ge=10)
    reconnect_backoff_max_ms: int = Field(default=1000, ge=10)

    def instance_name(self) -> str:
        """This gateway's name in the session store."""
        if self.instance_id:
            return self.instance_id
        # Port 0 is picked at bind time, so a restart would not find it again: a fresh name.
        return f"{socket.gethostname()}:{self.port or uuid.uuid4().hex[:12]}"

    def engine_url(self, bound_port: int) -> str:
        """The address handed out as a session's engine URL."""
        return self.public_address or f"{self.host}:{bound_port}"
