"""Continue and infill follow chords and roles: a continuation given chords sounds their roots and thirds,
a continuation into a new key is heard in it by music21, an infill keeps the harmony of the bars it
replaces (judged on the MIDI bytes with pretty_midi and music21)."""

from __future__ import annotations

import io
from pathlib import Path

import music21
import numpy as np
import pretty_midi
import pytest

from symbolic.attributes import DRUM_PROGRAM, Key, NoteTable
from symbolic.chords import parse_chord
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.editing import SectionChange
from symbolic.midi_io import table_to_midi
from tests.symbolic.test_sections import primer_in_d

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.from_pretrained(SHIPPED)


def chord_beats_followed(midi: bytes, symbols: list[str], first_bar: int = 0) -> float:
    """Share of quarter-note beats (4/4) of bars first_bar.. where the chord's root and third both sound."""
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    quarter_s = 60.0 / pm.get_tempo_changes()[1][0]
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    followed = judged = 0
    for index, symbol in enumerate(symbols):
        chord = parse_chord(symbol)
        for beat in range(4):
            low = ((first_bar + index) * 4 + beat) * quarter_s
            high = low + quarter_s
            sounding = {n.pitch % 12 for n in notes if n.start < high - 1e-6 and n.end > low + 1e-6}
            judged += 1
            followed += int(chord.root_pitch_class in sounding and chord.third_pitch_class in sounding)
    return followed / judged


def music21_key(midi: bytes) -> tuple[int, str]:
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    pm.instruments = [inst for inst in pm.instruments if not inst.is_drum]
    buffer = io.BytesIO()
    pm.write(buffer)
    key = music21.converter.parse(buffer.getvalue(), format="midi").analyze("key")
    return key.tonic.pitchClass, key.mode


def band_in_c(symbols: tuple[str, ...] = ("C", "Am", "F", "G") * 2) -> bytes:
    """Piano chords held through each bar, a bass on the roots (twice a bar) and drums, 4/4 at 96 bpm."""
    onsets, durations, pitches, programs = [], [], [], []
    for bar, symbol in enumerate(symbols):
        chord = parse_chord(symbol)
        for pc in sorted(chord.triad_pitch_classes()):
            onsets.append(bar * 4.0)
            durations.append(4.0)
            pitches.append(60 + pc)
            programs.append(0)
        onsets += [bar * 4.0, bar * 4.0 + 2.0]
        durations += [2.0, 2.0]
        pitches += [36 + chord.root_pitch_class] * 2
        programs += [33, 33]
        onsets += [bar * 4.0 + beat for beat in range(4)]
        durations += [0.25] * 4
        pitches += [36, 42, 38, 42]
        programs += [DRUM_PROGRAM] * 4
    table = NoteTable(np.array(onsets), np.array(durations), np.array(pitches), np.array(programs),
                      np.full(len(onsets), 90))
    return table_to_midi(table, (4, 4), 96.0, bars=len(symbols), key=Key(0, "major"))


def test_a_continuation_given_chords_sounds_their_roots_and_thirds(composer: Composer) -> None:
    symbols = ["F", "G", "Em", "Am"]
    primer = band_in_c()
    result = composer.continue_clip(primer, 8, Sampling(seed=3), continuation_only=True,
                                    change=SectionChange(chords=" ".join(symbols)))
    assert result.notes["chords"] == symbols * 2
    assert result.notes["roles"] == {"0": "chords", "33": "bass", "-1": "drums"}
    assert chord_beats_followed(result.midi, symbols * 2) >= 0.75
    # the bass strikes each bar's root on the downbeat
    pm = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    bass = next(inst for inst in pm.instruments if inst.program == 33)
    bar_s = 4 * 60.0 / 96.0
    roots = [parse_chord(symbols[bar % 4]).root_pitch_class for bar in range(8)]
    on_root = [any(abs(n.start - bar * bar_s) < 1e-3 and n.pitch % 12 == roots[bar] for n in bass.notes)
               for bar in range(8)]
    assert sum(on_root) >= 7


@pytest.mark.parametrize("tonic, mode", [(9, "minor"), (5, "major"), (11, "minor")])
def test_a_continuation_into_a_new_key_is_heard_in_it(composer: Composer, tonic: int, mode: str) -> None:
    result = composer.continue_clip(primer_in_d(), 8, Sampling(seed=5), continuation_only=True,
                                    change=SectionChange(key=Key(tonic, mode)))
    sampled = result.notes["chords"]
    assert len(sampled) == 8 and parse_chord(sampled[-1]).root_pitch_class == tonic  # closes on the new tonic
    assert music21_key(result.midi) == (tonic, mode)


def test_a_continuation_in_a_new_key_follows_given_roman_numerals(composer: Composer) -> None:
    result = composer.continue_clip(band_in_c(), 4, Sampling(seed=7), continuation_only=True,
                                    change=SectionChange(key=Key(7, "major"), chords="I IV V I"))
    assert result.notes["chords"] == ["G", "C", "D", "G"]
    assert chord_beats_followed(result.midi, ["G", "C", "D", "G"]) >= 0.75


def test_an_infill_keeps_the_harmony_of_the_bars_it_replaces(composer: Composer) -> None:
    symbols = ["C", "Am", "F", "G"] * 2
    midi = band_in_c()
    piano_track = 0  # tracks with notes, in file order: piano, bass, drums
    result = composer.infill(midi, [2, 3, 4, 5], tracks=[piano_track], sampling=Sampling(seed=11))
    pm = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    piano = next(inst for inst in pm.instruments if inst.program == 0)
    bar_s = 4 * 60.0 / 96.0
    assert any(2 * bar_s - 1e-3 <= n.start < 6 * bar_s for n in piano.notes)
    # the regenerated piano alone sounds each bar's root and third on most beats
    only_piano = pretty_midi.PrettyMIDI(initial_tempo=96.0)
    only_piano.instruments = [piano]
    buffer = io.BytesIO()
    only_piano.write(buffer)
    assert chord_beats_followed(buffer.getvalue(), symbols[2:6], first_bar=2) >= 0.75
