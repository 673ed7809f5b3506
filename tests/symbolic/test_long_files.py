"""Continue and infill on long, real files: nothing outside the bars written changes (notes, tempo map,
meter changes, key signatures, program changes, controllers), every playing instrument keeps playing,
no track is dropped, and the MIDI writer marks the key and never re-strikes a sounding pitch."""

from __future__ import annotations

import io
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

from ostinato.errors import InvalidInput
from symbolic.attributes import NoteTable
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.midi_file import MidiEventFile
from symbolic.midi_io import table_to_midi

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"
POP909 = Path(__file__).resolve().parents[3] / "shared" / "data" / "POP909"
TPQ = 480
D_MAJOR = (62, 64, 66, 67, 69, 71, 73, 74)


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.from_pretrained(SHIPPED)


def long_song(bars_in_four: int = 40, bars_in_three: int = 32, meter_after: tuple[int, int] = (3, 4)) -> bytes:
    """A type-1 file: 4/4 then another meter, three tempos, two key signatures, a marker, a program
    change mid-track, volume/expression/sustain controllers; flute (later clarinet), bass, drums, and a
    piano track whose only notes are in bar 50."""
    song = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    bar4, bar3 = 4 * TPQ, meter_after[0] * 4 * TPQ // meter_after[1]
    starts = [i * bar4 for i in range(bars_in_four)] + [bars_in_four * bar4 + i * bar3 for i in range(bars_in_three)]
    lengths = [bar4] * bars_in_four + [bar3] * bars_in_three
    end = starts[-1] + lengths[-1]
    conductor = [(0, mido.MetaMessage("track_name", name="conductor")),
                 (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96))),
                 (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
                 (0, mido.MetaMessage("key_signature", key="D")),
                 (starts[16], mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(104))),
                 (starts[20], mido.MetaMessage("marker", text="B section")),
                 (starts[24], mido.MetaMessage("key_signature", key="Bm")),
                 (starts[32], mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(88))),
                 (starts[bars_in_four], mido.MetaMessage("time_signature", numerator=meter_after[0],
                                                         denominator=meter_after[1]))]
    flute = [(0, mido.MetaMessage("track_name", name="flute")),
             (0, mido.Message("program_change", channel=0, program=73)),
             (0, mido.Message("control_change", channel=0, control=7, value=100)),
             (starts[30], mido.Message("program_change", channel=0, program=71))]
    bass = [(0, mido.MetaMessage("track_name", name="bass")),
            (0, mido.Message("program_change", channel=1, program=32))]
    drums = [(0, mido.MetaMessage("track_name", name="drums"))]
    piano = [(0, mido.MetaMessage("track_name", name="piano")),
             (0, mido.Message("program_change", channel=2, program=0))]
    rng = np.random.default_rng(3)

    def note(track: list, channel: int, pitch: int, start: int, length: int, velocity: int) -> None:
        track.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        track.append((start + length, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))

    for bar, (start, length) in enumerate(zip(starts, lengths)):
        beats = length // TPQ
        if bar % 8 == 0:
            flute.append((start, mido.Message("control_change", channel=0, control=11, value=80 + bar % 40)))
        bass.append((start, mido.Message("control_change", channel=1, control=64, value=127)))
        bass.append((start + length - 10, mido.Message("control_change", channel=1, control=64, value=0)))
        for beat in range(beats):
            note(flute, 0, int(rng.choice(D_MAJOR)) + 12, start + beat * TPQ, TPQ - 20, 80 + beat)
            note(drums, 9, 42, start + beat * TPQ, TPQ // 4, 60)
            note(drums, 9, 42, start + beat * TPQ + TPQ // 2, TPQ // 4, 50)
        note(bass, 1, 38 if bar % 2 == 0 else 45, start, 2 * TPQ - 10, 90)
        note(drums, 9, 36, start, TPQ // 4, 100)
        note(drums, 9, 38, start + 2 * TPQ if beats == 4 else start + TPQ, TPQ // 4, 95)
        if bar == 50:
            for pitch in (50, 54, 57):
                note(piano, 2, pitch, start, length - 10, 70)
    for events in (conductor, flute, bass, drums, piano):
        events.sort(key=lambda item: item[0])
        track = mido.MidiTrack()
        previous = 0
        for tick, message in events:
            track.append(message.copy(time=tick - previous))
            previous = tick
        track.append(mido.MetaMessage("end_of_track", time=end - previous))
        song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def other_events(midi: bytes) -> list[list[tuple]]:
    """Every event that is not a note (tempo, meter, key, marker, names, programs, controllers), per
    track, with absolute ticks; end-of-track left out (a continuation moves it)."""
    tracks = []
    for track in mido.MidiFile(file=io.BytesIO(midi)).tracks:
        tick, events = 0, []
        for message in track:
            tick += message.time
            if message.type not in ("note_on", "note_off", "end_of_track"):
                events.append((tick, str(message.copy(time=0))))
        tracks.append(events)
    return tracks


def notes_of(midi: bytes) -> list[tuple]:
    """(track, channel, pitch, start tick, end tick, velocity, program) of every note."""
    song = MidiEventFile.from_bytes(midi)
    return sorted((n.track, n.channel, n.pitch, n.start_tick, n.end_tick, n.velocity, n.program) for n in song.notes)


def test_continue_a_long_file_keeps_all_of_it_and_every_playing_instrument(composer: Composer) -> None:
    original = long_song()  # 72 bars: longer than any model window
    result = composer.continue_clip(original, 4, Sampling(seed=3))
    boundary = 40 * 4 * TPQ + 32 * 3 * TPQ
    assert result.notes["primer_bars"] == 72
    before = [n for n in notes_of(result.midi) if n[3] < boundary]
    assert before == notes_of(original)  # every primer note, velocity and program as it was
    assert other_events(result.midi) == other_events(original)  # tempo map, meters, keys, programs, controllers
    new = [n for n in notes_of(result.midi) if n[3] >= boundary]
    assert {n[0] for n in new} == {1, 2, 3}  # clarinet (flute track), bass and drums all keep playing
    assert {n[6] for n in new if n[0] == 1} == {71}  # in the program the track had switched to
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    reference = pretty_midi.PrettyMIDI(io.BytesIO(original))
    assert np.allclose(parsed.get_tempo_changes()[1], reference.get_tempo_changes()[1])
    assert [(ts.numerator, ts.denominator) for ts in parsed.time_signature_changes] == [(4, 4), (3, 4)]
    assert mido.MidiFile(file=io.BytesIO(result.midi)).length == pytest.approx(
        mido.MidiFile(file=io.BytesIO(original)).length + 4 * 3 * 60 / 88, abs=0.01)


def test_continuation_only_restates_what_is_in_force_at_the_boundary(composer: Composer) -> None:
    result = composer.continue_clip(long_song(), 2, Sampling(seed=5), continuation_only=True)
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    assert np.allclose(parsed.get_tempo_changes()[1], [88.0])
    assert [(ts.numerator, ts.denominator, ts.time) for ts in parsed.time_signature_changes] == [(3, 4, 0.0)]
    assert [pretty_midi.key_number_to_key_name(k.key_number) for k in parsed.key_signature_changes] == ["B minor"]
    programs = {(i.program, i.is_drum) for i in parsed.instruments if i.notes}
    assert programs == {(71, False), (32, False), (0, True)}
    assert result.clip.bars == 2


def test_infill_anywhere_in_a_long_file_changes_only_the_chosen_bars(composer: Composer) -> None:
    original = long_song()
    result = composer.infill(original, [5, 6, 60], sampling=Sampling(seed=2))
    song = MidiEventFile.from_bytes(original)
    bar_map = song.bars()
    ranges = [(int(bar_map.start_tick[b]), int(bar_map.end_tick[b])) for b in (5, 6, 60)]

    def inside(note: tuple) -> bool:
        return any(start <= note[3] < end for start, end in ranges)

    assert [n for n in notes_of(result.midi) if not inside(n)] == [n for n in notes_of(original) if not inside(n)]
    assert other_events(result.midi) == other_events(original)
    for start, end in ranges:
        tracks = {n[0] for n in notes_of(result.midi) if start <= n[3] < end}
        assert {1, 2, 3} <= tracks  # every part that played in the bar plays in its new version
    # bar 60 is in 3/4: its new notes stay inside its three beats
    start, end = ranges[2]
    assert all(n[3] < end for n in notes_of(result.midi) if start <= n[3] < end)


def test_infill_never_drops_a_track_whose_only_notes_were_regenerated(composer: Composer) -> None:
    original = long_song()
    result = composer.infill(original, [50], tracks=[3], sampling=Sampling(seed=1))  # the piano track
    after = mido.MidiFile(file=io.BytesIO(result.midi))
    assert [t.name for t in after.tracks] == ["conductor", "flute", "bass", "drums", "piano"]
    bar_map = MidiEventFile.from_bytes(original).bars()
    start, end = int(bar_map.start_tick[50]), int(bar_map.end_tick[50])
    piano = [n for n in notes_of(result.midi) if n[0] == 4]
    assert piano and all(start <= n[3] < end for n in piano)
    assert [n for n in notes_of(result.midi) if n[0] != 4] == [n for n in notes_of(original) if n[0] != 4]


def test_a_meter_the_model_cannot_write_is_named(composer: Composer) -> None:
    odd = long_song(bars_in_four=34, bars_in_three=4, meter_after=(7, 8))
    with pytest.raises(InvalidInput, match=r"7/8"):
        composer.continue_clip(odd, 2, Sampling(seed=1))
    with pytest.raises(InvalidInput, match=r"bar 35 is in 7/8"):
        composer.infill(odd, [35], sampling=Sampling(seed=1))
    # the 4/4 bars before it are still writable: the window does not reach into the 7/8 bars
    result = composer.infill(odd, [3], sampling=Sampling(seed=1))
    assert other_events(result.midi) == other_events(odd)
    type_two = mido.MidiFile(type=2, ticks_per_beat=TPQ)
    type_two.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=90),
                                           mido.Message("note_off", note=60, time=TPQ)]))
    buffer = io.BytesIO()
    type_two.save(file=buffer)
    with pytest.raises(InvalidInput, match="type 2"):
        composer.continue_clip(buffer.getvalue(), 2)
    with pytest.raises(InvalidInput, match="damaged|could not be read"):
        composer.continue_clip(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00", 2)


@pytest.mark.skipif(not (POP909 / "011" / "011.mid").exists(), reason="POP909 is not on this machine")
def test_a_pop_song_continued_keeps_its_three_parts_and_all_its_bars(composer: Composer) -> None:
    original = (POP909 / "011" / "011.mid").read_bytes()
    song = MidiEventFile.from_bytes(original)
    boundary = int(song.bars().end_tick[-1])
    result = composer.continue_clip(original, 4, Sampling(seed=1))
    assert [n for n in notes_of(result.midi) if n[3] < boundary] == notes_of(original)
    assert other_events(result.midi) == other_events(original)
    new_tracks = {n[0] for n in notes_of(result.midi) if n[3] >= boundary}
    playing = {n.track for n in song.notes if n.start_tick >= int(song.bars().start_tick[-4])}
    assert playing <= new_tracks  # melody, second melody and piano (all on program 0) keep playing


def test_written_midi_marks_its_key_and_never_restrikes_a_sounding_pitch(composer: Composer) -> None:
    from symbolic.attributes import Attributes, Key

    result = composer.generate(Attributes(instruments=[0, 32], key=Key(9, "minor"), bars=4), Sampling(seed=7))
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    assert [(k.key_number, k.time) for k in parsed.key_signature_changes] == [(21, 0.0)]  # A minor
    # a table with overlapping same-pitch notes is written without overlaps
    table = NoteTable(np.array([0.0, 0.5, 0.5, 1.0]), np.array([2.0, 2.0, 1.0, 1.0]),
                      np.array([60, 60, 60, 60]), np.array([0, 0, 0, 0]))
    written = pretty_midi.PrettyMIDI(io.BytesIO(table_to_midi(table, (4, 4), 120.0)))
    spans = sorted((n.start, n.end) for n in written.instruments[0].notes)
    assert spans == [(0.0, 0.25), (0.25, 0.5), (0.5, 1.0)]
    for instrument in parsed.instruments:
        by_pitch: dict[int, list] = {}
        for note in sorted(instrument.notes, key=lambda n: n.start):
            by_pitch.setdefault(note.pitch, []).append(note)
        for notes in by_pitch.values():
            assert all(a.end <= b.start + 1e-9 for a, b in zip(notes, notes[1:]))
