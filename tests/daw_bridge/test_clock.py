"""Clock following and mastering as pure code: ticks are fed with chosen timestamps."""

from __future__ import annotations

import random

import pytest

from daw_bridge import midi
from daw_bridge.clock import ClockFollower, MasterClock, TransportEvent

START = bytes((midi.START,))
STOP = bytes((midi.STOP,))
CONTINUE = bytes((midi.CONTINUE,))
CLOCK = bytes((midi.CLOCK,))


def feed_ticks(follower: ClockFollower, t0: float, ticks: int, tempo_bpm: float, jitter_s: float = 0.0, seed: int = 0) -> float:
    """Feeds `ticks` clock ticks starting at t0; returns the time of the next tick."""
    rng = random.Random(seed)
    interval = 60.0 / (tempo_bpm * 24)
    t = t0
    for _ in range(ticks):
        follower.feed(CLOCK, t + rng.uniform(0, jitter_s))
        t += interval
    return t


def test_start_puts_beat_zero_on_the_first_tick_and_tempo_is_estimated_through_jitter() -> None:
    follower = ClockFollower(tempo_bpm=100.0)
    assert follower.feed(START, 10.0) is TransportEvent.START
    # Ticks every 1/48 s = 125 BPM, each delivered up to 2.7 ms late (a JACK period of 128 at 48 kHz).
    feed_ticks(follower, 10.001, 24 * 8, 125.0, jitter_s=0.0027)
    state = follower.state
    assert state.playing
    assert follower.tempo_bpm == pytest.approx(125.0, rel=0.005)
    # 8 beats were played: beat 8 is due one tick after the last one.
    assert state.time_at(8.0) == pytest.approx(10.001 + 8 * 0.48 + 0.00135, abs=0.002)
    assert state.beat_at(10.001 + 4 * 0.48) == pytest.approx(4.0, abs=0.01)


def test_stop_holds_the_position_and_continue_resumes_from_it() -> None:
    follower = ClockFollower()
    follower.feed(START, 0.0)
    t = feed_ticks(follower, 0.0, 24 * 3 + 12, 120.0)  # three and a half beats
    assert follower.feed(STOP, t) is TransportEvent.STOP
    assert not follower.state.playing
    assert follower.state.anchor_beat == pytest.approx(3.5)
    # The DAW keeps sending clock while stopped: the position does not move.
    t = feed_ticks(follower, t + 1.0, 48, 120.0)
    assert follower.state.beat_at(t + 5) == pytest.approx(3.5)
    assert follower.feed(CONTINUE, t) is TransportEvent.CONTINUE
    feed_ticks(follower, t + 0.001, 24, 120.0)
    assert follower.state.playing
    assert follower.state.anchor_beat == pytest.approx(3.5 + 23 / 24)


def test_song_position_pointer_moves_the_stopped_transport() -> None:
    follower = ClockFollower()
    assert follower.feed(midi.song_position(4 * 16 + 2), 0.0) is TransportEvent.LOCATE  # bar 5, third 16th
    assert follower.state.anchor_beat == pytest.approx(16.5)
    follower.feed(CONTINUE, 0.01)
    feed_ticks(follower, 0.02, 1, 120.0)
    assert follower.state.anchor_beat == pytest.approx(16.5)
    assert follower.state.time_at(16.5) == pytest.approx(0.02)


@pytest.mark.parametrize(("before", "after"), [(120.0, 140.0), (140.0, 90.0)])
def test_a_tempo_change_is_followed_within_a_beat(before: float, after: float) -> None:
    follower = ClockFollower(tempo_bpm=before)
    follower.feed(START, 0.0)
    t = feed_ticks(follower, 0.0, 24 * 4, before, jitter_s=0.002, seed=1)
    assert follower.tempo_bpm == pytest.approx(before, rel=0.01)
    feed_ticks(follower, t, 24, after, jitter_s=0.002, seed=2)
    assert follower.tempo_bpm == pytest.approx(after, rel=0.02)


def test_a_silent_clock_keeps_the_last_tempo() -> None:
    follower = ClockFollower()
    follower.feed(START, 0.0)
    feed_ticks(follower, 0.0, 48, 100.0)
    assert follower.last_tick_s == pytest.approx(47 * 60 / 2400)
    assert follower.tempo_bpm == pytest.approx(100.0, rel=1e-6)


def test_master_clock_hands_out_every_tick_once() -> None:
    master = MasterClock()
    master.restart(0.0)
    first = master.due(0.5)
    assert first == [i / 24 for i in range(13)]
    assert master.due(0.5) == []
    assert master.due(1.0) == [i / 24 for i in range(13, 25)]
    master.restart(2.0)
    assert master.due(2.0) == [2.0]
