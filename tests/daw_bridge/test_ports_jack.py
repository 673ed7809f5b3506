"""The bridge through real virtual ports on a private JACK server, with a second rtmidi client as the
DAW: it sends clock and transport, and records what arrives, when."""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
import time
from typing import Iterator

import pytest

from daw_bridge import midi
from daw_bridge.bridge import BridgeConfig, ClockMode, LocalBridge
from daw_bridge.jack import DummyJack
from daw_bridge.loopback import StandInDaw, close_together
from daw_bridge.midi import TimedMessage, clip_from_midi
from daw_bridge.ports import MidiApi, PortConfig, measure_transit_latency
from tests.daw_bridge.conftest import scale_clip_midi

_names = itertools.count(1)
# One JACK period at 128 frames / 48 kHz is 2.7 ms; the clock crosses one port and the notes another.
# The benchmark (benchmarks/bridge.py) measures the distribution and holds the tight figures; here a
# loaded 2-core CI machine (non-realtime jackd, other test processes) must still pass, so the bounds
# only catch real faults: a wrong beat (250-500 ms), Start taken as beat 0 (the lead-in), or a
# constant offset of whole clock ticks (21 ms each at 120 BPM).
MEDIAN_TOLERANCE_S = 0.010
MAX_TOLERANCE_S = 0.060


@pytest.fixture()
def rig(jack_server: DummyJack) -> Iterator:
    daws: list[StandInDaw] = []
    bridges: list[LocalBridge] = []

    def make(clock_mode: ClockMode = ClockMode.FOLLOW, output_ports: int = 1, **config: object):
        name = f"T{next(_names)}"
        bridge = LocalBridge(BridgeConfig(PortConfig(MidiApi.JACK, port_name=name, output_ports=output_ports),
                                          clock_mode, **config))
        output = f"{name} out" if output_ports == 1 else f"{name} out 1"
        daw = StandInDaw(MidiApi.JACK, output, f"{name} in")
        daws.append(daw)
        bridges.append(bridge)
        time.sleep(0.05)  # JACK connects asynchronously
        return bridge, daw, name

    yield make
    close_together(daws, bridges)


def note_events(daw: StandInDaw) -> list[tuple[float, bytes]]:
    return daw.messages(lambda d: midi.is_note_on(d) or midi.is_note_off(d))


def test_notes_arrive_in_order_on_their_channels_on_the_daws_beats(rig) -> None:
    """Order and channels must hold every time; the timing bound must hold in one of two runs, since a
    non-realtime JACK server on a shared 2-core CI machine now and then delivers a whole burst late."""
    timing_failures = []
    for attempt in range(2):
        bridge, daw, _ = rig()
        clip = clip_from_midi(scale_clip_midi(bars=1, tracks=2, channel=0, step_beats=0.5))
        bridge.play_clip(clip, at_beat=2.0)
        run = daw.run_clock(beats=7, tempo_bpm=120.0)
        assert run.done.wait(10)
        time.sleep(0.05)
        arrived = note_events(daw)
        expected = sorted(TimedMessage(m.beat + 2.0, m.order, m.track, m.data) for m in clip.messages)
        assert len(arrived) == len(expected) == 32
        # Same messages, same order (per channel: a port keeps order, the two tracks may interleave within a beat).
        for channel in (0, 1):
            assert [d for _, d in arrived if d[0] & 0x0F == channel] == [m.data for m in expected if m.data[0] & 0x0F == channel]
        assert bridge.tempo_bpm == pytest.approx(120.0, rel=0.02)
        errors = []
        for message in expected:
            if midi.is_note_on(message.data):
                t = next(t for t, d in arrived if d == message.data and midi.is_note_on(d))
                errors.append(t - run.beat_time(message.beat))
        median, worst = abs(statistics.median(errors)), max(abs(e) for e in errors)
        if median < MEDIAN_TOLERANCE_S and worst < MAX_TOLERANCE_S:
            return
        timing_failures.append(f"attempt {attempt + 1}: median {median * 1000:.1f} ms, worst {worst * 1000:.1f} ms")
    pytest.fail("notes off the DAW's beats in both runs: " + "; ".join(timing_failures))


