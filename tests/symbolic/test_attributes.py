"""The one extractor: key finding, measures and bins on music built in code."""

from __future__ import annotations

import numpy as np

from symbolic.attributes import (
    DRUM_PROGRAM,
    Key,
    NoteTable,
    extract,
    find_key,
    key_membership,
    onset_density,
    polyphony,
    range_level,
    tempo_level,
)
from tests.symbolic.helpers import scale_tune

DORIAN_STEPS = (0, 2, 3, 5, 7, 9, 10)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)


def test_key_of_major_and_minor_tunes() -> None:
    for tonic in (60, 62, 67, 65):
        tune = scale_tune(tonic, bars=8, seed=tonic)
        assert find_key(tune.pitch, tune.duration_q, int(tune.pitch[-1])) == Key(tonic % 12, "major")
    tune = scale_tune(57, MINOR_STEPS, bars=8, seed=3)
    assert find_key(tune.pitch, tune.duration_q, int(tune.pitch[-1])) == Key(9, "minor")


def test_key_membership_and_transposition() -> None:
    tune = scale_tune(62, bars=4)
    assert key_membership(tune.pitch, Key(2, "major")) == 1.0
    assert key_membership(tune.pitch, Key(3, "major")) <= 0.5
    assert Key(2, "dorian").scale_pitch_classes() == Key(0, "major").scale_pitch_classes()
    assert Key(2, "major").transposed(3) == Key(5, "major")


def test_each_mode_names_the_degree_that_tells_it_from_its_neighbour() -> None:
    assert Key(7, "mixolydian").colour_pitch_classes() == {5}  # F: G mixolydian's flat 7th
    assert Key(7, "major").colour_pitch_classes() == {6}  # F#
    assert Key(4, "dorian").colour_pitch_classes() == {1}  # C#: E dorian's major 6th
    assert Key(9, "minor").colour_pitch_classes() == {5}  # F: A minor's flat 6th
    for mode in ("major", "minor", "dorian", "mixolydian", "lydian", "phrygian", "locrian"):
        key = Key(2, mode)
        assert key.colour_pitch_classes() <= key.scale_pitch_classes()


def test_extract_measures_a_clip() -> None:
    melody = scale_tune(62, bars=4, notes_per_bar=8, program=40)
    drums = NoteTable(np.arange(16) * 1.0, np.full(16, 0.25), np.full(16, 36), np.full(16, DRUM_PROGRAM))
    table = NoteTable(np.concatenate([melody.onset_q, drums.onset_q]), np.concatenate([melody.duration_q, drums.duration_q]),
                      np.concatenate([melody.pitch, drums.pitch]), np.concatenate([melody.program, drums.program]))
    attributes = extract(table, (4, 4), 132.0, style="reel")
    assert attributes.instruments == [40, DRUM_PROGRAM]
    assert attributes.bars == 4
    assert attributes.time_signature == (4, 4)
    assert attributes.tempo_bpm == 132.0
    assert attributes.duration_s == 4 * 4 * 60 / 132.0
    assert attributes.key == Key(2, "major")
    assert attributes.notes_per_bar == 8  # drums are not counted
    assert attributes.polyphony == 1.0
    assert attributes.extra["onsets_per_quarter"] == 2.0


def test_density_polyphony_and_bins() -> None:
    chord = NoteTable(np.zeros(3), np.full(3, 4.0), np.array([60, 64, 67]), np.zeros(3, dtype=int))
    assert polyphony(chord) == 3.0
    assert onset_density(chord, 1, (4, 4)) == 0.25
    assert range_level(0.5) == 0 and range_level(2.2) == 3
    assert tempo_level(59) == 0 and tempo_level(121) == 6
