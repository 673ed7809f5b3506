"""The shipped Groove model on a long real-shaped file: only note timing and velocity change (tempo map,
meters, keys, programs, controllers, markers kept), the same notes come back, meter changes are
followed, and drums-alone Drumify keeps the file's tempo map and meters."""

from __future__ import annotations

import io

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


def _drum_file(path, bars: int, tempo_bpm: float, late_snare_ms: float, early_hat_ms: float, seed: int) -> None:
    """A performed-looking rock beat: kick on 1 and 3, snare on 2 and 4 (played late), closed hi-hat on
    every eighth (off-beats played early), Gaussian timing noise, accented downbeats."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    beat_s = 60.0 / tempo_bpm
    for bar in range(bars):
        for eighth in range(8):
            grid = (bar * 4 + eighth / 2) * beat_s
            hits = [(42, -early_hat_ms if eighth % 2 else 0.0, 70 if eighth % 2 else 90)]
            if eighth in (0, 4):
                hits.append((36, 0.0, 105))
            if eighth in (2, 6):
                hits.append((38, late_snare_ms, 100))
            for pitch, shift_ms, velocity in hits:
                start = grid + (shift_ms + rng.normal(0, 3.0)) / 1000.0
                kit.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=max(0.0, start),
                                                  end=max(0.0, start) + 0.05))
    pm.instruments.append(kit)
    pm.write(str(path))


def test_a_drummer_who_lays_back_the_snare_is_learned_and_played_back(tmp_path) -> None:
    """Prepare (a folder of performances, sessions held out) -> fit the drum tables -> humanise a quantised
    beat: the snare lands later than the kick and the off-beat hats earlier, as the drummer played."""
    import pretty_midi

    from symbolic.groove_model import DRUM_VOICES, GrooveConfig, drum_voice
    from symbolic.groove_prepare import main as prepare
    from symbolic.groove_train import fit_drums

    for session in ("D1S1", "D1S2", "D2S1"):
        folder = tmp_path / "midi" / f"{session}_001"
        folder.mkdir(parents=True)
        for take, tempo in enumerate((96.0, 120.0)):
            _drum_file(folder / f"{take}_rock_{int(tempo)}_beat_4-4.mid", 16, tempo, 18.0, 8.0, seed=take)
    prepare(["--midi", str(tmp_path / "midi"), "--out", str(tmp_path / "cache"), "--held-out", "D2S1"])
    tables, count, held = fit_drums(tmp_path / "cache", 60.0)
    assert count == 4 and held == ["D2S1"]
    assert [drum_voice(p) for p in (36, 38, 42, 45)] == [0, 1, 2, 3] and len(DRUM_VOICES) == 4
    # snare on beats 2 and 4 vs kick on the downbeat; hats: beats vs eighth off-beats (detrended offsets)
    assert tables.timing_mean_ms[2][1] - tables.timing_mean_ms[0][0] > 12.0
    assert tables.timing_mean_ms[2][2] - tables.timing_mean_ms[3][2] > 5.0
    assert tables.velocity_mean[0][0] > tables.velocity_mean[3][2]  # the downbeat kick louder than off-beat hats

    model = GrooveModel(GrooveConfig(), GrooveModel.from_pretrained().tables, tables)
    quantised = tmp_path / "quantised.mid"
    pm = pretty_midi.PrettyMIDI(initial_tempo=110.0)
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    beat_s = 60.0 / 110.0
    for beat in range(64):
        kit.notes.append(pretty_midi.Note(velocity=90, pitch=38 if beat % 2 else 36, start=beat * beat_s,
                                          end=beat * beat_s + 0.05))
    pm.instruments.append(kit)
    pm.write(str(quantised))
    humanised = pretty_midi.PrettyMIDI(io.BytesIO(model.generate(quantised.read_bytes(), 1.0, seed=3)))
    late = {36: [], 38: []}
    for note in humanised.instruments[0].notes:
        late[note.pitch].append(note.start - round(note.start / beat_s) * beat_s)
    assert (np.mean(late[38]) - np.mean(late[36])) * 1000 > 8.0
