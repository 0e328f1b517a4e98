"""Headless Chromium for the edge's browser tests (Debian's chromium, never a download)."""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, async_playwright

from rtc_edge.peer_session import PeerSession
from rtc_edge.playout import AUDIO_FRAME_SAMPLES, AUDIO_PTIME_S, AUDIO_RATE
from rtc_edge.tracks import Onset
from rtc_edge.video_encoding import VIDEO_CLOCK_RATE

CHROMIUM = "/usr/bin/chromium"


@asynccontextmanager
async def chromium(fake_microphone_wav: Path) -> AsyncIterator[BrowserContext]:
    """A fresh persistent context whose microphone plays ``fake_microphone_wav`` (48 kHz)."""
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        # Said once (Chromium loops the file otherwise: a question every few seconds).
        f"--use-file-for-fake-audio-capture={fake_microphone_wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                # The tests' own probes are evaluated in the page: exempt from its CSP.
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=args,
                bypass_csp=True,
            )
            try:
                yield context
            finally:
                await context.close()


# Summed over the page's peer connection: decoded video frames and the selected pair's
# local candidate type ("relay" when the browser went through TURN).
STATS_SCRIPT = """
async () => {
  const pc = window.vt && window.vt.pc;
  if (!pc) return { framesDecoded: 0, localType: null };
  const stats = await pc.getStats();
  let framesDecoded = 0, pairLocal = null, localType = null;
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") framesDecoded += r.framesDecoded || 0;
    if (r.type === "transport" && r.selectedCandidatePairId) {
      const pair = stats.get(r.selectedCandidatePairId);
      if (pair) pairLocal = pair.localCandidateId;
    }
  });
  if (pairLocal && stats.get(pairLocal)) localType = stats.get(pairLocal).candidateType;
  return { framesDecoded, localType };
}
"""


