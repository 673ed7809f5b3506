"""The melody grid: MIDI in and out, meters, melody-track choice and bad input."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from ostinato.errors import InvalidInput, LimitExceeded
from symbolic.latent.representation import (NO_EVENT, NOTE_OFF, MelodyClip, TimeSignature, clip_to_midi,
                                            grid_to_notes, metric_features, midi_to_clip, notes_to_grid,
                                            read_clip)
from tests.symbolic.latent.clips import jig, melody_midi, scale_run


def test_steps_per_bar_follow_the_meter() -> None:
    assert TimeSignature(4, 4).steps_per_bar == 16
    assert TimeSignature(3, 4).steps_per_bar == 12
    assert TimeSignature(6, 8).steps_per_bar == 12
    assert TimeSignature(2, 4).steps_per_bar == 8
    assert TimeSignature(6, 8).steps_per_beat == 6 and TimeSignature(3, 4).steps_per_beat == 4


def test_three_four_and_six_eight_get_different_metric_features() -> None:
    waltz = metric_features(TimeSignature(3, 4), 24)
    jig_features = metric_features(TimeSignature(6, 8), 24)
    assert waltz.shape == jig_features.shape == (24, 8)
    assert np.flatnonzero(waltz[:12, 1]).tolist() == [0, 4, 8]  # beats of 3/4
    assert np.flatnonzero(jig_features[:12, 1]).tolist() == [0, 6]  # dotted-quarter beats of 6/8


def test_grid_holds_notes_rests_and_note_offs() -> None:
    notes = [(60, 0, 4), (62, 6, 8), (64, 8, 16)]
    tokens = notes_to_grid(notes, 16)
    assert tokens[0] == 60 and tokens[4] == NOTE_OFF and tokens[6] == 62 and tokens[8] == 64
    assert (tokens[[1, 2, 3, 5, 7]] == NO_EVENT).all()
    assert grid_to_notes(tokens) == notes


def test_simultaneous_onsets_keep_the_highest_pitch() -> None:
    tokens = notes_to_grid([(60, 0, 4), (67, 0, 4), (64, 0, 4)], 8)
    assert grid_to_notes(tokens) == [(67, 0, 4)]


@pytest.mark.parametrize("time_signature,tempo_bpm", [((4, 4), 120.0), ((3, 4), 96.0), ((6, 8), 132.0)])
def test_midi_round_trip_keeps_notes_meter_and_tempo(time_signature: tuple[int, int], tempo_bpm: float) -> None:
    notes = jig() if time_signature == (6, 8) else scale_run(time_signature)
    clip = midi_to_clip(melody_midi(notes, time_signature=time_signature, tempo_bpm=tempo_bpm, program=40))
    assert clip.num_bars == 2
    assert (clip.time_signature.numerator, clip.time_signature.denominator) == time_signature
    assert clip.tempo_bpm == pytest.approx(tempo_bpm, abs=0.01)
    assert clip.program == 40
    assert [(p, s / 4, e / 4) for p, s, e in clip.notes()] == [(p, s, e) for p, s, e in notes]
    again = midi_to_clip(clip_to_midi(clip))
    assert np.array_equal(again.tokens, clip.tokens)
    assert again.time_signature == clip.time_signature and again.tempo_bpm == pytest.approx(tempo_bpm, abs=0.01)
    written = pretty_midi.PrettyMIDI(io.BytesIO(clip_to_midi(clip)))
    assert written.time_signature_changes[0].numerator == time_signature[0]


def test_trailing_rest_bars_survive_a_round_trip() -> None:
    tokens = notes_to_grid([(60, 0, 4), (62, 4, 8)], 64)  # four bars, the last three silent
    clip = MelodyClip(tokens, TimeSignature(4, 4), 100.0)
    assert midi_to_clip(clip_to_midi(clip)).num_bars == 4


def test_melody_is_the_highest_non_drum_track() -> None:
    bass = [(36 + (i % 3), i * 1.0, i * 1.0 + 0.9) for i in range(8)]
    drums = [(42, i * 0.5, i * 0.5 + 0.1) for i in range(16)]
    midi = melody_midi(scale_run(), program=73, extra_tracks=[(33, False, bass), (0, True, drums)])
    clip = midi_to_clip(midi)
    assert clip.program == 73
    assert min(p for p, _, _ in clip.notes()) >= 62


def named_tracks_midi(tracks: list[tuple[str, int, bool, list[tuple[int, float, float]]]]) -> bytes:
    """MIDI bytes with named tracks (name, program, is_drum, notes in quarters) at 120 bpm."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for name, program, is_drum, notes in tracks:
        instrument = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
        for pitch, start_q, end_q in notes:
            instrument.notes.append(pretty_midi.Note(90, pitch, start_q * 0.5, end_q * 0.5))
        midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


BASS = [(36 + (i % 3) * 2, i * 1.0, i * 1.0 + 0.9) for i in range(8)]
DRUMS = [(42, i * 0.5, i * 0.5 + 0.1) for i in range(16)]
# A countermelody high above the tune that plays only in the first bar.
DESCANT = [(88, 0.0, 1.0), (86, 1.0, 2.0)]


