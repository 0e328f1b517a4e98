"""Test media made on the spot: small MP4 videos, WAV audio, and a PDF with a text layer."""

from __future__ import annotations

import io
import wave

import av
import numpy as np

from tests.support.pdf_samples import pdf_from_objects


def mp4_video(frames: list[np.ndarray] | None = None, *, fps: int = 25) -> bytes:
    """An H.264 MP4 of BGR frames (default: 10 plain grey frames, no face)."""
    if frames is None:
        frames = [np.full((128, 128, 3), 90 + i * 5, np.uint8) for i in range(10)]
    height, width = frames[0].shape[:2]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def face_video(seconds: float = 1.0, fps: int = 25) -> bytes:
    """An MP4 of the lip-sync service's drawn face, which its face detector finds."""
    from lipsync_svc.drawn_face import DrawnFace

    count = int(seconds * fps)
    face = DrawnFace(size=256, loop_frames=count)
    return mp4_video([face.render(i) for i in range(count)], fps=fps)


def wav_audio(seconds: float = 0.5, rate: int = 16000) -> bytes:
    """A WAV file of a quiet tone."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 220 * t) * 3000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return buffer.getvalue()


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer says `text` (ASCII, one line)."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_from_objects(objects)