# Installed in the student page before it joins: records, on the page's own clock
# (performance.now(), ms; ``timeOrigin`` maps it to the wall clock the edge stamps its onsets
# with), when each tutor video frame was presented (requestVideoFrameCallback: its expected
# display time, arrival and RTP timestamp), when the tutor's sound was heard after a silence
# (an AudioWorklet on the remote audio: the first sample above AUDIBLE, mapped to the page clock
# through AudioContext.getOutputTimestamp), the data channel's playback messages, and every
# STATS_EVERY_MS the receivers' jitter buffer counters (getStats, cumulative) and targets.
AV_PROBE_SCRIPT = """
(() => {
  const AUDIBLE = 0.02, QUIET_BLOCKS = 40, STATS_EVERY_MS = 250, PLAYED_EVERY_MS = 5;
  const KEPT = 6000;
  const avt = { frames: [], sound: [], stats: [], played: [], speakingAt: null,
                listeningAt: null, playback: [], error: null, timeOrigin: performance.timeOrigin };
  window.avt = avt;
  const keep = (list, item) => { list.push(item); if (list.length > KEPT) list.shift(); };
  // Posts the first loud sample after QUIET_BLOCKS blocks (~100 ms) without one: an onset.
  const worklet = `
    class Onset extends AudioWorkletProcessor {
      constructor() { super(); this.quiet = ${QUIET_BLOCKS}; }
      process(inputs) {
        const channel = inputs[0] && inputs[0][0];
        let loud = -1;
        if (channel) {
          for (let i = 0; i < channel.length; i++) {
            if (Math.abs(channel[i]) > ${AUDIBLE}) { loud = i; break; }
          }
        }
        if (loud < 0) { this.quiet++; return true; }
        if (this.quiet >= ${QUIET_BLOCKS})
          this.port.postMessage({ contextTime: currentTime + loud / sampleRate });
        this.quiet = 0;
        return true;
      }
    }
    registerProcessor("onset", Onset);`;
  async function listen(stream) {
    const ctx = new AudioContext();
    const blob = new Blob([worklet], { type: "text/javascript" });
    await ctx.audioWorklet.addModule(URL.createObjectURL(blob));
    const node = new AudioWorkletNode(ctx, "onset");
    node.port.onmessage = (e) => {
      const stamp = ctx.getOutputTimestamp();
      // When this sample is heard: getOutputTimestamp pairs the context time being played out
      // now with the page clock, so the output latency is already inside the mapping.
      const heard = stamp.performanceTime + (e.data.contextTime - stamp.contextTime) * 1000;
      avt.outputLatency = ctx.outputLatency;
      avt.baseLatency = ctx.baseLatency;
      keep(avt.sound, { at: heard });
    };
    ctx.createMediaStreamSource(stream).connect(node);
    await ctx.resume();
  }
  function watchVideo(video) {
    const step = (now, meta) => {
      keep(avt.frames, { now, shown: meta.expectedDisplayTime, received: meta.receiveTime,
                         rtp: meta.rtpTimestamp, presented: meta.presentedFrames,
                         submitted: meta.presentationTime, captured: meta.captureTime ?? null,
                         decoding: meta.processingDuration ?? null, media: meta.mediaTime });
      video.requestVideoFrameCallback(step);
    };
    video.requestVideoFrameCallback(step);
  }
  async function sampleStats(pc) {
    const at = performance.now();
    const report = await pc.getStats();
    const row = { at };
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && (r.kind === "audio" || r.kind === "video")) {
        row[r.kind] = { delay: r.jitterBufferDelay || 0, target: r.jitterBufferTargetDelay || 0,
                        minimum: r.jitterBufferMinimumDelay || 0,
                        emitted: r.jitterBufferEmittedCount || 0,
                        playing: r.estimatedPlayoutTimestamp || null };
      }
      if (r.type === "media-playout") {
        row.playout = { delay: r.totalPlayoutDelay || 0, samples: r.totalSamplesCount || 0 };
      }
    });
    const vt = window.vt;
    row.hold = { ms: vt.videoHoldMs ?? null, correction: vt.videoHoldCorrectionMs ?? null,
                 gap: vt.avGapMs ?? null };
    for (const receiver of pc.getReceivers()) {
      if (receiver.track && row[receiver.track.kind])
        row[receiver.track.kind].jitterBufferTarget = receiver.jitterBufferTarget;
    }
    keep(avt.stats, row);
  }
  const timer = setInterval(() => {
    const video = document.getElementById("tutor-video");
    const vt = window.vt;
    if (!vt || !vt.channel || !video || !video.srcObject) return;
    const stream = video.srcObject;
    if (!stream.getAudioTracks().length || !stream.getVideoTracks().length) return;
    clearInterval(timer);
    vt.channel.addEventListener("message", (e) => {
      const m = JSON.parse(e.data);
      if (m.type !== "playback") return;
      const at = performance.now();
      avt.playback.push({ state: m.state, at });
      if (m.state === "speaking" && avt.speakingAt === null) avt.speakingAt = at;
      if (m.state === "listening" && avt.listeningAt === null) avt.listeningAt = at;
    });
    watchVideo(video);
    listen(stream).catch((err) => { avt.error = String(err); });
    const pc = vt.pc;
    const poll = setInterval(() => {
      if (vt.pc !== pc) { clearInterval(poll); return; }
      sampleStats(pc).catch(() => {});
    }, STATS_EVERY_MS);
    // When each audio packet was first played out (handed from the jitter buffer to the
    // track): getSynchronizationSources, polled every PLAYED_EVERY_MS, first sighting kept.
    const audio = pc.getReceivers().find((r) => r.track && r.track.kind === "audio");
    let lastRtp = null;
    const played = setInterval(() => {
      if (vt.pc !== pc) { clearInterval(played); return; }
      const source = audio.getSynchronizationSources()[0];
      if (!source || source.rtpTimestamp === lastRtp) return;
      lastRtp = source.rtpTimestamp;
      keep(avt.played, { rtp: source.rtpTimestamp, at: source.timestamp - performance.timeOrigin,
                         polled: performance.now() });
    }, PLAYED_EVERY_MS);
  }, 20);
})();
"""


# NTP time (what RTCP and getStats' estimatedPlayoutTimestamp count in) of the Unix epoch, ms.
NTP_UNIX_EPOCH_MS = 2_208_988_800_000


