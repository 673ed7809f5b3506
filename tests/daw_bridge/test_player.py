"""The port player against a recording sink: real time, no MIDI system."""

from __future__ import annotations

import threading
import time

import pytest

from daw_bridge import midi
from daw_bridge.bridge import BridgeConfig, ClockMode, LocalBridge
from daw_bridge.midi import clip_from_midi
from daw_bridge.player import PortPlayer
from daw_bridge.timeline import SystemClock, Transport
from tests.daw_bridge.conftest import scale_clip_midi


class RecordingSink:
    def __init__(self, outputs: int = 1) -> None:
        self.sent: list[tuple[float, int, bytes]] = []
        self._outputs = outputs
        self._lock = threading.Lock()

    @property
    def output_count(self) -> int:
        return self._outputs

    def send(self, data: bytes, output: int = 0) -> None:
        with self._lock:
            self.sent.append((time.monotonic(), output, bytes(data)))


def test_notes_leave_on_time_and_tracks_go_to_their_ports() -> None:
    sink = RecordingSink(outputs=2)
    transport = Transport(SystemClock(), 240.0)  # 0.25 s a beat
    player = PortPlayer(sink, lambda: transport.state).start()
    try:
        player.add_clip(clip_from_midi(scale_clip_midi(bars=1, tracks=2)), at_beat=1.0)
        state = transport.start()
        time.sleep(1.4)
        notes = [(t, out, d) for t, out, d in sink.sent if midi.is_note_on(d) or midi.is_note_off(d)]
        assert len(notes) == 2 * 2 * 8
        # Loose for a loaded CI machine (the benchmark holds the tight figures): a wrong beat is 250 ms.
        errors = [r.sent_s - r.target_s for r in player.records]
        assert max(abs(e) for e in errors) < 0.03
        first_on = next(t for t, _, d in notes if midi.is_note_on(d))
        assert first_on - state.time_at(1.0) == pytest.approx(0.0, abs=0.03)
        assert {out for _, out, d in notes if midi.channel_of(d) == 1} == {1}
        assert {out for _, out, d in notes if midi.channel_of(d) == 0} == {0}
        assert player.sounding == 0
    finally:
        player.close()


def test_stopping_mid_clip_releases_held_notes_then_all_notes_off() -> None:
    sink = RecordingSink()
    transport = Transport(SystemClock(), 120.0)
    player = PortPlayer(sink, lambda: transport.state).start()
    try:
        player.add_clip(clip_from_midi(scale_clip_midi(bars=2)), at_beat=0.0)
        transport.start()
        time.sleep(0.1)  # the first note (0-0.25 beats = 0.125 s) is sounding
        transport.stop()
        player.transport_changed()
        time.sleep(0.3)
        data = [d for _, _, d in sink.sent]
        assert data[0] == midi.note_on(0, 60, 90)
        assert data[1] == midi.note_off(0, 60)
        assert set(midi.all_notes_off()) <= set(data[2:])
        assert not any(midi.is_note_on(d) for d in data[1:])
        assert player.pending() == 0
    finally:
        player.close()


def test_master_mode_sends_start_and_24_ticks_a_beat_at_the_tempo() -> None:
    sink = RecordingSink()
    bridge = LocalBridge(BridgeConfig(clock_mode=ClockMode.MASTER, tempo_bpm=150.0), sink=sink)
    try:
        bridge.start()
        time.sleep(0.85)  # ~2 beats at 150 BPM
        bridge.stop()
        time.sleep(0.1)
    finally:
        bridge.close()
    data = [d for _, _, d in sink.sent]
    assert data[0] == bytes((midi.START,))
    ticks = [t for t, _, d in sink.sent if d == bytes((midi.CLOCK,))]
    assert 2 * 24 <= len(ticks) <= 2 * 24 + 6
    intervals = [b - a for a, b in zip(ticks, ticks[1:])]
    assert sum(intervals) / len(intervals) == pytest.approx(60 / 150 / 24, rel=0.01)
    assert bytes((midi.STOP,)) in data


def test_follow_mode_reports_positions_and_captures_playing() -> None:
    reports = []
    played = []
    sink = RecordingSink()
    bridge = LocalBridge(
        BridgeConfig(clock_mode=ClockMode.FOLLOW), on_position=reports.append,
        on_play=lambda data, beat: played.append((data, beat)), sink=sink,
    )
    try:
        t = 100.0
        bridge.feed_input(bytes((midi.START,)), t)
        for tick in range(24 * 3):
            bridge.feed_input(bytes((midi.CLOCK,)), t + tick / 48)
            if tick == 36:
                bridge.feed_input(midi.note_on(0, 67, 80), t + tick / 48)
        assert [round(r.beat) for r in reports if r.playing] == [0, 1, 2]
        assert played[0][0] == midi.note_on(0, 67, 80) and played[0][1] == pytest.approx(1.5)
        assert bridge.capture.note_count == 1
    finally:
        bridge.close()


def test_muting_a_port_ends_its_held_notes_and_skips_its_note_ons_until_unmuted() -> None:
    sink = RecordingSink(outputs=2)
    transport = Transport(SystemClock(), 240.0)  # 0.25 s a beat
    player = PortPlayer(sink, lambda: transport.state).start()
    try:
        # Two tracks, one note a beat each, each note held most of its beat.
        player.add_clip(clip_from_midi(scale_clip_midi(bars=2, tracks=2, step_beats=1.0)), at_beat=0.0)
        transport.start()
        time.sleep(0.25 * 1.25)  # beat 1.25: each port holds its second note (beats 1-1.5)
        player.set_mix(1, mute=True)
        muted_at = time.monotonic()
        time.sleep(0.25 * 3)
        player.set_mix(1, mute=False)
        unmuted_at = time.monotonic()
        time.sleep(0.25 * 3.5)
        port1 = [(t, d) for t, out, d in sink.sent if out == 1 and (midi.is_note_on(d) or midi.is_note_off(d))]
        port0_ons = [d for _, out, d in sink.sent if out == 0 and midi.is_note_on(d)]
        assert len(port0_ons) == 8  # the other port plays on
        ons_while_muted = [d for t, d in port1 if midi.is_note_on(d) and muted_at < t < unmuted_at]
        assert ons_while_muted == []
        assert any(midi.is_note_on(d) for t, d in port1 if t > unmuted_at)
        # Every note-on on the muted port has its note-off: nothing hangs.
        held: dict[int, int] = {}
        for _, d in port1:
            held[d[1]] = held.get(d[1], 0) + (1 if midi.is_note_on(d) else -1)
        assert all(v == 0 for v in held.values())
        assert player.mix() == (frozenset(), frozenset())
    finally:
        player.close()
