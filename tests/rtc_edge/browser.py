"""Headless Chromium for the edge's browser tests (Debian's chromium, never a download)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import BrowserContext, async_playwright

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
# (performance.now(), ms), when each tutor video frame was presented (requestVideoFrameCallback,
# with its RTP timestamp and arrival), when the tutor's sound is heard (an AudioWorklet on the
# remote audio, mapped to the page clock through AudioContext.getOutputTimestamp) and when
# the data channel said the tutor started speaking.
AV_PROBE_SCRIPT = """
(() => {
  const avt = { frames: [], sound: [], speakingAt: null, listeningAt: null, error: null };
  window.avt = avt;
  const worklet = `
    class Onset extends AudioWorkletProcessor {
      process(inputs) {
        const channel = inputs[0] && inputs[0][0];
        if (channel) {
          let peak = 0;
          for (let i = 0; i < channel.length; i++) peak = Math.max(peak, Math.abs(channel[i]));
          if (peak > 0.02) this.port.postMessage({ contextTime: currentTime, peak });
        }
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
      // When this block is heard: getOutputTimestamp pairs the context time being played out
      // now with the page clock, so the output latency is already inside the mapping.
      const heard = stamp.performanceTime + (e.data.contextTime - stamp.contextTime) * 1000;
      avt.outputLatency = ctx.outputLatency;
      avt.baseLatency = ctx.baseLatency;
      avt.sound.push({ at: heard, peak: e.data.peak });
    };
    ctx.createMediaStreamSource(stream).connect(node);
    await ctx.resume();
  }
  function watchVideo(video) {
    const step = (now, meta) => {
      avt.frames.push({ now, shown: meta.expectedDisplayTime, received: meta.receiveTime,
                        rtp: meta.rtpTimestamp, presented: meta.presentedFrames });
      video.requestVideoFrameCallback(step);
    };
    video.requestVideoFrameCallback(step);
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
      if (m.type === "playback" && m.state === "speaking" && avt.speakingAt === null)
        avt.speakingAt = performance.now();
      if (m.type === "playback" && m.state === "listening" && avt.listeningAt === null)
        avt.listeningAt = performance.now();
    });
    watchVideo(video);
    listen(stream).catch((err) => { avt.error = String(err); });
  }, 20);
})();
"""

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
