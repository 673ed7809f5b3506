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


def test_start_only_arms_the_transport_beat_zero_is_the_first_tick() -> None:
    """Start 200 ms before the first tick: nothing may play before that tick (it used to come 190 ms early)."""
    follower = ClockFollower(tempo_bpm=120.0)
    feed_ticks(follower, 0.0, 48, 120.0)  # the DAW sends clock while stopped
    assert follower.feed(START, 5.0) is TransportEvent.START
    assert not follower.state.playing and follower.armed
    assert follower.state.time_at(0.0) is None
    assert follower.feed(CLOCK, 5.2) is TransportEvent.RUNNING
    state = follower.state
    assert state.playing and state.time_at(0.0) == pytest.approx(5.2)
    feed_ticks(follower, 5.2 + 0.5 / 24, 24 * 2, 120.0)
    assert follower.state.time_at(2.0) == pytest.approx(5.2 + 1.0, abs=0.001)


@pytest.mark.parametrize("lost", [1, 2, 4])
def test_ticks_lost_on_the_way_do_not_put_the_position_behind(lost: int) -> None:
    """A JACK cycle missed under load drops the ticks it carried: counting arrivals put every later note
    `lost` ticks late for good (41 ms for two at 120 BPM). The position must stay on the DAW's line."""
    follower = ClockFollower(tempo_bpm=120.0)
    follower.feed(START, 0.0)
    interval = 60.0 / (120.0 * 24)
    rng = random.Random(3)
    for tick in range(24 * 16):
        if 24 * 6 <= tick < 24 * 6 + lost:
            continue  # these never arrive
        follower.feed(CLOCK, 0.01 + tick * interval + rng.uniform(0, 0.0027))
    state = follower.state
    assert follower.lost_ticks == lost
    # Beat 16 falls 16 beats after the first tick, whatever was lost on the way.
    assert state.time_at(16.0) == pytest.approx(0.01 + 16 * 0.5 + 0.00135, abs=0.002)
    assert follower.tempo_bpm == pytest.approx(120.0, rel=0.005)


def test_ticks_delivered_late_in_a_burst_are_not_taken_as_lost() -> None:
    follower = ClockFollower(tempo_bpm=120.0)
    follower.feed(START, 0.0)
    interval = 60.0 / (120.0 * 24)
    for tick in range(24 * 8):
        at = 0.01 + tick * interval
        if 24 * 4 <= tick < 24 * 4 + 3:
            at = 0.01 + (24 * 4 + 3) * interval  # three ticks held up, then delivered with the fourth
        follower.feed(CLOCK, at)
    assert follower.lost_ticks == 0 and follower.late_ticks >= 2
    assert follower.state.time_at(8.0) == pytest.approx(0.01 + 8 * 0.5, abs=0.001)


def test_a_sudden_halving_of_tempo_is_a_tempo_change_not_lost_ticks() -> None:
    follower = ClockFollower(tempo_bpm=120.0)
    follower.feed(START, 0.0)
    t = feed_ticks(follower, 0.0, 24 * 4, 120.0)
    feed_ticks(follower, t, 24 * 2, 60.0)
    assert follower.lost_ticks == 0
    assert follower.tempo_bpm == pytest.approx(60.0, rel=0.01)


def test_a_clock_that_was_silent_while_stopped_starts_afresh() -> None:
    follower = ClockFollower(tempo_bpm=120.0)
    follower.feed(START, 0.0)
    t = feed_ticks(follower, 0.01, 24 * 4, 120.0)
    follower.feed(STOP, t)
    follower.feed(START, t + 10.0)  # no clock for 10 s, then Start and ticks again
    feed_ticks(follower, t + 10.05, 24 * 4, 120.0)
    assert follower.lost_ticks == 0
    assert follower.state.time_at(4.0) == pytest.approx(t + 10.05 + 2.0, abs=0.001)
