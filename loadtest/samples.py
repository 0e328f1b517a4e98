"""What one simulated turn measured, and the per-turn numbers derived from it.

Client times are ``time.monotonic()`` seconds on the load tester. End of speech is when the
last sample of the question was sent (audio is sent in real time, each 20 ms chunk once it
has been "spoken", as a microphone delivers it). Gateway times come from the turn's
TurnTimings (µs on the gateway's stream clock) and are reported separately.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

# Stages measured at the client, from the end of speech; in pipeline order.
CLIENT_STAGES = (
    "eos_to_final_transcript",
    "eos_to_first_token",
    "eos_to_first_audio",
    "eos_to_first_frame",
)
OUTCOMES = ("completed", "interrupted", "failed", "unanswered")


@dataclass
class MediaLog:
    """Media of a turn as received: arrival times, and what the frames say about A/V sync."""

    arrivals: list[float] = field(default_factory=list)
    # Playback model: frame i shows at max(arrival, first arrival + (pts_i - pts_0)).
    pts_s: list[float] = field(default_factory=list)
    # |audio position - video pts| per frame, ms (paired frames carry their own audio).
    av_offsets_ms: list[float] = field(default_factory=list)
    audio_pts_us: int | None = None
    audio_samples: int = 0

    def add_frame(
        self, arrival: float, video_pts_us: int, audio_pts_us: int, samples: int, rate: int
    ) -> None:
        """Logs a paired media frame (gRPC)."""
        if self.audio_pts_us is None:
            self.audio_pts_us = audio_pts_us
        # Where the audio clock stands if every frame carried exactly the audio it covers.
        audio_position_us = self.audio_pts_us + self.audio_samples * 1_000_000 // max(rate, 1)
        self.av_offsets_ms.append(
            max(abs(audio_position_us - video_pts_us), abs(audio_pts_us - video_pts_us)) / 1000
        )
        self.audio_samples += samples
        self.arrivals.append(arrival)
        self.pts_s.append(video_pts_us / 1e6)

    def add_video(self, arrival: float, pts_s: float) -> None:
        """Logs a video frame and its presentation time (WebRTC: from its RTP timestamp)."""
        self.arrivals.append(arrival)
        self.pts_s.append(pts_s)

    def add_arrival(self, arrival: float) -> None:
        """Logs a decoded frame whose timestamps the client does not see (WebRTC)."""
        self.arrivals.append(arrival)

    def display_times(self) -> list[float]:
        """When a player that starts at the first frame's arrival shows each frame."""
        if not self.pts_s:
            return list(self.arrivals)
        start, first_pts = self.arrivals[0], self.pts_s[0]
        shown: list[float] = []
        for arrival, pts in zip(self.arrivals, self.pts_s, strict=True):
            due = start + (pts - first_pts)
            shown.append(max(arrival, due, shown[-1] if shown else start))
        return shown

    def frame_rate_fps(self) -> float | None:
        """Frames shown per second over the turn's media."""
        shown = self.display_times()
        if len(shown) < 2 or shown[-1] <= shown[0]:
            return None
        return (len(shown) - 1) / (shown[-1] - shown[0])

    def max_gap_ms(self) -> float | None:
        """The longest time between two frames shown, ms (40 at a steady 25 fps)."""
        shown = self.display_times()
        if len(shown) < 2:
            return None
        return max(b - a for a, b in itertools.pairwise(shown)) * 1000


