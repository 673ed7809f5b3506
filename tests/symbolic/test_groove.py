"""Drumify: the drums follow the clip's rhythm (kicks on the bass line's onsets, nothing in silent
bars) and the rest of the file is unchanged."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from ostinato.errors import InvalidInput
from symbolic.attributes import DRUM_PROGRAM, NoteTable
from symbolic.drums import CLOSED_HAT, KICK, SNARE
from symbolic.groove import drumify
from symbolic.midi_io import table_to_midi
from tests.symbolic.test_long_files import notes_of, other_events


def bass_and_melody() -> bytes:
    """4 bars of 4/4 at 120 bpm: bass on beats 1 and 2.5 (a syncopated line), melody in eighths;
    bar 2 is silent."""
    onsets, pitches, programs = [], [], []
    for bar in (0, 1, 3):
        for beat in (0.0, 1.5):
            onsets.append(bar * 4 + beat), pitches.append(40), programs.append(33)
        for eighth in range(8):
            onsets.append(bar * 4 + eighth * 0.5), pitches.append(72 + eighth % 3), programs.append(73)
    count = len(onsets)
    table = NoteTable(np.array(onsets, dtype=float), np.full(count, 0.5), np.array(pitches), np.array(programs),
                      np.full(count, 80))
    return table_to_midi(table, (4, 4), 120.0, bars=4)


def test_drums_follow_the_clips_rhythm_and_leave_the_rest_alone() -> None:
    original = bass_and_melody()
    result = drumify(original, style="rock")
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(result))
    drums = [i for i in parsed.instruments if i.is_drum]
    assert len(drums) == 1
    kicks = sorted(round(n.start / 0.5, 3) for n in drums[0].notes if n.pitch == KICK)  # in beats
    bass_onsets = [bar * 4 + beat for bar in (0, 1, 3) for beat in (0.0, 1.5)]
    assert set(bass_onsets) <= set(kicks)  # the kick doubles the bass line, syncopation included
    starts_in_beats = [n.start / 0.5 for n in drums[0].notes]
    assert not any(8 <= s < 12 for s in starts_in_beats)  # the silent bar stays silent
    snares = sorted(round(n.start / 0.5, 3) for n in drums[0].notes if n.pitch == SNARE)
    assert {1.0, 3.0, 5.0, 7.0} <= set(snares)  # the rock backbeat
    assert any(n.pitch == CLOSED_HAT for n in drums[0].notes)
    pitched = [n for n in notes_of(result) if n[6] != DRUM_PROGRAM]
    assert pitched == notes_of(original)
    assert other_events(result)[: len(other_events(original))][0] == other_events(original)[0]


def test_a_clip_without_pitched_notes_is_refused() -> None:
    table = NoteTable(np.array([0.0]), np.array([0.25]), np.array([36]), np.array([DRUM_PROGRAM]))
    with pytest.raises(InvalidInput, match="no pitched notes"):
        drumify(table_to_midi(table, (4, 4), 120.0))
