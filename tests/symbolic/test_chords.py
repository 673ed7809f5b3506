"""Chord progressions: symbols and Roman numerals parse to the right pitch classes, bad input is named,
the POP909 chord model writes progressions that close on the tonic, and a clip's chords read back."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from ostinato.errors import InvalidInput
from symbolic.attributes import Key, NoteTable
from symbolic.chords import (
    CHORD_MODEL_FILE,
    ChordModel,
    key_of_progression,
    parse_chord,
    parse_progression,
    progression_from_table,
    progression_text,
)

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"


def test_symbols_and_roman_numerals_name_the_same_chords() -> None:
    c_major = Key(0, "major")
    absolute = parse_progression("C G Am F", None, 4)
    roman = parse_progression("I V vi IV", c_major, 4)
    assert absolute == roman
    assert [sorted(chord.pitch_classes()) for chord in absolute] == [[0, 4, 7], [2, 7, 11], [0, 4, 9], [0, 5, 9]]
    assert parse_chord("F#m7").pitch_classes() == frozenset({6, 9, 1, 4})
    assert parse_chord("G7/B").bass == 11 and parse_chord("G7/B").root_pitch_class == 7
    assert parse_chord("Bbmaj7").pitch_classes() == frozenset({10, 2, 5, 9})
    assert parse_chord("Dsus4").pitch_classes() == frozenset({2, 7, 9})
    assert parse_chord("bVII", Key(7, "mixolydian")).root_pitch_class == 5  # F in G mixolydian
    assert parse_chord("V", Key(9, "minor")).third_pitch_class == 8  # E major in A minor: the raised 7th
    assert parse_chord("viio", c_major).pitch_classes() == frozenset({11, 2, 5})


def test_a_short_progression_repeats_and_separators_are_free() -> None:
    chords = parse_progression("Am | F, C  G", None, 8)
    assert progression_text(chords) == "Am F C G Am F C G"


def test_bad_progressions_are_named() -> None:
    with pytest.raises(InvalidInput, match=r"chord 3 'Hm7'"):
        parse_progression("C G Hm7 F", None, 8)
    with pytest.raises(InvalidInput, match="5 chords were given for 4 bars"):
        parse_progression("C G Am F C", None, 4)
    with pytest.raises(InvalidInput, match="Roman numeral"):
        parse_progression("I IV V", None, 4)
    with pytest.raises(InvalidInput, match="empty"):
        parse_progression(" , ", None, 4)


def test_a_progression_without_a_key_sets_its_key() -> None:
    assert key_of_progression(parse_progression("C F G C", None, 4)) == Key(0, "major")
    assert key_of_progression(parse_progression("Am Dm E Am", None, 4)) == Key(9, "minor")


def test_chords_are_read_back_from_a_clip() -> None:
    # bar 0: C major triad over a C bass; bar 1: A minor; bar 2: G major with a melody passing tone
    onset = [0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 9]
    pitch = [48, 60, 64, 67, 45, 60, 64, 69, 43, 59, 62, 67, 69]
    duration = [4] * 12 + [0.5]
    table = NoteTable(np.array(onset, float), np.array(duration, float), np.array(pitch), np.zeros(13, int))
    assert progression_text(progression_from_table(table, (4, 4), 4)) == "C Am G N"


def test_the_shipped_chord_model_writes_key_closing_progressions() -> None:
    model = ChordModel.load(SHIPPED / CHORD_MODEL_FILE)
    assert model.meta["training_songs"] > 700 and len(model.meta["held_out_songs"]) > 80
    rng = random.Random(3)
    for key in (Key(0, "major"), Key(9, "minor"), Key(2, "dorian"), Key(7, "mixolydian")):
        for bars in (1, 4, 8):
            chords = model.sample(key, bars, rng)
            assert len(chords) == bars
            assert chords[-1].root_pitch_class == key.tonic_pitch_class  # the progression closes at home
            scale = key.scale_pitch_classes()
            for chord in chords:
                tones = chord.pitch_classes()
                # diatonic, except the major dominant of a minor key (its raised 7th)
                assert tones <= scale or (key.mode == "minor" and chord.root_pitch_class == (key.tonic_pitch_class + 7) % 12)
    cadences = [model.sample(Key(0, "major"), 8, rng)[-2].symbol() for _ in range(40)]
    assert cadences.count("G") >= 10  # V-I is the commonest close
