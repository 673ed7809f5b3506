"""The tonal centre: listeners' key profiles, the lean toward the requested key, and clips over chord loops
that do not start or end on the tonic still heard in the requested key by music21."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symbolic.attributes import Attributes, Key
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.tonality import TonalCentre, heard_key
from tests.symbolic.test_continue_harmony import music21_key

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"
C, D, E, F, G, A, B = 0, 2, 4, 5, 7, 9, 11


def histogram(weights: dict[int, float]) -> np.ndarray:
    values = np.zeros(12)
    for pitch_class, weight in weights.items():
        values[pitch_class] = weight
    return values


def test_listeners_hear_the_tonal_centre_not_only_the_scale() -> None:
    # the same seven pitch classes, centred on C (tonic triad long) or on A (A minor triad long, G# leading tone)
    assert heard_key(histogram({C: 4, D: 1, E: 3, F: 1, G: 3, A: 1, B: 1})) == Key(C, "major")
    assert heard_key(histogram({C: 3, D: 1, E: 3, F: 1, G: 0.2, 8: 1, A: 4, B: 1})) == Key(A, "minor")


def test_the_lean_separates_the_requested_key_from_the_rival_it_is_heard_as() -> None:
    centre = TonalCentre(Key(A, "minor"))
    for pitch_class, quarters in ((C, 4), (E, 3), (G, 3), (F, 1), (A, 1)):  # sounds like C major so far
        centre.hear(60 + pitch_class, quarters)
    lean = centre.lean()
    assert lean[A] > 0.5 and lean[A] > lean[C] and lean[A] > lean[G]
    assert lean[G] < 0  # the relative major's fifth is what makes it sound like C
    plain = TonalCentre(Key(A, "minor"))
    for pitch_class, quarters in ((A, 6), (C, 3), (E, 4), (B, 1), (D, 1), (8, 1)):
        plain.hear(48 + pitch_class, quarters)
    assert np.allclose(plain.lean(), 0.0)  # a key already plain to hear gets no lean
    assert np.allclose(TonalCentre(Key(D, "dorian")).lean(), 0.0)  # church modes: no profile, no lean


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.from_pretrained(SHIPPED)


@pytest.mark.parametrize("key, chords", [
    pytest.param(Key(A, "minor"), "Am F C G", marks=pytest.mark.xfail(strict=True, reason=(
        "known gap (#9): i VI III VII shares every tone with C major and ends on VII; music21 hears A minor "
        "in 1 of these 3 clips (C major, F major in the others)"))),
    (Key(D, "major"), "Bm G D A"),       # vi IV I V: starts on vi, ends on V
    (Key(E, "minor"), "Em Am D G"),      # i iv VII III: ends on the relative major's tonic
])
def test_loops_away_from_the_tonic_are_heard_in_the_requested_key(composer: Composer, key: Key, chords: str) -> None:
    heard = [music21_key(composer.generate(Attributes(instruments=[0, 33, -1], key=key, chords=chords, bars=8,
                                                      time_signature=(4, 4), tempo_bpm=100.0),
                                           Sampling(seed=seed)).midi) for seed in (1, 2, 3)]
    assert heard.count((key.tonic_pitch_class, key.mode)) >= 2, heard
