"""A requested density lands in its bin when counted from outside (pretty_midi on the written file):
sparse requests in short bars (3/4, 2/4) and dense requests for ensembles whose parts hold chords,
while the parts still play (the bass in every bar, every part in most bars unless sparse)."""

from __future__ import annotations

import io
from pathlib import Path

import pretty_midi
import pytest

from symbolic.attributes import DENSITY_EDGES_ONSETS_PER_QUARTER, Attributes, Key, bin_index, intensity_to_level
from symbolic.composer import Composer
from symbolic.decoding import Sampling

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.from_pretrained(SHIPPED)


def _judged(midi: bytes, bars: int, time_signature: tuple[int, int]) -> tuple[int, dict[int, float]]:
    """(density bin, fraction of bars with an onset per pitched program), read by pretty_midi: distinct
    pitched onsets on the sixteenth grid per quarter note, the bins of symbolic.attributes."""
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    quarter_s = 60.0 / float(pm.get_tempo_changes()[1][0])
    bar_q = time_signature[0] * 4.0 / time_signature[1]
    onsets = set()
    filled: dict[int, float] = {}
    for instrument in pm.instruments:
        if instrument.is_drum or not instrument.notes:
            continue
        onsets |= {int(round(note.start / quarter_s * 4)) for note in instrument.notes}
        bars_with = {int(note.start / quarter_s / bar_q + 1e-6) for note in instrument.notes}
        filled[instrument.program] = len([b for b in bars_with if b < bars]) / bars
    return bin_index(len(onsets) / (bars * bar_q), DENSITY_EDGES_ONSETS_PER_QUARTER), filled


@pytest.mark.parametrize("programs,time_signature,seed", [
    ([0, 32, -1], (3, 4), 1020),        # jazz trio in 3/4 (the held-out grid's miss: one bin denser)
    ([81, 89, 38, -1], (3, 4), 1040),   # saw lead, pad, synth bass, drums in 3/4
    ([21, 40, 32], (2, 4), 1160),       # tango in 2/4: under 1.5 onsets a bar
])
def test_a_sparse_request_in_short_bars_lands_in_the_sparse_bin(composer: Composer, programs, time_signature,
                                                                 seed) -> None:
    bars = 12
    result = composer.generate(Attributes(instruments=programs, key=Key(9, "minor"), time_signature=time_signature,
                                          tempo_bpm=100.0, bars=bars, rhythm_intensity=0.1), Sampling(seed=seed))
    level, filled = _judged(result.midi, bars, time_signature)
    assert level == intensity_to_level(0.1) == 0
    bass = next(program for program, role in result.requested.roles.items() if role == "bass")
    assert filled[bass] >= 0.9  # sparse, not silent: the bass still plays in (nearly) every bar


@pytest.mark.parametrize("programs,time_signature,intensity,seed", [
    ([4, 32, -1], (3, 4), 0.8, 1070),       # electric piano chords, bass, drums: was one onset a beat
    ([19, 24, 32, -1], (4, 4), 0.95, 1056),  # reggae: organ, guitar chords, bass, drums
    ([19, 52], (3, 4), 0.95, 1116),          # a hymn: organ and a choir holding chords
])
def test_a_dense_request_for_held_chords_lands_in_its_bin(composer: Composer, programs, time_signature, intensity,
                                                          seed) -> None:
    bars = 8
    result = composer.generate(Attributes(instruments=programs, key=Key(2, "major"), time_signature=time_signature,
                                          tempo_bpm=90.0, bars=bars, rhythm_intensity=intensity), Sampling(seed=seed))
    level, filled = _judged(result.midi, bars, time_signature)
    assert level == intensity_to_level(intensity)
    assert all(fraction >= 0.75 for fraction in filled.values()), filled