def test_daw_stop_mid_clip_leaves_no_hanging_notes(rig) -> None:
    bridge, daw, _ = rig()
    bridge.play_clip(clip_from_midi(scale_clip_midi(bars=2, step_beats=1.0)), at_beat=1.0)
    daw.run_clock(beats=8, tempo_bpm=120.0)
    time.sleep(0.05 + 2.25 * 0.5)  # stop while the note struck at beat 2 is held
    daw.stop_clock(send_stop=True)
    time.sleep(0.2)
    arrived = note_events(daw)
    ons = [d for _, d in arrived if midi.is_note_on(d)]
    offs = [d for _, d in arrived if midi.is_note_off(d)]
    assert [d[1] for d in ons] == [60, 61]
    assert sorted(d[1] for d in offs) == [60, 61]
    controllers = daw.messages(lambda d: d[0] & 0xF0 == midi.CONTROL_CHANGE)
    assert {(d[0] & 0x0F, d[1]) for _, d in controllers} >= {(c, midi.CC_ALL_NOTES_OFF) for c in range(16)}
    # Nothing more after the stop, even though the clip had bars to go.
    daw.clear()
    time.sleep(0.5)
    assert note_events(daw) == []
    assert bridge.player.sounding == 0


def test_a_vanished_clock_is_taken_as_stop(rig) -> None:
    bridge, daw, _ = rig(clock_timeout_s=0.3)
    bridge.play_clip(clip_from_midi(scale_clip_midi(bars=2, step_beats=2.0)), at_beat=0.0)
    daw.run_clock(beats=1.0, tempo_bpm=120.0)  # the DAW "crashes" after a beat: no Stop sent
    time.sleep(1.2)
    ons = [d for _, d in note_events(daw) if midi.is_note_on(d)]
    offs = [d for _, d in note_events(daw) if midi.is_note_off(d)]
    assert [d[1] for d in ons] == [60]
    assert [d[1] for d in offs] == [60]
    assert not bridge.transport_state().playing


def test_master_mode_drives_the_daw_and_notes_fall_on_its_ticks(rig) -> None:
    bridge, daw, _ = rig(ClockMode.MASTER, tempo_bpm=150.0)
    bridge.play_clip(clip_from_midi(scale_clip_midi(bars=1, step_beats=1.0)), at_beat=1.0)
    bridge.start()
    time.sleep(0.4 * 5.5)
    bridge.stop()
    time.sleep(0.1)
    clock = [(t, d) for t, d in daw.received if d[0] >= 0xF0]
    assert clock[0][1] == bytes((midi.START,))
    ticks = [t for t, d in clock if d == bytes((midi.CLOCK,))]
    assert len(ticks) >= 5 * 24
    assert statistics.mean(b - a for a, b in zip(ticks, ticks[1:])) == pytest.approx(60 / 150 / 24, rel=0.02)
    ons = [t for t, d in note_events(daw) if midi.is_note_on(d)]
    assert len(ons) == 4
    for beat, t in zip((1, 2, 3, 4), ons):
        assert abs(t - ticks[beat * 24]) < MAX_TOLERANCE_S
    assert clock[-1][1] == bytes((midi.STOP,))


def test_playing_into_the_input_is_captured_on_the_beat(rig) -> None:
    bridge, daw, _ = rig()
    run = daw.run_clock(beats=6, tempo_bpm=120.0)
    time.sleep(0.05 + 4 * 0.5)  # beat 4
    daw.send(midi.note_on(0, 72, 100))
    time.sleep(0.5)
    daw.send(midi.note_off(0, 72))
    run.done.wait(5)
    clip = clip_from_midi(bridge.capture.to_midi())
    (on,) = [m for m in clip.messages if midi.is_note_on(m.data)]
    (off,) = [m for m in clip.messages if midi.is_note_off(m.data)]
    assert on.data[1] == 72 and on.beat == pytest.approx(0.0, abs=0.05)  # bar 2 starts the clip
    assert off.beat - on.beat == pytest.approx(1.0, abs=0.05)


