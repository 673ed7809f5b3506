"""MIDI clock: following a DAW's 24 ppqn clock and transport, or being the clock master.

The follower is pure: it is fed (bytes, monotonic time) pairs, as a port callback would, and keeps a
TransportState that maps beats to times. Tempo is the slope of a least-squares line through the
recent clock ticks, which averages away the jitter of the port (a JACK port delivers on period
boundaries, a few milliseconds on a 20 ms tick); a run of ticks all early or all late means the DAW
changed tempo, and the window is cut back so the estimate follows within a few ticks.
"""

from __future__ import annotations

import enum
from collections import deque

from daw_bridge import midi
from daw_bridge.timeline import TransportState, check_tempo


class TransportEvent(enum.Enum):
    START = "start"
    STOP = "stop"
    CONTINUE = "continue"
    LOCATE = "locate"


class ClockFollower:
    """Follows Start/Stop/Continue, Song Position Pointer and clock ticks from a DAW.

    Args:
        tempo_bpm: tempo assumed until two clock ticks have been heard.
        window_ticks: ticks in the tempo fit (24 = one beat).
        drift_ticks: this many consecutive ticks off the fitted line on the same side, each by more
            than `drift_fraction` of a tick, are taken as a tempo change.
    """

    def __init__(
        self,
        tempo_bpm: float = 120.0,
        window_ticks: int = 24,
        drift_ticks: int = 6,
        drift_fraction: float = 0.12,
    ) -> None:
        self._window: deque[tuple[int, float]] = deque(maxlen=window_ticks)
        self._drift_ticks = drift_ticks
        self._drift_fraction = drift_fraction
        self._drift_run = 0
        self._count = 0  # every clock tick heard, playing or not: tempo is estimated from all of them
        self._position = 0  # song position in ticks: the index the next tick played will have
        self._count_at_zero = 0  # _count of the tick at song position 0 (position = count - this)
        self._await_first_tick = False
        self._playing = False
        self._slope_s = 60.0 / (check_tempo(tempo_bpm) * midi.CLOCKS_PER_BEAT)
        self._intercept_s = 0.0
        self._last_tick_s: float | None = None
        self._started_s = 0.0
        self.state = TransportState(tempo_bpm=tempo_bpm)

    @property
    def tempo_bpm(self) -> float:
        return 60.0 / (self._slope_s * midi.CLOCKS_PER_BEAT)

    @property
    def last_tick_s(self) -> float | None:
        return self._last_tick_s

    def feed(self, data: bytes, at_s: float) -> TransportEvent | None:
        """Takes one incoming message; returns the transport change it caused, if any."""
        if not data:
            return None
        status = data[0]
        if status == midi.CLOCK:
            self._tick(at_s)
            return None
        if status in (midi.START, midi.CONTINUE):
            self._last_tick_s = at_s  # a sign of life: the clock's silence is timed from here
        if status == midi.START:
            self._position = 0
            self._await_first_tick = True
            self._playing = True
            self._started_s = at_s
            # Provisional until the first tick: beat 0 is the first clock after Start.
            self.state = TransportState(True, 0.0, at_s, self.tempo_bpm, at_s)
            return TransportEvent.START
        if status == midi.CONTINUE:
            self._await_first_tick = True
            self._playing = True
            beat = self._position / midi.CLOCKS_PER_BEAT
            self._started_s = at_s - beat * self.state.seconds_per_beat
            self.state = TransportState(True, beat, at_s, self.tempo_bpm, self._started_s)
            return TransportEvent.CONTINUE
        if status == midi.STOP:
            if self._playing and not self._await_first_tick:
                self._position = self._count - self._count_at_zero + 1
            self._playing = False
            self._await_first_tick = False
            self.state = TransportState(
                False, self._position / midi.CLOCKS_PER_BEAT, at_s, self.tempo_bpm, self._started_s
            )
            return TransportEvent.STOP
        if status == midi.SONG_POSITION and len(data) == 3:
            self._position = midi.decode_song_position(data) * midi.CLOCKS_PER_SIXTEENTH
            self.state = TransportState(
                self.state.playing, self._position / midi.CLOCKS_PER_BEAT, at_s, self.tempo_bpm, self._started_s
            )
            return TransportEvent.LOCATE
        return None

    def _tick(self, at_s: float) -> None:
        self._count += 1
        self._last_tick_s = at_s
        if self._window and len(self._window) >= 3:
            predicted = self._intercept_s + self._slope_s * self._count
            residual = at_s - predicted
            if abs(residual) > self._drift_fraction * self._slope_s:
                same_side = self._drift_run == 0 or (self._drift_run > 0) == (residual > 0)
                self._drift_run = (abs(self._drift_run) + 1 if same_side else 1) * (1 if residual > 0 else -1)
            else:
                self._drift_run = 0
            if abs(self._drift_run) >= self._drift_ticks:
                keep = list(self._window)[-(self._drift_ticks - 1) :]
                self._window.clear()
                self._window.extend(keep)
                self._drift_run = 0
        self._window.append((self._count, at_s))
        self._fit()
        if self._await_first_tick:
            self._count_at_zero = self._count - self._position
            self._await_first_tick = False
            if self._position == 0:
                self._started_s = at_s
        if self._playing:
            position = self._count - self._count_at_zero
            anchor_s = self._intercept_s + self._slope_s * self._count
            # The fitted line can sit a little off the newest tick; never let it move beat 0 of a fresh
            # start before the tick that defines it.
            if len(self._window) < 3:
                anchor_s = at_s
            self.state = TransportState(
                True, position / midi.CLOCKS_PER_BEAT, anchor_s, self.tempo_bpm, self._started_s
            )
        else:
            self.state = TransportState(
                False, self.state.anchor_beat, self.state.anchor_s, self.tempo_bpm, self._started_s
            )

    def _fit(self) -> None:
        n = len(self._window)
        if n < 2:
            self._intercept_s = self._window[0][1] - self._slope_s * self._window[0][0]
            return
        mean_x = sum(x for x, _ in self._window) / n
        mean_y = sum(y for _, y in self._window) / n
        sxx = sum((x - mean_x) ** 2 for x, _ in self._window)
        sxy = sum((x - mean_x) * (y - mean_y) for x, y in self._window)
        slope = sxy / sxx
        # 20-300 BPM: anything else is a glitch (two ticks in one period), not a tempo.
        low, high = 60.0 / (300.0 * midi.CLOCKS_PER_BEAT), 60.0 / (20.0 * midi.CLOCKS_PER_BEAT)
        self._slope_s = min(max(slope, low), high)
        self._intercept_s = mean_y - self._slope_s * mean_x


class MasterClock:
    """Clock master: which clock ticks are due. Pure; the port player sends them on time.

    Ticks fall on every 1/24 beat of the transport; `due(until_beat)` returns the beats of the ticks up
    to `until_beat` not yet handed out.
    """

    def __init__(self) -> None:
        self._next_tick = 0

    def restart(self, beat: float) -> None:
        self._next_tick = int(-(-round(beat * midi.CLOCKS_PER_BEAT * 1e6) // 1_000_000))

    def due(self, until_beat: float) -> list[float]:
        last = int((until_beat * midi.CLOCKS_PER_BEAT) + 1e-9)
        beats = [tick / midi.CLOCKS_PER_BEAT for tick in range(self._next_tick, last + 1)]
        self._next_tick = max(self._next_tick, last + 1)
        return beats
