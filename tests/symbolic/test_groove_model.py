"""The shipped Groove model on a long real-shaped file: only note timing and velocity change (tempo map,
meters, keys, programs, controllers, markers kept), the same notes come back, meter changes are
followed, and drums-alone Drumify keeps the file's tempo map and meters."""

from __future__ import annotations

import numpy as np

from symbolic.groove import drumify
from symbolic.groove_model import GrooveModel, metric_class
from symbolic.midi_file import MidiEventFile
from tests.symbolic.test_long_files import long_song, notes_of, other_events


def test_groove_changes_only_note_timing_and_velocity_of_a_long_file() -> None:
    original = long_song()  # 72 bars, 4/4 then 3/4, three tempos, key change, programs, controllers
    model = GrooveModel.from_pretrained()
    result = model.generate(original, amount=1.0, seed=5)
    assert other_events(result) == other_events(original)
    before, after = notes_of(original), notes_of(result)
    assert len(before) == len(after)
    assert sorted((n[0], n[1], n[2], n[6]) for n in before) == sorted((n[0], n[1], n[2], n[6]) for n in after)
    moved = np.array([b[3] - a[3] for a, b in zip(sorted(before, key=lambda n: (n[0], n[1], n[2], n[3])),
                                                   sorted(after, key=lambda n: (n[0], n[1], n[2], n[3])))])
    assert (moved != 0).mean() > 0.5
    tpq = MidiEventFile.from_bytes(original).ticks_per_quarter
    assert np.abs(moved).max() <= tpq / 8 + 1  # never more than an eighth of a beat (a 32nd)
    durations_before = sorted(n[4] - n[3] for n in before)
    assert np.median(np.abs(np.array(sorted(n[4] - n[3] for n in after)) - durations_before)) <= 1


def test_metric_classes_follow_the_bar() -> None:
    assert metric_class(0.0, 0, 4) == 0  # downbeat
    assert metric_class(0.0, 2, 4) == 1  # beat 3 of 4/4
    assert metric_class(0.0, 1, 3) == 2  # beat 2 of 3/4
    assert metric_class(0.5, 1, 4) == 3 and metric_class(0.25, 0, 4) == 4 and metric_class(2 / 3, 0, 4) == 5


def test_drums_alone_keep_the_files_tempo_map_and_meters() -> None:
    original = long_song()
    drums = drumify(original, drums_only=True)
    song, source = MidiEventFile.from_bytes(drums), MidiEventFile.from_bytes(original)
    assert song.tempo_map() == source.tempo_map() and song.meter_map() == source.meter_map()
    assert {n.channel for n in song.notes} == {9} and len(song.tracks) == 2
    assert drums == drumify(original, drums_only=True)  # deterministic


def test_a_pitch_struck_many_times_at_once_is_not_spread_out() -> None:
    """Degenerate input (one pitch struck 50 times on one tick) stays within the groove's own bounds."""
    import io

    import mido

    song = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=480 if i == 0 else 0) for i in range(50)])
    track.append(mido.Message("note_off", note=60, velocity=0, time=240))
    track.extend(mido.Message("note_off", note=60, velocity=0, time=0) for _ in range(49))
    song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    result = GrooveModel.from_pretrained().generate(buffer.getvalue(), 1.0, seed=1)
    starts = [n.start_tick for n in MidiEventFile.from_bytes(result).notes]
    assert len(starts) == 50 and max(abs(s - 480) for s in starts) <= 480 / 8 + 1
