"""Fixtures for the bridge: a fake monotonic clock (a test double for time), clips built in code, and a
private JACK server with the dummy backend for real-port tests."""

from __future__ import annotations

import pytest

from daw_bridge.midi import TimedMessage, midi_from_messages, note_off, note_on
from tests.daw_bridge.jack_server import jack_server  # noqa: F401 - a fixture


class FakeClock:
    """Monotonic time that moves only when a test says so."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.t = start_s

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@pytest.fixture()
def fake_clock() -> FakeClock:
    return FakeClock()


def scale_clip_midi(bars: int = 1, channel: int = 0, first_pitch: int = 60, step_beats: float = 0.5, tracks: int = 1) -> bytes:
    """A clip of `bars` 4/4 bars: one note every `step_beats`, pitches rising from `first_pitch`, each
    note lasting half its step; track t plays on channel `channel + t`, a fifth higher per track."""
    messages = []
    steps = int(bars * 4 / step_beats)
    for track in range(tracks):
        for i in range(steps):
            pitch = first_pitch + 7 * track + i % 24
            start = i * step_beats
            messages.append(TimedMessage.of(start, note_on(channel + track, pitch, 90), track))
            messages.append(TimedMessage.of(start + step_beats / 2, note_off(channel + track, pitch), track))
    return midi_from_messages(messages)