@dataclass(frozen=True)
class AvOnset:
    """One turn's start as the student saw and heard it (ms).

    ``offset_ms`` is the lip-sync error: how much later the sound was heard than its picture
    showed, less the gap the sender put between them (a voice that starts with a silence is
    heard that much after the first frame, as it should): ``audio_delay_ms - video_delay_ms``,
    each stream's time from the edge's tick to the student.

    The picture: the turn's first frame (by its RTP timestamp) at its expected display time
    (requestVideoFrameCallback). A busy page runs that callback for some frames only: when it
    missed the first frames of the turn (``unseen_frames``), the first frame it saw stands for
    them, with its own delay (shown less its own send time). The sound: when the packet
    holding the first audible sample left Chromium's jitter buffer for the track
    (getSynchronizationSources), plus the audio device's playout delay (getStats'
    media-playout): what the page's media element plays.
    Two other accounts are kept beside it: ``web_audio_delay_ms``, when an AudioWorklet on the
    same track heard that sample at the AudioContext's output (Web Audio buffers on its own),
    and ``estimated_audio_delay_ms``, Chromium's estimatedPlayoutTimestamp, which maps the
    RTP clock through the sender's RTCP reports as its own A/V sync does (and allows for the
    device's delay).
    """

    offset_ms: float
    sender_gap_ms: float
    unseen_frames: int
    video_delay_ms: float
    audio_delay_ms: float
    web_audio_delay_ms: float | None
    estimated_audio_delay_ms: float | None
    jitter_buffers: dict[str, dict[str, float]]

    def as_json(self) -> dict[str, Any]:
        """Rounded for an artifact or a benchmark's JSON."""
        out: dict[str, Any] = {
            k: round(v, 1) for k, v in asdict(self).items() if isinstance(v, float)
        }
        out["unseen_frames"] = self.unseen_frames
        out["jitter_buffers_ms"] = self.jitter_buffers
        return out


def _shown(frame: dict[str, Any]) -> float:
    """When a frame was shown (page clock, ms); not before it arrived: a callback run late (a
    busy page) can report the display time of a vsync already past."""
    return max(float(frame["shown"] or frame["now"]), float(frame["received"] or 0))


def _at_or_after(rtp: int, wanted: int) -> bool:
    """``rtp`` is ``wanted`` or later on a 32-bit RTP clock."""
    return (rtp - wanted) % 2**32 < 2**31


def av_onsets(
    probe: dict[str, Any],
    video: Sequence[Onset],
    sound: Sequence[Onset],
    origins: dict[str, int],
    fps: int = 25,
) -> list[AvOnset]:
    """Each turn's A/V onset at the browser, from the page's probe, the edge's tracks and
    their RTP origins (``rtp_origins``); ``fps``, the video's frame rate. Turns the page had
    not played yet are left out."""
    origin = float(probe["timeOrigin"])
    found = []
    for picture in video:
        audible = next((s for s in sound if s.at >= picture.at - 0.001), None)
        if audible is None or "audio" not in origins or "video" not in origins:
            continue
        sent_video = picture.at * 1000 - origin
        sent_audio = audible.at * 1000 - origin
        first_rtp = (origins["video"] + picture.pts) % 2**32
        frame = next(
            (
                f
                for f in probe["frames"]
                if f["rtp"] is not None and _at_or_after(f["rtp"], first_rtp)
            ),
            None,
        )
        within = audible.pts % AUDIO_FRAME_SAMPLES  # the sample's place in its packet
        packet_rtp = (origins["audio"] + audible.pts - within) % 2**32
        played = next((p for p in probe["played"] if _at_or_after(p["rtp"], packet_rtp)), None)
        if frame is None or played is None:
            continue
        shown = _shown(frame)
        # The first frame the page saw, if not the turn's first: its own send time.
        later_ms = ((frame["rtp"] - first_rtp) % 2**32) / (VIDEO_CLOCK_RATE / 1000)
        sent_video += later_ms
        buffers = jitter_buffers_around(probe["stats"], shown)
        device = buffers.get("audio_device", {}).get("delay", 0.0)
        late_packets = ((played["rtp"] - packet_rtp) % 2**32) / AUDIO_FRAME_SAMPLES
        heard = played["at"] - late_packets * AUDIO_PTIME_S * 1000 + within / 48 + device
        tap = next((s["at"] for s in probe["sound"] if s["at"] >= sent_audio), None)
        heard_est = audio_heard_at(probe["stats"], audible.at * 1000 + NTP_UNIX_EPOCH_MS)
        found.append(
            AvOnset(
                offset_ms=(heard - sent_audio) - (shown - sent_video),
                sender_gap_ms=(audible.at - picture.at) * 1000,
                unseen_frames=round(later_ms * fps / 1000),
                video_delay_ms=shown - sent_video,
                audio_delay_ms=heard - sent_audio,
                web_audio_delay_ms=None if tap is None else tap - sent_audio,
                estimated_audio_delay_ms=None if heard_est is None else heard_est - sent_audio,
                jitter_buffers=buffers,
            )
        )
    return found


