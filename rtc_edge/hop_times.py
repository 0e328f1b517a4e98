"""When the edge passed on a turn's moments, so a load test can tell which hop a wait was in.

A student's wait from its end of speech to its final transcript crosses the uplink (its
microphone, TURN, the edge's receiver), the gateway (end of turn, recognition, two gRPC hops)
and the downlink (the data channel); the first frame crosses the edge's playout too. The edge
notes, per turn, when it forwarded the last sound of the student's speech, read the final
transcript and sent it on, read the answer's first frame and began playing it. The ended
turn's page message carries them (``edge_s``), in ``time.monotonic()`` seconds: one clock for
every process of a host, the one a load test on the same host stamps its end of speech with.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Turns remembered at once: a turn's record goes when it ends; one that never ends (the
# conversation closed) is pushed out by later ones.
MAX_TURNS = 8

SPEECH_FORWARDED = "speech_forwarded"
FINAL_READ = "final_read"
FINAL_SENT = "final_sent"
FIRST_FRAME_READ = "first_frame_read"
FIRST_FRAME_PLAYING = "first_frame_playing"


class TurnHops:
    """One peer's hop times, turn by turn.

    Args:
        clock: Seconds on the host's monotonic clock.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_sound: float | None = None
        self._turns: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._awaiting_playback: str | None = None  # the turn whose first frame was read last

    def sound_forwarded(self) -> None:
        """The edge handed on microphone audio with sound in it (not silence)."""
        self._last_sound = self._clock()

    def final_read(self, turn_id: str) -> None:
        """The final transcript that starts ``turn_id`` came from the gateway: the speech it
        ends is the sound forwarded last."""
        record = self._record(turn_id)
        if record is None:
            return
        if self._last_sound is not None:
            record.setdefault(SPEECH_FORWARDED, self._last_sound)
        record.setdefault(FINAL_READ, self._clock())

    def final_sent(self, turn_id: str) -> None:
        """The final transcript went to the page."""
        record = self._record(turn_id)
        if record is not None:
            record.setdefault(FINAL_SENT, self._clock())

    def frame_read(self, turn_id: str) -> None:
        """A frame of ``turn_id`` came from the gateway (only the first is noted)."""
        record = self._record(turn_id)
        if record is not None and FIRST_FRAME_READ not in record:
            record[FIRST_FRAME_READ] = self._clock()
            self._awaiting_playback = turn_id

    def playing(self) -> None:
        """The playout began showing a turn: the one whose first frame was read last."""
        turn_id, self._awaiting_playback = self._awaiting_playback, None
        if turn_id is not None and (record := self._turns.get(turn_id)) is not None:
            record.setdefault(FIRST_FRAME_PLAYING, self._clock())

    def ended(self, turn_id: str) -> dict[str, float]:
        """The turn's times (rounded to 0.1 ms), forgotten here."""
        record = self._turns.pop(turn_id, {})
        return {name: round(at, 4) for name, at in record.items()}

    def _record(self, turn_id: str) -> dict[str, float] | None:
        if not turn_id:
            return None
        record = self._turns.get(turn_id)
        if record is None:
            record = self._turns[turn_id] = {}
            while len(self._turns) > MAX_TURNS:
                self._turns.popitem(last=False)
        return record
