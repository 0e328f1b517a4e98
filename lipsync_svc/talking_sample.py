"""A short talking sample of an avatar, as an MP4 an admin can play before students see it.

The caller brings the speech (for example a sentence in the tutor's default voice from
tts_svc: the lip-sync service makes pictures from audio, it does not make audio); the sample is
the engine's frames for it, exactly as a live stream would show them, with the same audio,
encoded as H.264 video and AAC audio.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import av
import numpy as np

from lipsync_svc.animation import VisemeTimeline
from lipsync_svc.avatar import LoadedAvatar
from lipsync_svc.engines.base import FrameRequest, LipsyncEngine
from lipsync_svc.frames import even, resize_cover
from lipsync_svc.mouth import VisemeSpan
from svc_core.audio import pcm16_to_float
from svc_core.errors import InvalidArgument

FPS = 25
MAX_SECONDS = 10.0
# Longest side of the sample's pictures (a preview, not the stream).
MAX_SIDE = 512


def render_talking_sample(
    engine: LipsyncEngine,
    avatar: LoadedAvatar,
    pcm: bytes,
    sample_rate: int,
    visemes: Sequence[VisemeSpan] = (),
    *,
    batch_size: int = 8,
) -> bytes:
    """The avatar speaking ``pcm`` (s16le mono at ``sample_rate``) as MP4 bytes (blocking).

    Raises:
        InvalidArgument: No audio, more than ``MAX_SECONDS`` of it, or a rate 25 fps does not
            divide.
    """
    if len(pcm) < 2 or len(pcm) % 2:
        raise InvalidArgument("the talking sample needs speech: whole s16le samples")
    if len(pcm) / 2 / sample_rate > MAX_SECONDS:
        raise InvalidArgument(f"the talking sample's speech is longer than {MAX_SECONDS:g} s")
    if sample_rate % FPS:
        raise InvalidArgument(f"the sample rate {sample_rate} is not a multiple of {FPS}")
    frame_samples = sample_rate // FPS
    audio = pcm16_to_float(pcm)
    count = -(-len(audio) // frame_samples)
    audio = np.pad(audio, (0, count * frame_samples - len(audio)))
    timeline = VisemeTimeline()
    timeline.add(visemes)
    requests = [
        FrameRequest(
            index=i,
            idle_index=avatar.idle_index(i, FPS),
            audio=audio[i * frame_samples : (i + 1) * frame_samples],
            visemes=timeline.overlapping(i * 1000 / FPS, (i + 1) * 1000 / FPS),
        )
        for i in range(count)
    ]
    stream = engine.open_stream(avatar, sample_rate, FPS)
    scale = min(1.0, MAX_SIDE / max(avatar.info.width, avatar.info.height))
    width, height = even(round(avatar.info.width * scale)), even(round(avatar.info.height * scale))

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "20"}  # the admin judges the mouth: keep its detail
        sound = container.add_stream("aac", rate=sample_rate)
        sound.layout = "mono"
        for start in range(0, count, batch_size):
            for picture in stream.render(requests[start : start + batch_size]):
                image = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(resize_cover(picture, width, height)), format="bgr24"
                )
                for packet in video.encode(image):
                    container.mux(packet)
        step = 1024
        for begin in range(0, len(audio), step):
            chunk = av.AudioFrame.from_ndarray(audio[None, begin : begin + step], "fltp", "mono")
            chunk.sample_rate = sample_rate
            chunk.pts = begin
            for packet in sound.encode(chunk):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    return out.getvalue()