def av_offsets_during(
    probe: dict[str, Any],
    video: Sequence[Onset],
    sound: Sequence[Onset],
    origins: dict[str, int],
    window_ms: float = 500,
) -> list[float]:
    """How much later the sound is heard than its picture shows while answers play, ms, one
    value per ``window_ms``: the median delay (edge tick -> student) of the audio packets
    played in the window, plus the device's delay, less that of the frames shown in it. An
    answer's first half second is left to its onset (``av_onsets``)."""
    if not video or not sound or "audio" not in origins or "video" not in origins:
        return []
    origin = float(probe["timeOrigin"])
    # Both tracks tick from one epoch: an onset's time less its pts, on the page clock.
    epoch = {
        "video": video[0].at * 1000 - origin - video[0].pts / (VIDEO_CLOCK_RATE / 1000),
        "audio": sound[0].at * 1000 - origin - sound[0].pts / (AUDIO_RATE / 1000),
    }
    rate = {"video": VIDEO_CLOCK_RATE / 1000, "audio": AUDIO_RATE / 1000}

    def sent(kind: str, rtp: int) -> float:
        return epoch[kind] + ((rtp - origins[kind]) % 2**32) / rate[kind]

    listening = [e["at"] for e in probe["playback"] if e["state"] == "listening"]
    spans = []
    for picture in video:
        start = picture.at * 1000 - origin + 500
        end = next((at for at in listening if at > start), None)
        if end is not None:
            spans.append((start, end))
    stats = [row for row in probe["stats"] if row.get("playout")]
    device = 0.0
    if len(stats) >= 2 and stats[-1]["playout"]["samples"] > stats[0]["playout"]["samples"]:
        a, b = stats[0]["playout"], stats[-1]["playout"]
        device = (b["delay"] - a["delay"]) / (b["samples"] - a["samples"]) * 1000
    offsets = []
    for start, end in spans:
        t = start
        while t + window_ms <= end:
            shown = [
                _shown(f) - sent("video", f["rtp"])
                for f in probe["frames"]
                if f["rtp"] is not None and t <= _shown(f) < t + window_ms
            ]
            heard = [
                p["at"] + device - sent("audio", p["rtp"])
                for p in probe["played"]
                if t <= p["at"] < t + window_ms
            ]
            if shown and heard:
                offsets.append(statistics.median(heard) - statistics.median(shown))
            t += window_ms
    return offsets


async def rtp_origins(
    peer: PeerSession, packets: int = 5, timeout_s: float = 3.0
) -> dict[str, int]:
    """Each outgoing track's RTP timestamp origin: aiortc adds one, drawn at random, to the
    track's own timestamps (``Onset.pts``). Read from the sender's last sent timestamp just
    after it changed, while the clock still says which tick that packet was (a packet leaves
    on its tick); the commonest answer over ``packets`` packets per track wins. Watching for
    the change, not sampling at random, keeps it right between turns too, when the audio
    sends a DTX packet only every few hundred ms. Reads aiortc's private state: for tests and
    benchmarks only."""
    playout = peer.playout
    if playout.epoch is None:
        return {}
    ticks = {"audio": (AUDIO_PTIME_S, AUDIO_FRAME_SAMPLES), "video": (1 / playout.fps, None)}
    seen: dict[str, Counter[int]] = {kind: Counter() for kind in ticks}
    last: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline and min(sum(c.values()) for c in seen.values()) < packets:
        for transceiver in peer.pc.getTransceivers():
            kind = transceiver.kind
            sent = getattr(transceiver.sender, "_RTCRtpSender__rtp_timestamp", None)
            if kind not in ticks or not sent:
                continue
            if kind in last and sent != last[kind]:
                period, samples_per_tick = ticks[kind]
                tick = math.floor((playout.clock() - playout.epoch) / period)
                pts = (
                    tick * samples_per_tick
                    if samples_per_tick
                    else round(tick * VIDEO_CLOCK_RATE / playout.fps)
                )
                seen[kind][(sent - pts) % 2**32] += 1
            last[kind] = sent
        await asyncio.sleep(0.002)
    return {kind: counts.most_common(1)[0][0] for kind, counts in seen.items() if counts}