def test_multi_track_input_says_which_track_was_taken_and_what_was_left() -> None:
    midi = named_tracks_midi([("Descant", 72, False, DESCANT), ("Bass", 33, False, BASS),
                              ("Tune", 73, False, scale_run()), ("Kit", 0, True, DRUMS)])
    read = read_clip(midi)
    assert read.track_index == 2 and read.clip.program == 73  # not the highest track: it plays in one bar
    (notice,) = [n for n in read.notices if n.code == "track_taken"]
    assert "2 'Tune'" in notice.message
    assert all(label in notice.message for label in ("0 'Descant'", "1 'Bass'", "3 'Kit'"))


def test_an_arrangement_with_drums_is_told_there_is_no_trio_model() -> None:
    """There is no trio (melody + bass + drums) model: a trio is read as its one line, and says so."""
    trio = named_tracks_midi([("Tune", 73, False, scale_run()), ("Bass", 33, False, BASS), ("Kit", 0, True, DRUMS)])
    read = read_clip(trio)
    assert [n.code for n in read.notices] == ["track_taken", "no_trio_model"]
    assert "no multi-track (trio" in read.notices[1].message
    duo = named_tracks_midi([("Tune", 73, False, scale_run()), ("Bass", 33, False, BASS)])
    assert [n.code for n in read_clip(duo).notices] == ["track_taken"]


def test_a_track_named_like_a_melody_is_taken_and_a_named_track_is_honoured() -> None:
    midi = named_tracks_midi([("Piano", 0, False, scale_run(tonic=74)), ("Melody", 73, False, scale_run(tonic=60)),
                              ("Bass", 33, False, BASS)])
    assert read_clip(midi).track_index == 1
    by_name = read_clip(midi, track="bass")
    assert by_name.track_index == 2 and max(p for p, _, _ in by_name.clip.notes()) < 48
    assert "named in the request" in by_name.notices[0].message
    assert read_clip(midi, track=0).track_index == 0 and read_clip(midi, track="0").track_index == 0
    with pytest.raises(InvalidInput, match="no track named 'Vocals'.*0 'Piano'"):
        read_clip(midi, track="Vocals")
    with pytest.raises(InvalidInput, match="track 7 does not exist"):
        read_clip(midi, track=7)
    with pytest.raises(InvalidInput, match="drums"):
        read_clip(named_tracks_midi([("Tune", 73, False, scale_run()), ("Kit", 0, True, DRUMS)]), track="Kit")


def test_a_single_line_gets_no_notice_and_keeps_its_register() -> None:
    read = read_clip(melody_midi(BASS, program=33))
    assert read.notices == ()
    assert [p for p, _, _ in read.clip.notes()] == [p for p, _, _ in BASS]


def test_chords_are_reduced_with_a_notice() -> None:
    chords = [(p, bar * 2.0, bar * 2.0 + 2.0) for bar in range(4) for p in (60 + bar, 64 + bar, 67 + bar)]
    read = read_clip(melody_midi(chords, program=0))
    (notice,) = [n for n in read.notices if n.code == "chords_reduced"]
    assert "4 chords" in notice.message and "top note" in notice.message
    assert [p for p, _, _ in read.clip.notes()] == [67, 68, 69, 70]
    low_chords = [(p - 24, s, e) for p, s, e in chords]  # a bass-register part keeps its lowest note
    assert [p for p, _, _ in read_clip(melody_midi(low_chords)).clip.notes()] == [36, 37, 38, 39]


def test_triplets_are_moved_to_the_grid_with_a_notice() -> None:
    triplets = [(60 + i, i / 3, (i + 1) / 3) for i in range(12)] + [(72, 4.0, 8.0)]
    read = read_clip(melody_midi(triplets))
    (notice,) = [n for n in read.notices if n.code == "off_grid_onsets"]
    assert notice.message.startswith("8 of 13 onsets")


def test_clip_length_is_whole_bars() -> None:
    clip = midi_to_clip(melody_midi([(60, 0.0, 1.0), (64, 1.0, 2.0)]))
    assert clip.num_bars == 1 and clip.num_steps == 16
    ringing = midi_to_clip(melody_midi([(60, 0.0, 1.0), (64, 1.0, 4.1)]))  # rings just past the bar line
    assert ringing.num_bars == 1


@pytest.mark.parametrize("data", [b"", b"not a midi file at all", b"MThd\x00\x00\x00\x06\x00\x01\x00"])
def test_corrupt_midi_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        midi_to_clip(data)


def test_a_clip_without_notes_or_with_only_drums_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="no pitched notes"):
        midi_to_clip(melody_midi([]))
    with pytest.raises(InvalidInput, match="no pitched notes"):
        midi_to_clip(melody_midi([], extra_tracks=[(0, True, [(36, 0.0, 0.5)])]))


def test_clips_over_the_bar_limit_exceed_it() -> None:
    assert midi_to_clip(melody_midi(scale_run(bars=5))).num_bars == 5
    with pytest.raises(LimitExceeded):
        midi_to_clip(melody_midi(scale_run(bars=5)), max_bars=4)


def test_unsupported_meters_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="time signature"):
        midi_to_clip(melody_midi(scale_run(), time_signature=(5, 1)))
