"""One peer's outgoing media: bounded queues of the tutor's frames, timed by their pts.

The gateway sends each video frame paired with exactly the audio it covers. Both halves get
the same due time (local clock) when they are queued, and each track plays what is due at its
own tick. Both tracks tick on one media clock (audio every 20 ms, video every frame, from the
same epoch) and a turn's first due time is put on a video tick, so a turn's first picture and
its first sound leave on the same tick: they start together and cannot drift apart. Between
turns the video track shows the avatar's idle loop and the audio is silence. Media carry their
turn id: an interrupted turn's media are dropped at once, queued or still arriving.

A turn with video starts with its picture: its sound waits until the video track shows the
turn's first frame, and if that frame goes out late (a starved CPU, an encoder slow to open)
the whole turn is shifted by that lateness, so sound and picture still start together. Nor does
it start on a tick whose sound has gone already (a video track catching up on ticks it missed):
its picture and sound would then have different RTP times, which browsers sync by.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from rtc_edge.converse_events import TutorAudio, TutorFrame
from rtc_edge.video_encoding import I420Image
from svc_core.audio import PcmFramer, StreamResampler

logger = logging.getLogger(__name__)

AUDIO_RATE = 48000  # what Opus encodes; the edge asks the gateway for this rate
AUDIO_PTIME_S = 0.02
AUDIO_FRAME_SAMPLES = int(AUDIO_RATE * AUDIO_PTIME_S)
SILENCE = bytes(2 * AUDIO_FRAME_SAMPLES)

# A turn's first frame is due on the first video tick at least this far ahead of "now", so
# that the video track, which picks each frame 30 ms before its tick (tracks.ENCODE_LEAD_S),
# has not yet picked that tick's frame: its picture and its sound then start on that tick,
# not a tick late. The pick is a callback of the same event loop, so any margin past the
# encode lead is enough; each millisecond more is a millisecond of every answer's start.
START_LEAD_S = 0.035
# Audio more than this late is dropped: playing it would put sound behind its picture.
STALE_AUDIO_S = 0.1
# A jump in the gateway's pts larger than this while media is queued is treated as contiguous:
# the gap is not silence the student should wait through.
MAX_PTS_GAP_S = 1.0
# Interrupted turns remembered, so their media still in flight are refused.
DEAD_TURNS = 16
# Turns whose pauses are remembered until their end is reported.
STALLED_TURNS = 8
# A turn whose media ran out before the gateway said it ended (a late TTS or lip-sync chunk
# on a busy machine) keeps its last picture this long, still "speaking": the idle loop does
# not flash in mid-answer and the page is not told the tutor stopped.
UNDERRUN_HOLD_S = 2.0


@dataclass
class PlayoutStats:
    """Counters for tests and logs."""

    video_frames_played: int = 0
    audio_frames_played: int = 0
    idle_frames_played: int = 0
    dropped_on_interrupt: int = 0
    refused_after_interrupt: int = 0
    stale_audio_dropped: int = 0
    stalls: int = 0  # a turn's media came after they were due: it paused, then went on


@dataclass
class _Queued:
    due: float
    turn_id: str


@dataclass
class _QueuedImage(_Queued):
    image: I420Image | None


@dataclass
class _QueuedAudio(_Queued):
    pcm: bytes


class MediaPlayout:
    """Queues of one peer's media and the logic its tracks pull from.

    Args:
        fps: Video frame rate of the outgoing track.
        buffer_s: Seconds of media held at most; ``wait_for_room`` blocks past that.
        on_playback: Called with "speaking" when a turn's first frame plays and "listening"
            when its queue runs dry.
        clock: Monotonic clock in seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        fps: int = 25,
        buffer_s: float = 4.0,
        on_playback: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fps = fps
        self.clock = clock
        self.stats = PlayoutStats()
        self._video: deque[_QueuedImage] = deque()
        self._audio: deque[_QueuedAudio] = deque()
        self._video_capacity = max(1, int(buffer_s * fps))
        self._audio_capacity = max(1, int(buffer_s / AUDIO_PTIME_S))
        self._room = asyncio.Event()
        self._anchor: float | None = None  # local time of gateway pts 0
        self._anchor_turn = ""  # the turn whose media set the anchor
        self._last_due: float | None = None
        self._framer = PcmFramer(AUDIO_FRAME_SAMPLES)
        self._resamplers: dict[int, StreamResampler] = {}
        self._last_turn_image: I420Image | None = None
        self._speaking = False
        self._on_playback = on_playback
        self._dead_turns: deque[str] = deque(maxlen=DEAD_TURNS)
        self._open_turn = ""  # the turn with media queued or coming, until it ends
        self._starved_since: float | None = None  # when the open turn's media ran out
        # Seconds each recent turn paused mid-way because its media came late.
        self._stalled_s: OrderedDict[str, float] = OrderedDict()
        # Turns with video whose first frame has not been shown yet: their sound waits.
        self._unshown_turns: set[str] = set()
        self._video_pulled = False  # a video track plays this playout (else nothing gates sound)
        self._sound_tick = -math.inf  # the audio track's latest tick: its sound is sent
        self.epoch: float | None = None  # when the tracks' first tick was
        self.closed = False

    def start_clock(self) -> float:
        """The media clock's epoch, set by the first track to tick; both tracks tick from it."""
        if self.epoch is None:
            self.epoch = self.clock()
        return self.epoch

    # Producer side (the gateway reader) ------------------------------------------------------

    def push_frame(self, frame: TutorFrame) -> None:
        """Queues a video frame and its audio with one due time (unless its turn was dropped)."""
        if self._refused(frame.turn_id):
            return
        self._open_turn = frame.turn_id or self._open_turn
        due = self._due(frame.pts_us, frame.turn_id)
        idle = not self._video and not self._audio
        if self._video_pulled and frame.turn_id and frame.image is not None and idle:
            self._unshown_turns = {frame.turn_id}  # a turn starts: its picture leads
        self._video.append(_QueuedImage(due, frame.turn_id, frame.image))
        self._queue_audio(due, frame.audio)

    def push_audio(self, chunk: TutorAudio) -> None:
        """Queues audio without video (audio-only sessions)."""
        if self._refused(chunk.turn_id):
            return
        self._open_turn = chunk.turn_id or self._open_turn
        self._queue_audio(self._due(chunk.pts_us, chunk.turn_id), chunk)

    def end_of_turn(self, turn_id: str = "") -> None:
        """The turn ended (all its media sent): queues its last partial 20 ms of audio, padded
        with silence; once its media have played, the tutor is listening."""
        if not turn_id or turn_id == self._open_turn:
            self._open_turn = ""
        rest = self._framer.flush(pad=True)
        if rest is not None:
            due = self._audio[-1].due + AUDIO_PTIME_S if self._audio else self.clock()
            self._audio.append(_QueuedAudio(due, turn_id, rest))

    def drop_turn(self, turn_id: str) -> int:
        """Drops the queued media of ``turn_id`` now and refuses more of it; returns how many."""
        if turn_id:
            self._dead_turns.append(turn_id)
        if turn_id == self._open_turn:
            self._open_turn = ""
        video = [q for q in self._video if q.turn_id != turn_id]
        audio = [q for q in self._audio if q.turn_id != turn_id]
        dropped = len(self._video) - len(video) + len(self._audio) - len(audio)
        self._video, self._audio = deque(video), deque(audio)
        self._after_drop(dropped)
        return dropped

    def drop_other_turns(self, turn_id: str) -> int:
        """Drops the queued media of every turn but ``turn_id``; returns how many.

        A new turn starts while the end of an earlier answer, all sent, still plays here (a
        busy host plays seconds behind): the student spoke or typed over it, and it stops as a
        barge-in stops a turn still being sent, rather than delaying the new answer.
        """
        others = {q.turn_id for q in (*self._video, *self._audio) if q.turn_id != turn_id}
        return sum(self.drop_turn(other) for other in others if other)

    def drop_queued(self) -> int:
        """Drops every queued frame now (the student interrupted); returns how many."""
        dropped = len(self._video) + len(self._audio)
        for turn_id in {q.turn_id for q in (*self._video, *self._audio) if q.turn_id}:
            self._dead_turns.append(turn_id)
        self._open_turn = ""
        self._video.clear()
        self._audio.clear()
        self._after_drop(dropped)
        return dropped

    def _after_drop(self, dropped: int) -> None:
        if not self._video and not self._audio:
            self._framer = PcmFramer(AUDIO_FRAME_SAMPLES)
            self._resamplers.clear()
            self._anchor = None
            self._last_due = None
        self.stats.dropped_on_interrupt += dropped
        self._room.set()

    def _refused(self, turn_id: str) -> bool:
        if turn_id and turn_id in self._dead_turns:
            self.stats.refused_after_interrupt += 1
            return True
        return False

    async def wait_for_room(self) -> None:
        """Waits while the queues hold ``buffer_s`` of media (back-pressure on the reader)."""
        while not self.closed and (
            len(self._video) >= self._video_capacity or len(self._audio) >= self._audio_capacity
        ):
            self._room.clear()
            await self._room.wait()

    @property
    def queued_video(self) -> int:
        """Video frames waiting to play."""
        return len(self._video)

    @property
    def queued_audio(self) -> int:
        """20 ms audio frames waiting to play."""
        return len(self._audio)

    def close(self) -> None:
        """Drops everything and wakes a waiting producer."""
        self.closed = True
        self._video.clear()
        self._audio.clear()
        self._room.set()

    def _on_video_tick(self, at: float) -> float:
        """The first video tick at or after ``at`` (``at`` itself before the clock started)."""
        if self.epoch is None:
            return at
        period = 1 / self.fps
        return self.epoch + math.ceil((at - self.epoch) / period - 1e-6) * period

    def _stalled(self, turn_id: str, by_s: float) -> None:
        """``turn_id`` plays ``by_s`` later than its pts said from here on: a pause the
        student hears mid-answer."""
        if by_s <= 0:
            return
        self.stats.stalls += 1
        self._stalled_s[turn_id] = self._stalled_s.get(turn_id, 0.0) + by_s
        self._stalled_s.move_to_end(turn_id)
        while len(self._stalled_s) > STALLED_TURNS:
            self._stalled_s.popitem(last=False)

    def take_stalled_s(self, turn_id: str) -> float:
        """How long ``turn_id`` paused mid-way because its media came after they were due (a
        TTS or lip-sync chunk late on a busy host); forgotten here."""
        return self._stalled_s.pop(turn_id, 0.0)

    def _due(self, pts_us: int, turn_id: str) -> float:
        now = self.clock()
        pts_s = pts_us / 1e6
        idle = not self._video and not self._audio
        if self._anchor is None or idle:
            # A turn starts: its first frame and first sound on the same video tick. The
            # last turn's due time says nothing about this one's pts (a gap since is no gap
            # in this turn's media: kept, it moved the first frame back there and froze the
            # picture for the whole pause when the next frames came in the same burst).
            anchor = self._on_video_tick(now + START_LEAD_S) - pts_s
            if self._anchor is not None and turn_id and turn_id == self._anchor_turn:
                self._stalled(turn_id, anchor - self._anchor)  # its media ran dry mid-way
            self._anchor, self._anchor_turn = anchor, turn_id
            self._last_due = None
        due = self._anchor + pts_s
        if due < now:
            # The gateway fell behind real time (or the clock jumped): play from the next tick.
            anchor = self._on_video_tick(now) - pts_s
            if turn_id and self._last_due is not None:
                self._stalled(turn_id, anchor - self._anchor)
            self._anchor = anchor
            due = self._anchor + pts_s
        elif self._last_due is not None and due > self._last_due + MAX_PTS_GAP_S:
            self._anchor = self._last_due + 1 / self.fps - pts_s
            due = self._last_due + 1 / self.fps
        self._last_due = due
        return due

    def _queue_audio(self, due: float, chunk: TutorAudio) -> None:
        if not chunk.pcm:
            return
        rate = chunk.sample_rate_hz or AUDIO_RATE
        pcm = chunk.pcm
        if rate != AUDIO_RATE:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                resampler = self._resamplers[rate] = StreamResampler(rate, AUDIO_RATE)
            pcm = resampler.process(pcm)
        for index, piece in enumerate(self._framer.push(pcm)):
            self._audio.append(_QueuedAudio(due + index * AUDIO_PTIME_S, chunk.turn_id, piece))

    # Consumer side (the tracks) --------------------------------------------------------------

    def next_video(self, now: float) -> I420Image | None:
        """The turn picture to show at ``now``; None when the idle loop should show."""
        self._video_pulled = True
        shown: _QueuedImage | None = None
        head = self._video[0] if self._video else None
        if head is not None and head.turn_id in self._unshown_turns:
            if head.due > now + 0.5 / self.fps or self._sound_sent_at(now):
                # Not due yet; or the video track lags the audio track (catching up on the
                # ticks it missed, each with its own RTP time), which sent this tick's silence
                # already: the turn starts on a later tick, as its sound can.
                self.stats.idle_frames_played += 1
                return None
            # The turn's first frame: shown now, whatever the rest that is due; if it is late,
            # the turn (and its sound, which has waited) moves by that much.
            self._unshown_turns.discard(head.turn_id)
            self._shift_turn(head.turn_id, max(0.0, now - head.due))
            while self._video and self._video[0].image is None:
                self._video.popleft()
        while self._video and self._video[0].due <= now + 0.5 / self.fps:
            shown = self._video.popleft()
        if shown is not None:
            self._room.set()
            if shown.image is not None:
                self._last_turn_image = shown.image
                self._starved_since = None
                self.stats.video_frames_played += 1
                self._set_speaking(True)
                return shown.image
        if (
            self._speaking
            and self._last_turn_image is not None
            and (self._video or self._more_coming(now))
        ):
            return self._last_turn_image  # between two frames of a turn
        if not self._video and not self._audio:
            self._set_speaking(False)
        self.stats.idle_frames_played += 1
        return None

    def _more_coming(self, now: float) -> bool:
        """The open turn ran out of media before its end: more is on the way (for a while)."""
        if not self._open_turn:
            return False
        if self._starved_since is None:
            self._starved_since = now
        if now - self._starved_since < UNDERRUN_HOLD_S:
            return True
        logger.warning(
            "turn %s: no media for %.1f s, back to the idle loop",
            self._open_turn,
            now - self._starved_since,
        )
        self._open_turn = ""
        return False

    def upcoming_image(self) -> I420Image | None:
        """The next queued turn picture, not yet due (None when nothing is queued)."""
        return next((q.image for q in self._video if q.image is not None), None)

    def _shift_turn(self, turn_id: str, by_s: float) -> None:
        if by_s <= 0:
            return
        for queued in (*self._video, *self._audio):
            if queued.turn_id == turn_id:
                queued.due += by_s
        if self._anchor is not None:
            self._anchor += by_s
        if self._last_due is not None:
            self._last_due += by_s

    def _sound_sent_at(self, tick: float) -> bool:
        return tick <= self._sound_tick + 1e-6

    def next_audio(self, now: float) -> bytes | None:
        """20 ms of the turn's audio to play at ``now``; None for silence."""
        self._sound_tick = max(self._sound_tick, now)
        if self._audio and self._audio[0].turn_id in self._unshown_turns:
            return None  # the turn's picture has not started yet
        while self._audio and self._audio[0].due < now - STALE_AUDIO_S:
            self._audio.popleft()
            self.stats.stale_audio_dropped += 1
        if self._audio and self._audio[0].due <= now + AUDIO_PTIME_S / 2:
            self._room.set()
            self.stats.audio_frames_played += 1
            return self._audio.popleft().pcm
        return None

    def _set_speaking(self, speaking: bool) -> None:
        if speaking == self._speaking:
            return
        self._speaking = speaking
        if not speaking:
            self._last_turn_image = None
        if self._on_playback is not None:
            self._on_playback("speaking" if speaking else "listening")