@dataclass
class TurnSample:
    """One question a student asked and what came back."""

    student: int
    index: int
    utterance: str
    speech_start: float = 0.0
    speech_end: float = 0.0
    turn_id: str = ""
    outcome: str = "unanswered"
    final_transcript_at: float | None = None
    first_token_at: float | None = None
    first_audio_at: float | None = None
    first_frame_at: float | None = None
    end_at: float | None = None
    gateway_ms: dict[str, float] = field(default_factory=dict)
    # WebRTC: when the edge passed on this turn's moments (rtc_edge.hop_times), on the same
    # monotonic clock as the times here.
    edge_at: dict[str, float] = field(default_factory=dict)
    media: MediaLog = field(default_factory=MediaLog)
    # Barge-in: this turn was interrupted by the student's next question, which began here.
    barge_in_at: float | None = None
    interrupted_at: float | None = None
    last_media_at: float | None = None
    # A/V onset offset (WebRTC): the answer's first sound minus its first frame, ms, on the
    # sender's clock from RTCP sender reports (what a browser syncs by; light students) or by
    # arrival of decoded frames (decoding students).
    av_onset_ms: float | None = None
    # The same by arrival at the client (light students), for comparison.
    av_onset_arrival_ms: float | None = None
    stalled_ms: float | None = None  # WebRTC: the answer paused mid-way, its media late
    error: str = ""

    @property
    def finished(self) -> bool:
        """The gateway ended the turn (or it failed)."""
        return self.outcome != "unanswered"

    def client_ms(self) -> dict[str, float]:
        """Client-side stage times from the end of speech, ms (stages that happened)."""
        out: dict[str, float] = {}
        marks = (
            self.final_transcript_at,
            self.first_token_at,
            self.first_audio_at,
            self.first_frame_at,
        )
        for stage, at in zip(CLIENT_STAGES, marks, strict=True):
            if at is not None and self.speech_end:
                out[stage] = (at - self.speech_end) * 1000
        return out

    def hop_ms(self) -> dict[str, float]:
        """The end of speech -> final transcript and -> first frame split by hop, ms (WebRTC,
        from the edge's times; hops whose ends are both known):

        - ``hop.uplink``: end of speech -> the edge forwarded its last sound (microphone,
          TURN, the edge's receiver);
        - ``hop.edge_to_final``: that -> the edge read the final transcript (the gateway's
          end of turn and recognition, and the two gRPC hops); ``hop.gateway_links`` is its
          part outside the gateway's own eos -> final (the hops, and the gateway's lag in
          hearing the end of speech);
        - ``hop.final_in_edge`` and ``hop.final_downlink``: the edge's handling of the final,
          and the data channel to the client;
        - ``hop.frame_in_edge``: the edge read the first frame -> began playing it (queue and
          encoder); ``hop.frame_downlink``: -> its arrival at the client.
        """
        at = self.edge_at
        points = {
            "uplink": (self.speech_end or None, at.get("speech_forwarded")),
            "edge_to_final": (at.get("speech_forwarded"), at.get("final_read")),
            "final_in_edge": (at.get("final_read"), at.get("final_sent")),
            "final_downlink": (at.get("final_sent"), self.final_transcript_at),
            "frame_in_edge": (at.get("first_frame_read"), at.get("first_frame_playing")),
            "frame_downlink": (at.get("first_frame_playing"), self.first_frame_at),
        }
        out = {
            f"hop.{name}": (end - start) * 1000
            for name, (start, end) in points.items()
            if start is not None and end is not None
        }
        gateway = self.gateway_ms.get("eos_to_final_transcript")
        if "hop.edge_to_final" in out and gateway is not None:
            out["hop.gateway_links"] = out["hop.edge_to_final"] - gateway
        return out

    def barge_in_ms(self) -> dict[str, float]:
        """Barge-in stop times from the start of the interrupting speech, ms."""
        out: dict[str, float] = {}
        if self.barge_in_at is None:
            return out
        if self.interrupted_at is not None:
            out["barge_in_stop"] = (self.interrupted_at - self.barge_in_at) * 1000
        if self.last_media_at is not None:
            out["barge_in_last_media"] = max(self.last_media_at - self.barge_in_at, 0.0) * 1000
        return out

    def to_json(self, origin: float) -> dict[str, Any]:
        """The sample for the report; times in s since ``origin`` (the run's start)."""

        def rel(value: float | None) -> float | None:
            return None if value is None else round(value - origin, 4)

        media = self.media
        fps = media.frame_rate_fps()
        gap = media.max_gap_ms()
        return {
            "student": self.student,
            "index": self.index,
            "utterance": self.utterance,
            "turn_id": self.turn_id,
            "outcome": self.outcome,
            "speech_start_s": rel(self.speech_start or None),
            "speech_end_s": rel(self.speech_end or None),
            "client_ms": {k: round(v, 1) for k, v in self.client_ms().items()},
            "gateway_ms": {k: round(v, 1) for k, v in self.gateway_ms.items()},
            "hop_ms": {k: round(v, 1) for k, v in self.hop_ms().items()},
            "frames": len(media.arrivals),
            "frame_rate_fps": None if fps is None else round(fps, 2),
            "max_frame_gap_ms": None if gap is None else round(gap, 1),
            "max_av_offset_ms": round(max(media.av_offsets_ms), 2) if media.av_offsets_ms else None,
            "av_onset_ms": None if self.av_onset_ms is None else round(self.av_onset_ms, 1),
            "stalled_ms": self.stalled_ms,
            "av_onset_arrival_ms": None
            if self.av_onset_arrival_ms is None
            else round(self.av_onset_arrival_ms, 1),
            "barge_in_ms": {k: round(v, 1) for k, v in self.barge_in_ms().items()},
            "error": self.error,
        }
