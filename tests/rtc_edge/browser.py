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
        f"--use-file-for-fake-audio-capture={fake_microphone_wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=args
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