def playout_offsets(probe: dict[str, Any], since: float = 0.0) -> list[float]:
    """How much later the sound is heard than its picture shows, ms, at each stats sample
    after ``since`` (page clock) while the tutor spoke, by Chromium's own account: the sender
    times of the frame on screen and of the sample being heard (estimatedPlayoutTimestamp; the
    audio's allows for the device's delay). Over a whole answer, not only its start."""
    spans, start = [], None
    for event in probe["playback"]:
        if event["state"] == "speaking" and start is None:
            start = event["at"]
        elif event["state"] == "listening" and start is not None:
            spans.append((start, event["at"]))
            start = None
    offsets = []
    for row in probe["stats"]:
        audio, video = row.get("audio") or {}, row.get("video") or {}
        if row["at"] < since or not (audio.get("playing") and video.get("playing")):
            continue
        if any(a + 500 <= row["at"] <= b for a, b in spans):  # the first 0.5 s: the onset's
            offsets.append(video["playing"] - audio["playing"])
    return offsets


def audio_heard_at(stats: list[dict[str, Any]], sent_ntp_ms: float) -> float | None:
    """When (page clock, ms) the audio sent at ``sent_ntp_ms`` (sender's clock) was heard, by
    Chromium's estimate: from the first stats sample whose estimated playout position (which
    allows for the audio device's delay) had passed it."""
    for row in stats:
        playing = (row.get("audio") or {}).get("playing")
        if playing and playing >= sent_ntp_ms:
            return float(row["at"]) - (playing - sent_ntp_ms)
    return None


def jitter_buffers_around(
    stats: list[dict[str, Any]], at: float, window_ms: float = 1500
) -> dict[str, dict[str, float]]:
    """Each stream's jitter buffer over ``window_ms`` before ``at`` (ms per frame or sample):
    the delay it held, its target (with A/V sync and jitterBufferTarget), the minimum its own
    jitter needed, and the receiver's jitterBufferTarget; the audio device's playout delay."""
    before = [s for s in stats if s["at"] <= at - window_ms]
    after = [s for s in stats if s["at"] >= at]
    if not before or not after:
        return {}
    first, last = before[-1], after[0]
    out: dict[str, dict[str, float]] = {}
    for kind in ("audio", "video"):
        a, b = first.get(kind), last.get(kind)
        if not a or not b or b["emitted"] <= a["emitted"]:
            continue
        count = b["emitted"] - a["emitted"]
        out[kind] = {
            name: round((b[name] - a[name]) / count * 1000, 1)
            for name in ("delay", "target", "minimum")
        }
        if b.get("jitterBufferTarget") is not None:
            out[kind]["jitterBufferTarget"] = b["jitterBufferTarget"]
    a, b = first.get("playout"), last.get("playout")
    if a and b and b["samples"] > a["samples"]:
        delay = (b["delay"] - a["delay"]) / (b["samples"] - a["samples"]) * 1000
        out["audio_device"] = {"delay": round(delay, 1)}
    return out


# The inbound video's codec and the receiver's signs of a broken stream: a picture loss
# indication (PLI/FIR) is what the decoder sends when it cannot decode what it got.
VIDEO_HEALTH_SCRIPT = """
async () => {
  const stats = await window.vt.pc.getStats();
  let out = null;
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      const codec = r.codecId ? stats.get(r.codecId) : null;
      out = { codec: codec ? codec.mimeType : null, framesDecoded: r.framesDecoded,
              keyFramesDecoded: r.keyFramesDecoded, pliCount: r.pliCount, firCount: r.firCount,
              framesDropped: r.framesDropped, freezeCount: r.freezeCount };
    }
  });
  return out;
}
"""

# Chromium's own account of how long each stream waits before playout (seconds per frame or
# sample, averaged): with audio/video sync working, the video waits for the audio.
PLAYOUT_DELAY_SCRIPT = """
async () => {
  const stats = await window.vt.pc.getStats();
  const out = {};
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && r.jitterBufferEmittedCount) {
      out[r.kind] = {
        jitterBufferDelay: r.jitterBufferDelay / r.jitterBufferEmittedCount,
        jitterBufferTargetDelay: (r.jitterBufferTargetDelay || 0) / r.jitterBufferEmittedCount,
        jitterBufferMinimumDelay: (r.jitterBufferMinimumDelay || 0) / r.jitterBufferEmittedCount,
        estimatedPlayoutTimestamp: r.estimatedPlayoutTimestamp || null,
      };
    }
  });
  return out;
}
"""
