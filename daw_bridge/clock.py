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
from dataclasses import dataclass

from daw_bridge import midi
from daw_bridge.timeline import TransportState, check_tempo


# A silence longer than this many ticks starts a new run of ticks (no tick-loss inference across it).
MAX_GAP_TICKS = 12


class TransportEvent(enum.Enum):
    START = "start"  # Start arrived: the transport is armed, beat 0 is the next clock tick
    STOP = "stop"
    CONTINUE = "continue"  # Continue arrived: armed, the Song Position is the next clock tick
    LOCATE = "locate"
    RUNNING = "running"  # the first clock tick after Start/Continue: the transport now moves


@dataclass(frozen=True)
class ClockStats:
    """What the follower has heard, for status lines and reports."""

    ticks: int
    lost_ticks: int
    late_ticks: int
    tempo_bpm: float


class ClockFollower:
    """Follows Start/Stop/Continue, Song Position Pointer and clock ticks from a DAW.

    Beat 0 is the first clock tick after Start (MIDI 1.0: Start only arms the receiver), so nothing
    plays between Start and that tick.

    Ticks can go missing on their way (a JACK cycle that a client misses under load drops what the
    cycle carried) or arrive late in bursts. Counting arrivals would then put the song position a
    whole tick behind for good: every later note one or more ticks late (41 ms for two ticks at
    120 BPM). So a tick that lands half a tick or more off the fitted line is held apart: if the
    following ticks sit the same whole number of ticks off the line, that many ticks were lost (the
    count jumps, the line stays); if they come back onto it, the tick was only late (kept out of the
    fit); if they drift steadily, the DAW changed tempo (the fit restarts from them).

    Args:
        tempo_bpm: tempo assumed until two clock ticks have been heard.
        window_ticks: ticks in the tempo fit (24 = one beat).
        drift_ticks: this many consecutive ticks off the fitted line on the same side, each by more
            than `drift_fraction` of a tick, are taken as a tempo change; also the ticks watched
            before deciding whether ticks were lost.
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
        self._count = 0  # every clock tick counted, playing or not: tempo is estimated from all of them
        self._position = 0  # song position in ticks: the index the next tick played will have
        self._count_at_zero = 0  # _count of the tick at song position 0 (position = count - this)
        self._await_first_tick = False
        self._playing = False
        self._slope_s = 60.0 / (check_tempo(tempo_bpm) * midi.CLOCKS_PER_BEAT)
        self._intercept_s = 0.0
        self._last_tick_s: float | None = None
        self._started_s = 0.0
        # Ticks off the line, waiting for the next ones to tell lost from late from a new tempo:
        # (count, arrival, residual in ticks).
        self._suspect: list[tuple[int, float, float]] = []
        self.lost_ticks = 0
        self.late_ticks = 0
        self._first_count = 0  # _count of the tick that started the transport
        self.state = TransportState(tempo_bpm=tempo_bpm)

    @property
    def tempo_bpm(self) -> float:
        return 60.0 / (self._slope_s * midi.CLOCKS_PER_BEAT)

    @property
    def last_tick_s(self) -> float | None:
        return self._last_tick_s

    @property
    def armed(self) -> bool:
        """Start or Continue heard, waiting for the tick that starts the transport."""
        return self._await_first_tick

    def stats(self) -> ClockStats:
        return ClockStats(self._count, self.lost_ticks, self.late_ticks, self.tempo_bpm)

    def feed(self, data: bytes, at_s: float) -> TransportEvent | None:
        """Takes one incoming message; returns the transport change it caused, if any."""
        if not data:
            return None
        status = data[0]
        if status == midi.CLOCK:
            return self._tick(at_s)
        if status in (midi.START, midi.CONTINUE):
            self._last_tick_s = at_s  # a sign of life: the clock's silence is timed from here
        if status in (midi.START, midi.CONTINUE):
            self._suspect = []
        if status == midi.START:
            self._position = 0
            self._await_first_tick = True
            self._playing = False
            # Armed, not moving: beat 0 is the first clock after Start.
            self.state = TransportState(False, 0.0, at_s, self.tempo_bpm, at_s)
            return TransportEvent.START
        if status == midi.CONTINUE:
            self._await_first_tick = True
            self._playing = False
            beat = self._position / midi.CLOCKS_PER_BEAT
            self.state = TransportState(False, beat, at_s, self.tempo_bpm, self._started_s)
            return TransportEvent.CONTINUE
        if status == midi.STOP:
            if self._playing:
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

    # -- ticks ----------------------------------------------------------------------------------------
    def _residual_ticks(self, count: int, at_s: float) -> float:
        """How far (in ticks) a tick counted `count` arrived from the fitted line (positive: late)."""
        return (at_s - (self._intercept_s + self._slope_s * count)) / self._slope_s

    def _tick(self, at_s: float) -> TransportEvent | None:
        self._count += 1
        self._last_tick_s = at_s
        previous_s = self._suspect[-1][1] if self._suspect else (self._window[-1][1] if self._window else None)
        if previous_s is not None and at_s - previous_s > MAX_GAP_TICKS * self._slope_s:
            # The clock was silent (many DAWs send it only while playing): a new run of ticks, not
            # lost ones. Keep the tempo, forget the line.
            self._window.clear()
            self._suspect = []
            self._drift_run = 0
        residual = self._residual_ticks(self._count, at_s) if len(self._window) >= 3 else 0.0
        reliable = len(self._window) >= max(6, self._drift_ticks)
        if reliable and (self._suspect or abs(residual) >= 0.5):
            self._suspect.append((self._count, at_s, residual))
            self._classify_suspects()
        else:
            self._accept(self._count, at_s, residual)
        return self._advance(at_s)

    def _classify_suspects(self) -> None:
        suspects = self._suspect
        last_residual = suspects[-1][2]
        if abs(last_residual) < 0.5:
            # Back on the line: the ones before were delivered late (a burst), not lost.
            self.late_ticks += len(suspects) - 1
            count, at_s, residual = suspects[-1]
            self._suspect = []
            self._accept(count, at_s, residual)
            return
        if len(suspects) < self._drift_ticks:
            return
        residuals = [r for _, _, r in suspects]
        counts = [c for c, _, _ in suspects]
        times = [t for _, t, _ in suspects]
        mean_c, mean_t = sum(counts) / len(counts), sum(times) / len(times)
        slope = sum((c - mean_c) * (t - mean_t) for c, t in zip(counts, times)) / sum((c - mean_c) ** 2 for c in counts)
        self._suspect = []
        if abs(slope / self._slope_s - 1.0) < 0.1:
            # The ticks run at the old tempo, a whole number of ticks off the line: that many were lost
            # on the way (or, negative, a tick was doubled). The line stays; the count moves.
            whole = round(sum(residuals) / len(residuals))
            self.lost_ticks += whole
            self._count += whole
            for count, at_s, residual in suspects:
                self._accept(count + whole, at_s, residual - whole)
            return
        # A steady drift: the DAW changed tempo. Start the fit again from these ticks.
        self._window.clear()
        self._window.extend(zip(counts, times))
        self._drift_run = 0
        self._fit()

    def _accept(self, count: int, at_s: float, residual: float) -> None:
        if len(self._window) >= 3 and abs(residual) > self._drift_fraction:
            same_side = self._drift_run == 0 or (self._drift_run > 0) == (residual > 0)
            self._drift_run = (abs(self._drift_run) + 1 if same_side else 1) * (1 if residual > 0 else -1)
        else:
            self._drift_run = 0
        if abs(self._drift_run) >= self._drift_ticks:
            keep = list(self._window)[-(self._drift_ticks - 1) :]
            self._window.clear()
            self._window.extend(keep)
            self._drift_run = 0
        self._window.append((count, at_s))
        self._fit()

    def _advance(self, at_s: float) -> TransportEvent | None:
        event = None
        if self._await_first_tick:
            self._count_at_zero = self._count - self._position
            self._await_first_tick = False
            self._playing = True
            event = TransportEvent.RUNNING
            if self._position == 0:
                self._started_s = at_s
            else:
                self._started_s = at_s - self._position * self._slope_s
            # The first tick defines where the transport is: anchor on it, not on the fitted line.
            self.state = TransportState(
                True, self._position / midi.CLOCKS_PER_BEAT, at_s, self.tempo_bpm, self._started_s
            )
            self._first_count = self._count
            return event
        if self._playing:
            if self._suspect:
                return None  # keep the line we trust until the suspects are explained
            position = self._count - self._count_at_zero
            anchor_s = self._intercept_s + self._slope_s * self._count
            if self._count - self._first_count < 3 or len(self._window) < 3:
                # Too few ticks since the start for the line: stay on the tick that defined beat 0.
                anchor_s = at_s
            self.state = TransportState(
                True, position / midi.CLOCKS_PER_BEAT, anchor_s, self.tempo_bpm, self._started_s
            )
        else:
            self.state = TransportState(
                False, self.state.anchor_beat, self.state.anchor_s, self.tempo_bpm, self._started_s
            )
        return event

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
