"""Arrangements (server/arrangement): the form holds (bars, markers, key signatures), the key change is
heard (music21), parts play in most bars, repeats are equal and variations partly new, the same seed
gives the same piece, an edit rewrites only what depends on it, and bad files name line and field."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import symusic

from server.arrangement import ArrangementError, Arranger, MemoryCache, load_arrangement
from server.arrangement.arranger import bars_with_notes
from server.arrangement.run import load_composer
from symbolic.attributes import DRUM_PROGRAM, NoteTable
from symbolic.drums import CRASH

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "symbolic" / "pretrained" / "default"

FORM = """
[piece]
title = "test form"
tempo_bpm = 120
key = "F major"
seed = 5
context_bars = 2

[[tracks]]
name = "melody"
instrument = "flute"

[[tracks]]
name = "piano"
instrument = "piano"

[[tracks]]
name = "bass"
instrument = "acoustic bass"

[[sections]]
name = "A1"
bars = 8

[[sections]]
name = "A2"
vary = "A1"
variation = { method = "infill", amount = 0.25, tracks = ["melody"] }

[[sections]]
name = "B"
bars = 8
key = "Ab major"

[[sections]]
name = "C"
bars = 4

[[sections]]
name = "A3"
repeat = "A1"
"""


def _arranger(cache: MemoryCache | None = None) -> Arranger:
    return Arranger(composer=lambda: load_composer(MODEL_DIR), cache=cache or MemoryCache())


@pytest.fixture(scope="module")
def first_run():  # type: ignore[no-untyped-def]
    cache = MemoryCache()
    piece = _arranger(cache).arrange(load_arrangement(FORM, source_name="piece.toml"))
    return piece, cache


def _music21_key(table: NoteTable):  # type: ignore[no-untyped-def]
    from music21 import note, stream

    melody = stream.Stream()
    for onset, duration, pitch, program in zip(table.onset_q, table.duration_q, table.pitch, table.program):
        if program == DRUM_PROGRAM:
            continue
        n = note.Note(int(pitch))
        n.quarterLength = max(float(duration), 0.25)
        melody.insert(float(onset), n)
    return melody.analyze("key")


def _section_table(section) -> NoteTable:  # type: ignore[no-untyped-def]
    parts = [p for p in section.parts.values() if len(p)]
    return NoteTable(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("onset_q", "duration_q", "pitch", "program")))


def test_form_in_the_midi_file(first_run) -> None:  # type: ignore[no-untyped-def]
    piece, _ = first_run
    score = symusic.Score.from_midi(piece.midi())
    tpq = score.ticks_per_quarter
    bar_ticks = 4 * tpq
    markers = {m.text: m.time for m in score.markers}
    assert [m.text for m in score.markers] == ["A1", "A2", "B", "C", "A3", "end"]
    assert [markers[n] // bar_ticks for n in ("A1", "A2", "B", "C", "A3", "end")] == [0, 8, 16, 24, 28, 36]
    assert all(markers[n] % bar_ticks == 0 for n in markers)
    # key signatures: F major (1 flat), Ab major (4 flats) at B, back to F at A3
    assert [(k.time // bar_ticks, k.key, k.tonality) for k in score.key_signatures] == [(0, -1, 0), (16, -4, 0), (28, -1, 0)]
    assert [t.name for t in score.tracks] == ["melody", "piano", "bass"]
    assert score.tempos[0].qpm == pytest.approx(120, abs=0.01)


def test_key_change_heard(first_run) -> None:  # type: ignore[no-untyped-def]
    piece, _ = first_run
    keys = {s.spec.name: _music21_key(_section_table(s)) for s in piece.sections}
    heard = {name: (k.tonic.pitchClass, k.mode) for name, k in keys.items()}
    assert heard["A1"] == (5, "major"), heard
    assert heard["B"] == (8, "major"), heard  # Ab major, continued from A2's F-major bars


def test_every_part_plays_in_most_bars(first_run) -> None:  # type: ignore[no-untyped-def]
    piece, _ = first_run
    for section in piece.sections:
        assert set(section.parts) == {"melody", "piano", "bass"}
        for name, part in section.parts.items():
            covered = bars_with_notes(part, section.bar_q, section.spec.bars)
            assert covered > section.spec.bars / 2, (section.spec.name, name, covered)
            assert part.onset_q.max() < section.length_q and part.onset_q.min() >= 0


def test_repeat_equal_and_variation_partly_new(first_run) -> None:  # type: ignore[no-untyped-def]
    piece, _ = first_run
    a1, a2, a3 = (piece.sections[i] for i in (0, 1, 4))
    for name in ("melody", "piano", "bass"):
        assert np.array_equal(a1.parts[name].pitch, a3.parts[name].pitch)
        assert np.allclose(a1.parts[name].onset_q, a3.parts[name].onset_q)
    for name in ("piano", "bass"):  # not varied
        assert np.array_equal(a1.parts[name].pitch, a2.parts[name].pitch)
    # the melody keeps its first six bars and changes in the last two (amount 0.25 of 8 bars)
    split_q = 6 * a1.bar_q
    old, new = a1.parts["melody"], a2.parts["melody"]
    assert np.array_equal(old.pitch[old.onset_q < split_q], new.pitch[new.onset_q < split_q])
    old_end = list(zip(old.onset_q[old.onset_q >= split_q].round(3), old.pitch[old.onset_q >= split_q]))
    new_end = list(zip(new.onset_q[new.onset_q >= split_q].round(3), new.pitch[new.onset_q >= split_q]))
    assert old_end != new_end


def test_same_seed_same_piece(first_run) -> None:  # type: ignore[no-untyped-def]
    piece, _ = first_run
    again = _arranger().arrange(load_arrangement(FORM, source_name="piece.toml"))
    assert again.midi() == piece.midi()


def test_editing_one_section_rewrites_only_what_follows_from_it(first_run) -> None:  # type: ignore[no-untyped-def]
    piece, cache = first_run
    edited_text = FORM.replace('key = "Ab major"', 'key = "D minor"')
    cache = MemoryCache(dict(cache.entries))
    edited = _arranger(cache).arrange(load_arrangement(edited_text, source_name="piece.toml"))
    cached = {s.spec.name: s.cached for s in edited.sections}
    assert cached == {"A1": True, "A2": True, "B": False, "C": False, "A3": True}
    for index in (0, 1, 4):
        assert edited.midi([index]) == piece.midi([index])
    assert edited.midi([2]) != piece.midi([2])


# ---- sources: a given clip, groove drums entering with fills, "up a tone" --------------------------
def _clip_midi() -> bytes:
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 100.0))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    track = symusic.Track("tune", 73, False)
    for index, pitch in enumerate([65, 67, 69, 70, 72, 70, 69, 67]):  # two bars of quarter notes in F
        track.notes.append(symusic.Note(index * 480, 440, pitch, 90))
    score.tracks.append(track)
    return bytes(score.dumps_midi())


SOURCES = """
[piece]
tempo_bpm = 100
key = "F major"
seed = 9

