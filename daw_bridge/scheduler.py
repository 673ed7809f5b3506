"""Placing clips on the beat grid and handing their messages out a little before they are due.

`LookaheadScheduler` is pure (beats in, (time, message) out, for a given transport snapshot and
time); `launch_beat` implements clip-launch quantisation. The thread that turns due messages into
port writes at the right moment lives in daw_bridge.player.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from daw_bridge.midi import Clip, TimedMessage, is_note_off, is_note_on
from daw_bridge.timeline import TransportState, next_bar


def launch_beat(
    state: TransportState,
    now_s: float,
    beats_per_bar: float,
    lookahead_s: float,
    immediately: bool = False,
    bars: int = 1,
) -> float:
    """Where a clip asked for now starts: the next bar line (or, with `bars` > 1, the next boundary of
    that many bars: a phrase) that is still at least `lookahead_s` away (so its first notes reach the
    DAW in time), like clip launching in a DAW; with `immediately`, the next sixteenth note after the
    lookahead. While the transport is stopped the clip waits at the current position's boundary (a
    clip launched at song start plays from beat 0)."""
    quantum = beats_per_bar * max(1, bars)
    if not state.playing:
        if immediately:
            return state.anchor_beat
        return next_bar(state.anchor_beat, quantum)
    earliest = state.beat_at(now_s + lookahead_s)
    if immediately:
        return next_bar(earliest, 0.25)
    return next_bar(earliest, quantum)


@dataclass(frozen=True)
class Scheduled:
    """A message handed out by the scheduler: when it should sound, and what it is."""

    time_s: float
    message: TimedMessage
    request_id: str = ""
    lane: int = 0


class LookaheadScheduler:
    """Beat-stamped messages waiting to be played, released `lookahead_s` before they sound.

    Messages stay keyed by beat until released, so a tempo change or a clock correction that arrives
    before then still moves them.
    """

    def __init__(self, lookahead_s: float) -> None:
        self.lookahead_s = lookahead_s
        self._heap: list[tuple[TimedMessage, int, str, int]] = []
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add_clip(self, clip: Clip, at_beat: float, request_id: str = "", lane: int = 0) -> None:
        for message in clip.messages:
            self.add(
                TimedMessage(message.beat + at_beat, message.order, message.track, message.data), request_id, lane
            )

    def add(self, message: TimedMessage, request_id: str = "", lane: int = 0) -> None:
        heapq.heappush(self._heap, (message, next(self._sequence), request_id, lane))

    def next_beat(self) -> float | None:
        return self._heap[0][0].beat if self._heap else None

    def due(self, state: TransportState, now_s: float) -> list[Scheduled]:
        """Releases, in order, every message that sounds no later than now + lookahead.

        Nothing is released while the transport is stopped. A message whose beat has already passed is
        released at once with its (past) time, so the caller can send it late rather than lose it.
        """
        released: list[Scheduled] = []
        if not state.playing:
            return released
        horizon_beat = state.beat_at(now_s + self.lookahead_s)
        while self._heap and self._heap[0][0].beat <= horizon_beat + 1e-9:
            message, _, request_id, lane = heapq.heappop(self._heap)
            time_s = state.time_at(message.beat)
            assert time_s is not None
            released.append(Scheduled(time_s, message, request_id, lane))
        return released

    def cut_lane(self, lane: int, beat: float) -> int:
        """Ends a lane's waiting messages at `beat` (a clip replaced or stopped there): notes that would
        start at or after it are dropped with their note-offs; notes that started before it end on it.
        Returns how many messages were dropped."""
        kept: list[tuple[TimedMessage, int, str, int]] = []
        dropped_ons: dict[tuple[int, int, int], int] = {}
        dropped = 0
        for item in sorted(self._heap):
            message, sequence, request_id, item_lane = item
            if item_lane != lane or message.beat < beat - 1e-9:
                kept.append(item)
                continue
            data = message.data
            key = (message.track, data[0] & 0x0F, data[1]) if len(data) == 3 else None
            if is_note_on(data):
                dropped_ons[key] = dropped_ons.get(key, 0) + 1  # type: ignore[index]
                dropped += 1
            elif is_note_off(data) and not dropped_ons.get(key):  # type: ignore[arg-type]
                # Its note-on came before the cut: the note ends on the cut, before the new clip starts.
                kept.append((TimedMessage(beat, 0, message.track, data), sequence, request_id, lane))
            elif is_note_off(data):
                dropped_ons[key] -= 1  # type: ignore[index]
                dropped += 1
            else:
                dropped += 1
        heapq.heapify(kept)
        self._heap = kept
        return dropped

    def drop_before(self, beat: float) -> int:
        """Drops messages before `beat` (left over from before the transport moved); returns how many."""
        kept = [item for item in self._heap if item[0].beat >= beat - 1e-9]
        dropped = len(self._heap) - len(kept)
        if dropped:
            heapq.heapify(kept)
            self._heap = kept
        return dropped

    def clear(self) -> int:
        """Drops every waiting message (transport stopped); returns how many."""
        dropped = len(self._heap)
        self._heap.clear()
        return dropped