def test_one_port_per_track(rig, jack_server) -> None:
    bridge, daw_first, name = rig(output_ports=2)
    daw_second = StandInDaw(MidiApi.JACK, f"{name} out 2", None, client_name="Second DAW track")
    try:
        time.sleep(0.05)
        bridge.play_clip(clip_from_midi(scale_clip_midi(bars=1, tracks=2, step_beats=1.0)), at_beat=0.0)
        run = daw_first.run_clock(beats=4.5, tempo_bpm=240.0)
        run.done.wait(5)
        time.sleep(0.05)
        assert {d[0] & 0x0F for _, d in note_events(daw_first)} == {0}
        assert {d[0] & 0x0F for _, d in note_events(daw_second)} == {1}
        assert len(note_events(daw_second)) == 8
    finally:
        daw_second.stop_listening()
        bridge.close()
        daw_second.close()


def test_transit_latency_is_within_two_periods(jack_server) -> None:
    transit = measure_transit_latency(MidiApi.JACK)
    assert 0.0 < transit < 2 * jack_server.period_s + 0.002


def test_beat_zero_lands_on_the_first_clock_tick_after_start_not_on_start(rig) -> None:
    """The DAW sends Start, waits 200 ms, then clocks: the downbeat used to go out on Start, 190 ms early."""
    bridge, daw, _ = rig()
    bridge.play_clip(clip_from_midi(scale_clip_midi(bars=1, step_beats=1.0)), at_beat=0.0)
    run = daw.run_clock(beats=3.5, tempo_bpm=120.0, lead_in_s=0.2)
    assert run.done.wait(10)
    time.sleep(0.1)
    ons = [t for t, d in note_events(daw) if midi.is_note_on(d)]
    assert len(ons) == 4
    first_tick = run.tick_s[0]
    print(f"beat 0 at first tick {1000 * (ons[0] - first_tick):+.2f} ms (Start was 200 ms before it)")
    assert abs(ons[0] - first_tick) < MAX_TOLERANCE_S
    assert abs(ons[1] - run.beat_time(1.0)) < MAX_TOLERANCE_S


def test_a_background_busy_loop_does_not_leave_a_constant_offset(rig) -> None:
    """Two processes spinning on the CPU the bridge and jackd run on, for the whole run: notes may come
    late now and then, but the second half must not sit a tick or more late (the old failure: from
    about beat 14 every note 41 or 83 ms late until Stop)."""
    bridge, daw, _ = rig()
    clip = clip_from_midi(scale_clip_midi(bars=8, step_beats=1.0))
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        bridge.play_clip(clip, at_beat=1.0)
        run = daw.run_clock(beats=34, tempo_bpm=120.0)
        assert run.done.wait(60)
    finally:
        for process in busy:
            process.kill()
            process.wait(5)
    time.sleep(0.1)
    ons = [t for t, d in note_events(daw) if midi.is_note_on(d)]
    assert len(ons) == 32
    errors = [t - run.beat_time(1.0 + i) for i, t in enumerate(ons)]
    second_half = sorted(errors[16:])
    follower = bridge.clock_follower
    print(f"busy loop: error ms p50 {1000 * statistics.median(errors):.2f}, second half p50 "
          f"{1000 * statistics.median(second_half):.2f}, max {1000 * max(errors):.2f}; "
          f"ticks lost {follower.lost_ticks}, late {follower.late_ticks}")
    assert abs(statistics.median(second_half)) < 0.015
    assert second_half[int(len(second_half) * 0.75)] < 0.03  # three quarters of the late half within a tick
