"""Where the transport is: the mapping between beats and monotonic seconds, and the bar grid.

Everything here is pure arithmetic on an injected clock, so clock following, scheduling and launch
quantisation are tested without waiting for real time to pass.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from ostinato.errors import InvalidInput


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class TimeSignature:
    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.numerator <= 32 or self.denominator not in (1, 2, 4, 8, 16, 32):
            raise InvalidInput(
                f"time signature {self.numerator}/{self.denominator} is not usable: the numerator must be "
                "1-32 and the denominator a power of two up to 32"
            )

    @property
    def beats_per_bar(self) -> float:
        """Bar length in quarter notes (6/8 is 3.0, 3/4 is 3.0, 7/8 is 3.5)."""
        return self.numerator * 4.0 / self.denominator


def check_tempo(tempo_bpm: float) -> float:
    if not math.isfinite(tempo_bpm) or not 20.0 <= tempo_bpm <= 300.0:
        raise InvalidInput(f"tempo {tempo_bpm:g} BPM is outside 20-300 BPM")
    return float(tempo_bpm)


def next_bar(beat: float, beats_per_bar: float, inclusive: bool = True) -> float:
    """The first bar line at or after `beat` (strictly after when inclusive is False)."""
    bars = beat / beats_per_bar
    # Tolerate float noise: 7.9999999 beats is bar line 8.
    index = math.ceil(bars - 1e-9) if inclusive else math.floor(bars + 1e-9) + 1
    return index * beats_per_bar


@dataclass(frozen=True)
class TransportState:
    """A snapshot of the transport: at monotonic time `anchor_s` the song was at `anchor_beat`, moving
    at `tempo_bpm` if playing. Immutable, so readers in other threads never see half an update."""

    playing: bool = False
    anchor_beat: float = 0.0
    anchor_s: float = 0.0
    tempo_bpm: float = 120.0
    # Monotonic time of the last Start (beat 0), for session times in seconds.
    started_s: float = 0.0

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo_bpm

    def beat_at(self, now_s: float) -> float:
        if not self.playing:
            return self.anchor_beat
        return self.anchor_beat + (now_s - self.anchor_s) / self.seconds_per_beat

    def time_at(self, beat: float) -> float | None:
        """Monotonic time at which `beat` will sound, or None while stopped."""
        if not self.playing:
            return None
        return self.anchor_s + (beat - self.anchor_beat) * self.seconds_per_beat

    def session_seconds(self, beat: float) -> float:
        """Seconds since the transport started at which `beat` sounds (at the current tempo)."""
        at = self.time_at(beat)
        if at is None:
            return beat * self.seconds_per_beat
        return at - self.started_s


class Transport:
    """The transport of a session or of a local bridge in master mode: Start/Stop/Continue, tempo
    changes and position reports, each replacing the TransportState snapshot."""

    def __init__(self, clock: Clock, tempo_bpm: float = 120.0) -> None:
        self._clock = clock
        self.state = TransportState(tempo_bpm=check_tempo(tempo_bpm), anchor_s=clock.now())

    def start(self, at_s: float | None = None) -> TransportState:
        now = self._clock.now() if at_s is None else at_s
        self.state = TransportState(True, 0.0, now, self.state.tempo_bpm, now)
        return self.state

    def stop(self, at_s: float | None = None) -> TransportState:
        now = self._clock.now() if at_s is None else at_s
        s = self.state
        self.state = TransportState(False, s.beat_at(now), now, s.tempo_bpm, s.started_s)
        return self.state

    def resume(self, at_s: float | None = None) -> TransportState:
        now = self._clock.now() if at_s is None else at_s
        s = self.state
        if s.playing:
            return s
        started = now - s.anchor_beat * s.seconds_per_beat
        self.state = TransportState(True, s.anchor_beat, now, s.tempo_bpm, started)
        return self.state

    def set_tempo(self, tempo_bpm: float, at_s: float | None = None) -> TransportState:
        now = self._clock.now() if at_s is None else at_s
        s = self.state
        self.state = TransportState(s.playing, s.beat_at(now), now, check_tempo(tempo_bpm), s.started_s)
        return self.state

    def locate(self, beat: float, playing: bool, tempo_bpm: float, at_s: float | None = None) -> TransportState:
        """Adopts a position reported by whoever follows the real clock (a DAW via the bridge)."""
        now = self._clock.now() if at_s is None else at_s
        s = self.state
        started = s.started_s
        if playing and (not s.playing or beat < s.beat_at(now) - 1.0):
            started = now - beat * 60.0 / tempo_bpm
        self.state = TransportState(playing, beat, now, check_tempo(tempo_bpm), started)
        return self.state
