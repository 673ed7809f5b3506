"""Launch quantisation and lookahead release as pure code."""

from __future__ import annotations

import pytest

from daw_bridge import midi
from daw_bridge.midi import TimedMessage, clip_from_midi, note_on
from daw_bridge.scheduler import LookaheadScheduler, launch_beat
from daw_bridge.timeline import TimeSignature, Transport, TransportState, next_bar
from tests.daw_bridge.conftest import FakeClock, scale_clip_midi


def playing_at(beat: float, tempo_bpm: float = 120.0, at_s: float = 100.0) -> TransportState:
    return TransportState(True, beat, at_s, tempo_bpm, at_s - beat * 60 / tempo_bpm)


def test_next_bar_in_several_meters() -> None:
    assert next_bar(0.0, 4.0) == 0.0
    assert next_bar(0.01, 4.0) == 4.0
    assert next_bar(7.9999999999, 4.0) == 8.0
    assert next_bar(4.0, 4.0, inclusive=False) == 8.0
    assert next_bar(1.0, TimeSignature(3, 4).beats_per_bar) == 3.0
    assert next_bar(3.2, TimeSignature(6, 8).beats_per_bar) == 6.0
    assert TimeSignature(7, 8).beats_per_bar == 3.5


def test_launch_waits_for_the_next_bar_that_leaves_room_for_the_lookahead() -> None:
    state = playing_at(5.0)  # beat 5 of 4/4 at 120 BPM: the next bar line is beat 8, 1.5 s away
    assert launch_beat(state, 100.0, 4.0, lookahead_s=0.3) == 8.0
    # At beat 7.5 bar line 8 is only 0.25 s away: too close for a 0.3 s lookahead, so bar 12.
    assert launch_beat(playing_at(7.5), 100.0, 4.0, lookahead_s=0.3) == 12.0
    # 3/4: bars of three beats.
    assert launch_beat(state, 100.0, 3.0, lookahead_s=0.3) == 6.0
    # Immediately: the next sixteenth after the lookahead (beat 5.6 -> 5.75).
    assert launch_beat(state, 100.0, 4.0, lookahead_s=0.3, immediately=True) == 5.75


def test_launch_while_stopped_waits_at_the_current_bar() -> None:
    stopped = TransportState(False, 0.0, 0.0, 120.0)
    assert launch_beat(stopped, 50.0, 4.0, 0.3) == 0.0
    assert launch_beat(TransportState(False, 9.0, 0.0, 120.0), 50.0, 4.0, 0.3) == 12.0


def test_scheduler_releases_in_order_within_the_lookahead_only() -> None:
    clock = FakeClock(0.0)
    transport = Transport(clock, 120.0)
    transport.start()
    scheduler = LookaheadScheduler(lookahead_s=0.25)
    scheduler.add_clip(clip_from_midi(scale_clip_midi(bars=1)), at_beat=4.0)
    assert scheduler.due(transport.state, clock.now()) == []  # beat 4 is 2 s away
    clock.advance(1.8)  # beat 3.6; horizon 4.1 beats
    released = scheduler.due(transport.state, clock.now())
    assert [r.message.beat for r in released] == [4.0]
    assert released[0].time_s == pytest.approx(2.0)
    clock.advance(0.5)  # beat 4.6; horizon 5.1 beats: off at 4.25, on 4.5, off 4.75, on 5.0
    released = scheduler.due(transport.state, clock.now())
    assert [r.message.beat for r in released] == [4.25, 4.5, 4.75, 5.0]
    assert [midi.is_note_on(r.message.data) for r in released] == [False, True, False, True]


def test_nothing_is_released_while_stopped_and_messages_follow_a_tempo_change() -> None:
    clock = FakeClock(0.0)
    transport = Transport(clock, 120.0)
    scheduler = LookaheadScheduler(lookahead_s=0.1)
    scheduler.add(TimedMessage.of(2.0, note_on(0, 60, 90)))
    clock.advance(5.0)
    assert scheduler.due(transport.state, clock.now()) == []
    transport.start()
    transport.set_tempo(60.0)  # beat 2 is now 2 s away, not 1 s
    clock.advance(1.0)
    assert scheduler.due(transport.state, clock.now()) == []
    clock.advance(0.95)
    (released,) = scheduler.due(transport.state, clock.now())
    assert released.time_s == pytest.approx(7.0)


def test_drop_before_and_clear() -> None:
    scheduler = LookaheadScheduler(0.1)
    for beat in (1.0, 2.0, 3.0):
        scheduler.add(TimedMessage.of(beat, note_on(0, 60, 90)))
    assert scheduler.drop_before(2.0) == 1
    assert scheduler.next_beat() == 2.0
    assert scheduler.clear() == 2
    assert len(scheduler) == 0