[[tracks]]
name = "tune"
instrument = "flute"
source = "midi"
file = "tune.mid"

[[tracks]]
name = "bass"
instrument = "acoustic bass"

[[tracks]]
name = "drums"
instrument = "drums"
source = "groove"
style = "rock"

[[sections]]
name = "intro"
bars = 2

[[sections]]
name = "verse"
bars = 4
enter = ["drums"]

[[sections]]
name = "last verse"
repeat = "verse"
transpose = 2
"""


@pytest.fixture(scope="module")
def sources_piece():  # type: ignore[no-untyped-def]
    arrangement = load_arrangement(SOURCES, source_name="song.toml", files={"tune.mid": _clip_midi()})
    return _arranger().arrange(arrangement)


def test_given_clip_looped_and_bass_written_under_it(sources_piece) -> None:  # type: ignore[no-untyped-def]
    intro, verse, _ = sources_piece.sections
    tune = verse.parts["tune"]
    assert len(tune) == 16 and list(tune.pitch[:8]) == [65, 67, 69, 70, 72, 70, 69, 67]
    assert np.allclose(tune.onset_q, np.arange(16.0))
    for section in (intro, verse):
        bass = section.parts["bass"]
        assert bars_with_notes(bass, 4.0, section.spec.bars) >= 0.75 * section.spec.bars


def test_drums_enter_with_a_crash_and_end_with_a_fill(sources_piece) -> None:  # type: ignore[no-untyped-def]
    intro, verse, _ = sources_piece.sections
    assert "drums" not in intro.parts
    drums = verse.parts["drums"]
    assert bars_with_notes(drums, 4.0, 4) == 4
    assert ((drums.pitch == CRASH) & (drums.onset_q == 0)).any()
    toms_and_snare = np.isin(drums.pitch, (38, 41, 45, 47, 50))
    second_half = lambda bar: (drums.onset_q >= bar * 4 + 2) & (drums.onset_q < bar * 4 + 4)  # noqa: E731
    assert (toms_and_snare & second_half(3)).sum() > (toms_and_snare & second_half(0)).sum()


def test_repeat_up_a_tone(sources_piece) -> None:  # type: ignore[no-untyped-def]
    _, verse, last = sources_piece.sections
    assert str(last.spec.key) == "G major"
    for name in ("tune", "bass"):
        assert np.array_equal(last.parts[name].pitch, verse.parts[name].pitch + 2)
    assert np.array_equal(last.parts["drums"].pitch, verse.parts["drums"].pitch)
    score = symusic.Score.from_midi(sources_piece.midi())
    assert [(k.key, k.tonality) for k in score.key_signatures] == [(-1, 0), (1, 0)]


# ---- validation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit, expected", [
    (("bars = 8\n\n[[sections]]\nname = \"A2\"", "bars = 0\n\n[[sections]]\nname = \"A2\""),
     "piece.toml:23: sections[0].bars: 0 is less than the minimum of 1"),
    (('name = "C"\nbars = 4', 'name = "C"\nbarz = 4'), "piece.toml:37: sections[3].barz: unknown field"),
    (('instrument = "piano"', 'instrument = "pianoforte-ish"'), "piece.toml:15: tracks[1].instrument: unknown instrument"),
    (('repeat = "A1"', 'repeat = "Z"'), "piece.toml:41: sections[4].repeat: no earlier section is named 'Z'"),
    (('key = "Ab major"', 'key = "H major"'), "piece.toml:33: sections[2].key: 'H major' is not a key"),
    (('key = "Ab major"', 'key = "Ab major"\ntempo_bpm = "fast"'), "piece.toml:34: sections[2].tempo_bpm: 'fast' is not of type 'number'"),
    (('name = "C"\nbars = 4', 'name = "C"\nbars = 4\nenter = ["tuba"]'), "piece.toml:38: sections[3].enter[0]: no track is named 'tuba'"),
    (('vary = "A1"', 'vary = "A1"\nbars = 4'), "piece.toml:28: sections[1].bars: 4 bars, but 'A1' has 8"),
    (('seed = 5', 'seed = 5\nseed = 6'), "piece.toml:7: TOML syntax"),
])
def test_invalid_file_names_line_and_field(edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    assert old in FORM
    with pytest.raises(ArrangementError) as raised:
        load_arrangement(FORM.replace(old, new, 1), source_name="piece.toml")
    assert expected in str(raised.value), str(raised.value)


def test_missing_clip_file_is_named() -> None:
    with pytest.raises(ArrangementError) as raised:
        load_arrangement(SOURCES, source_name="song.toml", files={})
    assert "song.toml:11: tracks[0].file: the file 'tune.mid' was not sent" in str(raised.value)


def test_example_files_are_valid() -> None:
    from server.arrangement.run import arranger_for
    from server.settings import Settings

    capabilities = arranger_for(Settings()).capabilities
    for path in sorted((ROOT / "examples" / "arrangements").glob("*.toml")):
        arrangement = load_arrangement(path.read_text(), source_name=path.name, base_dir=path.parent,
                                       capabilities=capabilities)
        assert arrangement.total_bars >= 32, path


def test_schema_beside_the_examples_is_the_one_used() -> None:
    from server.arrangement.loader import SCHEMA_PATH

    assert (ROOT / "examples" / "arrangements" / "schema.json").read_text() == SCHEMA_PATH.read_text()


# ---- the shipped examples themselves ---------------------------------------------------------------
EXAMPLES = ROOT / "examples" / "arrangements"


def _arrange_example(name: str):  # type: ignore[no-untyped-def]
    from server.arrangement import load_arrangement_file
    from server.arrangement.run import arranger_for
    from server.settings import Settings

    arranger = arranger_for(Settings(default_soundfont="TimGM6mb"))
    return arranger.arrange(load_arrangement_file(EXAMPLES / name, capabilities=arranger.capabilities))


@pytest.fixture(scope="module")
def aaba_example():  # type: ignore[no-untyped-def]
    return _arrange_example("aaba.toml")


@pytest.fixture(scope="module")
def pop_example():  # type: ignore[no-untyped-def]
    return _arrange_example("pop_song.toml")


def _playing_note_tracks(piece, section) -> set[str]:  # type: ignore[no-untyped-def]
    return {name for name in section.spec.tracks if not piece.arrangement.track(name).is_audio_layer}


def test_aaba_example_form_and_key_change_heard(aaba_example) -> None:  # type: ignore[no-untyped-def]
    piece = aaba_example
    assert [(s.spec.name, s.spec.bars) for s in piece.sections] == [("A1", 8), ("A2", 8), ("B", 8), ("A3", 8)]
    heard = {s.spec.name: _music21_key(_section_table(s)) for s in piece.sections}
    heard = {name: (k.tonic.pitchClass, k.mode) for name, k in heard.items()}
    assert heard == {"A1": (5, "major"), "A2": (5, "major"), "B": (8, "major"), "A3": (5, "major")}, heard


@pytest.mark.parametrize("example", ["aaba_example", "pop_example"])
def test_example_instruments_play_in_most_bars_of_their_sections(example: str, request) -> None:  # type: ignore[no-untyped-def]
    piece = request.getfixturevalue(example)
    for section in piece.sections:
        assert set(section.parts) == _playing_note_tracks(piece, section), section.spec.name
        for name, part in section.parts.items():
            covered = bars_with_notes(part, section.bar_q, section.spec.bars)
            assert covered > section.spec.bars / 2, (section.spec.name, name, covered)


def test_pop_example_form_drums_entering_and_keys(pop_example) -> None:  # type: ignore[no-untyped-def]
    piece = pop_example
    assert [(s.spec.name, s.spec.bars) for s in piece.sections] == [
        ("intro", 4), ("verse", 8), ("chorus", 8), ("chorus 2", 8), ("bridge", 8), ("outro", 4)]
    intro, verse, chorus, chorus2, bridge, outro = piece.sections
    assert "drums" not in intro.parts and bars_with_notes(verse.parts["drums"], 4.0, 8) == 8
    for name in chorus.parts:  # "chorus 2" is the chorus a tone higher
        assert np.array_equal(chorus2.parts[name].pitch[chorus2.parts[name].program != DRUM_PROGRAM],
                              chorus.parts[name].pitch[chorus.parts[name].program != DRUM_PROGRAM] + 2)
    heard = {s.spec.name: _music21_key(_section_table(s)) for s in piece.sections}
    heard = {name: (k.tonic.pitchClass, k.mode) for name, k in heard.items()}
    assert heard["intro"] == heard["verse"] == heard["chorus"] == (0, "major"), heard
    assert heard["chorus 2"] == heard["outro"] == (2, "major"), heard  # up a tone, and back to D at the end


def test_pop_example_bridge_heard_in_b_minor(pop_example) -> None:  # type: ignore[no-untyped-def]
    bridge = pop_example.sections[4]
    key = _music21_key(_section_table(bridge))
    assert (key.tonic.pitchClass, key.mode) == (11, "minor"), key
