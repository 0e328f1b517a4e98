"""``python -m benchmarks.browser_av_sync [--quick] [--turns N]``: how far apart a student hears
an answer's sound and sees its picture start, in headless Chromium. Writes
bench-results/browser_av_sync.json.

The four inference services and the gateway run as child processes (espeak-ng voice, the
demo knowledge base), coturn relays, and the rtc_edge runs in this process so the benchmark
can read what its tracks sent: each turn's first frame and first audible sample, on the wall
clock. Chromium (Debian's, headless) opens the student page relay-only, types a question,
watches the answer start, interrupts it after ``--listen-s`` and asks the next one. Per turn:
the A/V onset offset (sound heard minus picture shown, less the gap the edge put between them;
see ``tests.rtc_edge.browser.AvOnset``), each stream's delay from the edge's tick to the
student, and both jitter buffers around the onset (``tests.rtc_edge.browser``); and, every
250 ms while answers play, the offset by Chromium's own estimate. The first question is typed
``--settle-s`` after joining (a spoken one is answered no sooner), so the first answer falls in
Chromium's first seconds, as a student's does. ``--without-hold`` runs the page without its
video hold (app.js), for comparison. Numbers from a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from pydantic import SecretStr
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from loadtest.stack import LocalStack
from loadtest.turn_server import CoturnServer
from rtc_edge.app import STATE, build_app
from rtc_edge.config import EdgeSettings
from tests.rtc_edge.browser import (
    AV_PROBE_SCRIPT,
    av_offsets_during,
    av_onsets,
    chromium,
    playout_offsets,
    rtp_origins,
)
from tests.support.speech import silence_pcm, write_wav

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-av-sync"
# Questions the demo knowledge base answers (each with a passage of ~40 words).
QUESTIONS = ("what is two plus two", "what are the planets", "what is photosynthesis")
SPEAKING = "window.vt.messages.filter(m => m.type === 'playback' && m.state === 'speaking')"
LISTENING = "window.vt.messages.filter(m => m.type === 'playback' && m.state === 'listening')"
# For comparison (--without-hold): the page as if the browser had no jitterBufferTarget, so
# only Chromium's own A/V sync lines sound and picture up.
WITHOUT_HOLD_SCRIPT = "delete RTCRtpReceiver.prototype.jitterBufferTarget;"
HOLD_SCRIPT = (
    "({ms: window.vt.videoHoldMs ?? null, correction: window.vt.videoHoldCorrectionMs,"
    " gap: window.vt.avGapMs ?? null})"
)


async def _session(gateway: str) -> gateway_pb2.CreateSessionResponse:
    async with grpc.aio.insecure_channel(gateway) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        tutor = gateway_pb2.TutorProfile(
            tutor_id="bench-av",
            display_name="Ada",
            system_prompt="You are a friendly maths and science tutor.",
            language_code="en-US",
            video_enabled=True,
        )
        return await stub.CreateSession(
            gateway_pb2.CreateSessionRequest(tenant_id="bench", student_id="s", tutor=tutor),
            metadata=(("authorization", f"Bearer {API_KEY}"),),
        )


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


async def _turns(edge_url: str, edge_state: Any, gateway: str, args: argparse.Namespace) -> Any:
    created = await _session(gateway)
    with tempfile.TemporaryDirectory() as tmp:
        # A silent microphone: the questions are typed.
        mic = write_wav(
            Path(tmp) / "mic.wav", silence_pcm(1000, sample_rate=48000), sample_rate=48000
        )
        async with chromium(mic) as browser:
            page = await browser.new_page()
            await page.add_init_script(AV_PROBE_SCRIPT)
            if args.without_hold:
                await page.add_init_script(WITHOUT_HOLD_SCRIPT)
            fragment = f"session_id={created.session.session_id}&token={created.engine_token}"
            await page.goto(f"{edge_url}/#{fragment}")
            await page.click("#join")
            await page.wait_for_function("window.vt.state === 'Connected.'", timeout=30_000)
            await page.wait_for_selector("#text:not([disabled])", timeout=30_000)
            await asyncio.sleep(args.settle_s)
            for turn in range(args.turns):
                await page.fill("#text", QUESTIONS[turn % len(QUESTIONS)])
                await page.click("#send")
                await page.wait_for_function(f"{SPEAKING}.length >= {turn + 1}", timeout=60_000)
                await asyncio.sleep(args.listen_s)
                await page.click("#interrupt")
                await page.wait_for_function(f"{LISTENING}.length >= {turn + 1}", timeout=30_000)
                await asyncio.sleep(args.pause_s)
            probe = await page.evaluate("window.avt")
            (peer,) = list(edge_state.peers)
            origins = await rtp_origins(peer)
            onsets = av_onsets(
                probe, peer.video_track.turn_onsets, peer.audio_track.sound_onsets, origins
            )
            hold = await page.evaluate(HOLD_SCRIPT)
            during = av_offsets_during(
                probe, peer.video_track.turn_onsets, peer.audio_track.sound_onsets, origins
            )
            during_estimate = playout_offsets(probe)
            await page.click("#leave")
    return onsets, (during, during_estimate), probe.get("error"), hold


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = LocalStack(API_KEY, env={"TTS_ENGINE": "espeak"})
    coturn = CoturnServer()
    stack.start()
    coturn.start()
    try:
        settings = EdgeSettings(
            host="127.0.0.1",
            port=0,
            gateway_address=stack.gateway_address,
            gateway_api_key=SecretStr(API_KEY),
            turn_secret=SecretStr(coturn.secret),
            turn_urls=[coturn.url],
            relay_only=True,
            host_candidate_ip="127.0.0.1",
        )
        app = build_app(settings)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            onsets, during, error, hold = await _turns(url, app[STATE], stack.gateway_address, args)
        finally:
            await runner.cleanup()
    finally:
        coturn.stop()
        stack.stop()
    offsets = [o.offset_ms for o in onsets]
    web_audio = [
        o.web_audio_delay_ms - o.video_delay_ms for o in onsets if o.web_audio_delay_ms is not None
    ]
    estimated = [
        o.estimated_audio_delay_ms - o.video_delay_ms
        for o in onsets
        if o.estimated_audio_delay_ms is not None
    ]
    return {
        "page_holds_video": not args.without_hold,
        "turns_asked": args.turns,
        "turns_measured": len(onsets),
        "av_onset_offset_ms": _percentiles(offsets),
        "av_onset_offset_abs_ms": _percentiles([abs(v) for v in offsets]),
        "av_onset_offset_web_audio_ms": _percentiles(web_audio),
        "av_onset_offset_chromium_estimate_ms": _percentiles(estimated),
        "av_offset_during_answers_ms": _percentiles(during[0]),
        "av_offset_during_answers_chromium_estimate_ms": _percentiles(during[1]),
        # Turns whose first frames the page's frame callback missed (a starved page): the
        # first frame it saw stands for them, with its own delay.
        "turns_first_frame_unseen": sum(1 for o in onsets if o.unseen_frames),
        "video_delay_ms": _percentiles([o.video_delay_ms for o in onsets]),
        "audio_delay_ms": _percentiles([o.audio_delay_ms for o in onsets]),
        "video_hold_ms_at_end": hold,  # and the part of it from the slow correction
        "probe_error": error,
        "turns": [o.as_json() for o in onsets],
        "machine_note": "shared 2-core machine; Chromium, coturn, edge and stack on one host",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 turns (make bench)")
    parser.add_argument("--turns", type=int, default=14, help="answers to start (at most 16)")
    parser.add_argument("--listen-s", type=float, default=2.0, help="each answer plays this long")
    parser.add_argument("--pause-s", type=float, default=0.5, help="between answers")
    parser.add_argument(
        "--without-hold",
        action="store_true",
        help="the page does not hold the video for the audio (the comparison)",
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=3.0,
        help="from joining to the first question (a spoken one is answered no sooner)",
    )
    args = parser.parse_args()
    if args.quick:
        args.turns = 6
    args.turns = max(1, min(args.turns, 16))  # the edge's tracks keep 16 onsets
    results = asyncio.run(run(args))
    out = ROOT / "bench-results" / "browser_av_sync.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    summary = {k: v for k, v in results.items() if k != "turns"}
    print(json.dumps(summary, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
