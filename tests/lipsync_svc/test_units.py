"""lipsync_svc parts on their own: frames, mouth shapes, the mel spectrogram, loops, the drawing."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from lipsync_svc.animation import VisemeTimeline
from lipsync_svc.config import LipsyncSettings
from lipsync_svc.drawn_face import DrawnFace
from lipsync_svc.engines import ENGINES, create_engine
from lipsync_svc.face_detection import HaarFaceDetector, smooth_boxes
from lipsync_svc.frames import (
    FaceBox,
    FrameEncoder,
    PixelFormat,
    halved,
    halvings,
    output_size,
    resize_cover,
)
from lipsync_svc.idle_loop import apply_plan, frame_changes, loop_plan
from lipsync_svc.mouth import (
    MouthDriver,
    MouthShape,
    Viseme,
    VisemeSpan,
    shape_from_audio,
    shape_from_visemes,
)
from lipsync_svc.wav2lip_mel import (
    SILENCE,
    MelStream,
    mel_basis,
    melspectrogram,
)
from svc_core.server import StartupError

pytestmark = pytest.mark.unit

RATE = 16000


def _tone(freq: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _iou(a: FaceBox, b: FaceBox) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a.w * a.h + b.w * b.h - inter)


# -- frames ---------------------------------------------------------------------------------


def test_output_size_keeps_the_aspect_when_one_side_is_given() -> None:
    assert output_size(512, 384, 0, 0) == (512, 384)
    assert output_size(512, 384, 256, 0) == (256, 192)
    assert output_size(512, 384, 0, 96) == (128, 96)
    assert output_size(512, 384, 100, 100) == (100, 100)


def test_resize_cover_fills_and_crops_the_overflow_evenly() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, 50:150] = 255  # the middle half is white
    out = resize_cover(frame, 100, 100)
    assert out.shape == (100, 100, 3)
    assert out.min() == 255  # only the white middle is left


@pytest.mark.parametrize(
    ("source", "target"),
    [((512, 512), (128, 128)), ((512, 384), (96, 96)), ((510, 510), (100, 60))],
)
def test_downscaling_by_halvings_matches_an_area_resize(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    """Halving by linear resizes averages 2x2 blocks, as INTER_AREA does: same picture."""
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (source[1], source[0], 3), dtype=np.uint8)
    out = resize_cover(frame, *target)
    assert out.shape == (target[1], target[0], 3)
    scale = max(target[0] / source[0], target[1] / source[1])
    size = (max(target[0], round(source[0] * scale)), max(target[1], round(source[1] * scale)))
    area = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    x0, y0 = (size[0] - target[0]) // 2, (size[1] - target[1]) // 2
    reference = area[y0 : y0 + target[1], x0 : x0 + target[0]].astype(int)
    assert np.abs(out.astype(int) - reference).max() <= 2
    assert halvings(512, 512, 128, 128) == 2 and halvings(512, 384, 256, 192) == 1
    assert halvings(512, 512, 200, 200) == 0 and halvings(510, 510, 255, 255) == 1
    assert halved(frame, 1).shape == (source[1] // 2, source[0] // 2, 3)


@pytest.mark.parametrize(
    ("fmt", "size"), [(PixelFormat.I420, 64 * 48 * 3 // 2), (PixelFormat.RGB24, 64 * 48 * 3)]
)
def test_raw_encodings_have_their_exact_sizes(fmt: PixelFormat, size: int) -> None:
    frame = np.zeros((96, 128, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    data = FrameEncoder(fmt, 64, 48).encode(frame)
    assert len(data) == size
    if fmt is PixelFormat.RGB24:
        assert data[:3] == bytes([255, 0, 0])


def test_jpeg_frames_decode_to_the_picture() -> None:
    frame = DrawnFace(128).render(0)
    data = FrameEncoder(PixelFormat.JPEG, 128, 128, 90).encode(frame)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(int) - frame.astype(int)).mean() < 3


# -- mouth ----------------------------------------------------------------------------------


def test_silence_closes_the_mouth_and_loud_vowels_open_it() -> None:
    assert shape_from_audio(np.zeros(640, np.float32), RATE).closed
    assert shape_from_audio(_tone(200, 0.04, 0.0005), RATE).closed  # -70 dBFS hum
    loud = shape_from_audio(_tone(200, 0.04), RATE)
    quieter = shape_from_audio(_tone(200, 0.04, 0.03), RATE)
    assert loud.opening > 0.8 and 0 < quieter.opening < loud.opening


def test_hiss_opens_less_and_spreads_more_than_a_vowel() -> None:
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft(rng.normal(0, 1, 640))
    spectrum[: int(4000 * 640 / RATE)] = 0  # only energy above 4 kHz: like "s"
    hiss = np.fft.irfft(spectrum).astype(np.float32)
    hiss *= 0.3 / np.sqrt(np.mean(hiss**2))
    vowel = _tone(200, 0.04, 0.3 * np.sqrt(2))
    s, v = shape_from_audio(hiss, RATE), shape_from_audio(vowel, RATE)
    assert s.opening < 0.5 * v.opening
    assert s.width > v.width


def test_the_driver_smooths_and_then_snaps_shut() -> None:
    driver = MouthDriver(RATE)
    loud, quiet = _tone(200, 0.04), np.zeros(640, np.float32)
    first = driver.next(loud)
    second = driver.next(loud)
    assert 0 < first.opening < second.opening  # rises over frames, not at once
    closing = [driver.next(quiet).opening for _ in range(12)]
    assert all(b < a for a, b in itertools.pairwise(closing) if a > 0)
    assert closing[1] > 0  # it does not shut at once either
    assert closing[-1] == 0.0  # but it ends fully closed


def test_visemes_are_weighted_by_how_much_of_the_frame_they_cover() -> None:
    assert shape_from_visemes([(Viseme.AA, 1.0)]) == MouthShape(1.0, 0.15)
    half = shape_from_visemes([(Viseme.AA, 0.5), (Viseme.SIL, 0.5)])
    assert half.opening == pytest.approx(0.5)
    assert shape_from_visemes([(Viseme.PP, 1.0)]).closed
    assert (
        shape_from_visemes([(Viseme.OU, 1.0)]).width
        < 0
        < shape_from_visemes([(Viseme.IH, 1.0)]).width
    )


def test_the_viseme_timeline_reports_overlaps_and_forgets_the_past() -> None:
    timeline = VisemeTimeline()
    timeline.add([VisemeSpan(Viseme.AA, 0, 50), VisemeSpan(Viseme.OH, 50, 200)])
    assert timeline.overlapping(0, 40) == ((Viseme.AA, 1.0),)
    assert timeline.overlapping(40, 80) == ((Viseme.AA, 0.25), (Viseme.OH, 0.75))
    assert timeline.overlapping(200, 240) == ()
    assert timeline.overlapping(40, 80) == ()  # already dropped


# -- mel spectrogram ------------------------------------------------------------------------


def test_the_mel_filterbank_matches_librosas_slaney_layout() -> None:
    basis = mel_basis()
    assert basis.shape == (80, 401) and basis.min() >= 0
    peaks = basis.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0)
    bins_hz = np.arange(401) * 20  # 16000 / 800 Hz per bin
    assert bins_hz[np.nonzero(basis[0])[0][0]] >= 55 - 20
    assert bins_hz[np.nonzero(basis[-1])[0][-1]] <= 7600 + 20
    # Slaney normalisation: every filter has (nearly) the same area in Hz.
    areas = basis.sum(axis=1) * 20
    assert np.allclose(areas[10:], areas[10:].mean(), rtol=0.1)


def test_melspectrogram_shape_range_and_silence() -> None:
    mel = melspectrogram(_tone(1000, 1.0))
    assert mel.shape == (80, 81)
    assert mel.min() >= -4 and mel.max() <= 4
    band = int(mel[:, 40].argmax())
    assert 18 <= band <= 30  # 1 kHz falls about a third of the way up the mel scale
    assert np.all(melspectrogram(np.zeros(3200, np.float32)) == SILENCE)


def test_the_streaming_mel_equals_the_whole_signal_mel() -> None:
    rng = np.random.default_rng(1)
    signal = (0.2 * rng.normal(size=RATE) * np.sin(np.linspace(0, 20, RATE))).astype(np.float32)
    whole = melspectrogram(signal)
    stream = MelStream()
    pushed = 0
    for size in [640, 100, 1, 1999, 640, 4000, 8000, 560]:
        stream.push(signal[pushed : pushed + size])
        pushed += size
        window = stream.window()
        assert window.shape == (80, 16)
        # Columns that need no audio past what was pushed are complete.
        complete = (pushed - 400) // 200 + 1
        expected = whole[:, max(0, complete - 16) : complete]
        assert np.allclose(window[:, 16 - expected.shape[1] :], expected, atol=1e-4)
        assert np.all(window[:, : 16 - expected.shape[1]] == SILENCE)


# -- idle loop, faces, the drawing ----------------------------------------------------------


def _moving_square(positions: list[float]) -> np.ndarray:
    """Frames of a textured background with a bright square at each x position."""
    rng = np.random.default_rng(3)
    background = rng.integers(40, 90, (64, 96, 3), dtype=np.uint8)
    frames = []
    for x in positions:
        frame = background.copy()
        cv2.rectangle(frame, (int(20 + x), 20), (int(40 + x), 40), (230, 230, 230), -1)
        frames.append(cv2.GaussianBlur(frame, (0, 0), 1.0))
    return np.stack(frames)


def _seam_and_steps(loop: np.ndarray) -> tuple[float, float]:
    changes = frame_changes(loop)
    return float(changes[-1]), float(np.median(changes))


def test_a_loop_is_cut_where_the_clip_comes_back_to_itself() -> None:
    # A head swaying with a period of 40 frames, recorded for 70: a loop of about 40 frames
    # exists whose end leads into its start like any two neighbouring frames.
    clip = _moving_square([12 * np.sin(2 * np.pi * t / 40) for t in range(70)])
    boxes = np.arange(70, dtype=np.float32)[:, None] * np.ones((70, 4), np.float32)
    plan = loop_plan(clip, 36)
    assert 27 <= len(plan) <= 45
    assert plan == list(range(plan[0], plan[0] + len(plan)))  # a plain cut, played forwards
    loop, loop_boxes = apply_plan(plan, clip, boxes)
    seam, typical = _seam_and_steps(loop)
    assert seam <= 1.5 * typical
    assert np.array_equal(loop_boxes[:, 0], np.asarray(plan, np.float32))


def test_a_drifting_clip_loops_forwards_and_back_without_blending() -> None:
    # The head drifts one way and never comes back: any cut would jump, so the loop plays
    # forwards then backwards; every loop frame is a clip frame as it was (no double images).
    clip = _moving_square([0.8 * t for t in range(60)])
    plan = loop_plan(clip, 40)
    half = len(plan) // 2 + 1
    assert plan == list(range(half)) + list(range(half - 2, 0, -1))
    loop, _ = apply_plan(plan, clip, np.zeros((60, 4), np.float32))
    seam, typical = _seam_and_steps(loop)
    assert seam <= 1.5 * typical
    assert all(any(np.array_equal(frame, c) for c in clip) for frame in loop)


def test_a_short_clip_loops_forwards_and_back() -> None:
    clip = _moving_square([2.0 * t for t in range(4)])
    assert loop_plan(clip, 50) == [0, 1, 2, 3, 2, 1]


def test_smoothing_fills_missing_boxes_and_drops_outliers() -> None:
    boxes: list[FaceBox | None] = [FaceBox(100, 100, 50, 50) for _ in range(12)]
    boxes[3] = None
    boxes[7] = FaceBox(300, 100, 50, 50)  # a single-frame false detection
    smoothed = smooth_boxes(boxes)
    assert smoothed.shape == (12, 4)
    assert np.allclose(smoothed[:, 0], 100, atol=1)
    with pytest.raises(ValueError):
        smooth_boxes([None, None])


@pytest.mark.parametrize("size", [256, 512])
def test_the_drawn_face_is_found_by_the_haar_cascade_where_it_says(size: int) -> None:
    face = DrawnFace(size, 100)
    detector = HaarFaceDetector()
    for index in range(0, 100, 9):
        frame = face.render(index, MouthShape(float(index % 3) / 2, 0.0))
        found = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        assert found is not None, index
        assert _iou(found, face.face_box(index)) > 0.75


def test_the_drawn_face_loops_blinks_and_draws_only_the_mouth() -> None:
    face = DrawnFace(256, 50)
    assert np.array_equal(face.render(0), face.render(50))
    open_mouth = face.render(0, MouthShape(1.0, 0.0))
    changed = np.argwhere(np.any(open_mouth != face.render(0), axis=2))
    assert len(changed) > 100
    top, bottom = changed[:, 0].min(), changed[:, 0].max()
    assert top > 0.55 * 256 and bottom < 0.7 * 256  # around the mouth only
    blinks = [i for i in range(50) if face.pose(i).blink == 1.0]
    assert len(blinks) == 2


@pytest.mark.parametrize("index", [0, 13, 27])
def test_redrawing_only_the_mouth_matches_drawing_the_whole_frame(index: int) -> None:
    face = DrawnFace(256, 50)
    idle = face.render(index)
    for shape in (MouthShape(1.0, 0.3), MouthShape(0.4, -0.8), MouthShape(0.2, 1.0)):
        whole = face.render(index, shape).astype(int)
        fast = face.render_mouth(idle, index, shape).astype(int)
        assert np.abs(whole - fast).max() <= 8  # sub-pixel interpolation only
        assert (np.abs(whole - fast) > 2).sum() < 30


@pytest.mark.parametrize(("size", "times"), [(256, 1), (256, 2), (512, 2)])
def test_the_mouth_drawn_at_a_halved_size_is_the_whole_frame_halved(size: int, times: int) -> None:
    # Drawn at the size a stream is sent at, the talking frame must be exactly the full-size
    # one scaled down: the idle loop (scaled from full size) and speech then join without a
    # seam, and the mouth looks as it always did.
    face = DrawnFace(size, 50)
    for index in (0, 11, 12, 37):  # 11-13 blink, which the patch must not touch
        idle = face.render(index)
        small = halved(idle, times)
        for shape in (MouthShape(1.0, 0.3), MouthShape(0.4, -0.8), MouthShape(0.05, 1.0)):
            full = face.render_mouth(idle, index, shape)
            drawn_small = face.render_mouth(idle, index, shape, halvings=times, small_idle=small)
            assert drawn_small.shape == small.shape
            assert np.array_equal(drawn_small, halved(full, times)), (index, shape)
            assert not np.array_equal(drawn_small, small)  # the mouth is there
    with pytest.raises(ValueError, match="small idle frame"):
        face.render_mouth(idle, 0, MouthShape(1.0, 0.0), halvings=1)


# -- engine registry -----------------------------------------------------------------------


def test_an_unknown_engine_stops_the_start_with_the_names_to_use() -> None:
    settings = LipsyncSettings.model_construct(engine="nonesuch")
    with pytest.raises(StartupError, match="LIPSYNC_ENGINE to one of procedural, wav2lip"):
        create_engine(settings)


def test_engines_are_built_from_settings_and_imported_only_when_chosen() -> None:
    engine = create_engine(LipsyncSettings(engine="procedural"))
    assert engine.name == "procedural" and engine.settings.engine == "procedural"
    assert set(ENGINES) == {"procedural", "wav2lip"}
